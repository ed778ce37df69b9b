"""The classifier head pools correctly, saves into a folder that loads back from its manifest alone,
applies its calibration, and survives int8 quantization."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from assistant.errors import ModelCorruptedError
from assistant.models.base import load_encoder
from assistant.models.classifier import PooledTextClassifier, TextClassifier, average_members, softmax
from assistant.models.registry import Manifest

LABELS = ["billing", "delivery", "returns"]


def saved_classifier(folder, base_path, calibration, pooling="mean") -> TextClassifier:
    torch.manual_seed(1)
    model = PooledTextClassifier(load_encoder(base_path), len(LABELS), pooling)
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    manifest = Manifest(plugin="shop", model="intent", task="sequence-classification", base_model=base_path,
                        labels=LABELS, calibration=calibration, training={"pooling": pooling, "max_length": 32})
    classifier = TextClassifier(model, tokenizer, manifest, folder)
    folder.mkdir()
    classifier.save_weights(folder)
    manifest.save(folder)
    return classifier


def test_mean_pooling_ignores_padding(tiny_bert_path):
    model = PooledTextClassifier(load_encoder(tiny_bert_path), 3).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_path)
    alone = tokenizer(["short"], return_tensors="pt")
    batch = tokenizer(["short", "a much longer sentence that forces padding"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        assert torch.allclose(model(**alone).logits[0], model(**batch).logits[0], atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_saved_classifier_loads_from_its_manifest_and_applies_calibration(tmp_path, tiny_bert_path, pooling):
    original = saved_classifier(tmp_path / "v", tiny_bert_path, {"temperature": 0.5, "abstain_threshold": 0.34}, pooling)
    loaded = TextClassifier.load(tmp_path / "v")
    texts = ["where is my parcel", "refund please", "my invoice is wrong", "hello"]
    raw = loaded.logits(texts)
    np.testing.assert_allclose(raw, original.logits(texts), atol=1e-5)
    predictions = loaded.predict(texts, batch_size=3)
    expected = softmax(raw, 0.5)
    for row, prediction in zip(expected, predictions):
        assert prediction.label == LABELS[int(row.argmax())]
        assert prediction.confidence == pytest.approx(float(row.max()), abs=1e-6)
        assert prediction.abstain == (prediction.confidence < 0.34)
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
    assert loaded.labels == LABELS and loaded.abstain_threshold == 0.34


def test_int8_copy_saves_loads_and_predicts_like_the_full_model(tmp_path, tiny_bert_path):
    full = saved_classifier(tmp_path / "full", tiny_bert_path, {"temperature": 1.0, "abstain_threshold": 0.0})
    quantized = full.quantized()
    (tmp_path / "int8").mkdir()
    quantized.save_weights(tmp_path / "int8")
    quantized.manifest.save(tmp_path / "int8")
    loaded = TextClassifier.load(tmp_path / "int8")
    assert loaded.manifest.quantized
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in loaded.model.modules())
    texts = ["where is my parcel", "refund please", "my invoice is wrong"]
    np.testing.assert_allclose(loaded.probabilities(texts), full.probabilities(texts), atol=0.05)
    assert [p.label for p in loaded.predict(texts)] == [p.label for p in quantized.predict(texts)]


def test_loading_the_wrong_kind_of_folder_fails_clearly(tmp_path, tiny_bert_path):
    folder = tmp_path / "qa"
    folder.mkdir()
    Manifest(plugin="shop", model="answers", task="extractive-qa", base_model=tiny_bert_path).save(folder)
    with pytest.raises(ModelCorruptedError, match="not a classifier"):
        TextClassifier.load(folder)
    saved_classifier(tmp_path / "broken", tiny_bert_path, {})
    (tmp_path / "broken" / "classification_head.safetensors").unlink()
    with pytest.raises(ModelCorruptedError, match="weights do not load"):
        TextClassifier.load(tmp_path / "broken")


def test_label_smoothing_is_applied_in_the_training_loss(tiny_bert_path):
    torch.manual_seed(0)
    model = PooledTextClassifier(load_encoder(tiny_bert_path), 3, label_smoothing=0.2).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_path)
    batch = tokenizer(["where is my parcel", "refund please"], padding=True, return_tensors="pt")
    labels = torch.tensor([1, 2])
    with torch.inference_mode():
        output = model(**batch, labels=labels)
    targets = torch.full((2, 3), 0.2 / 3)
    targets[torch.arange(2), labels] += 0.8
    expected = -(targets * torch.log_softmax(output.logits, dim=-1)).sum(dim=-1).mean()
    assert output.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert output.loss.item() != pytest.approx(torch.nn.functional.cross_entropy(output.logits, labels).item(), rel=1e-3)


def test_averaged_members_keep_the_mean_at_temperature_one_and_sharpen_below_it():
    fine_tuned = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1]])
    member = np.array([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]])
    assert np.allclose(average_members(fine_tuned, member), (fine_tuned + member) / 2)
    sharper = average_members(fine_tuned, member, 0.5)
    assert np.allclose(sharper.sum(axis=1), 1)
    assert (sharper.argmax(axis=1) == ((fine_tuned + member) / 2).argmax(axis=1)).all()
    assert (sharper.max(axis=1) > ((fine_tuned + member) / 2).max(axis=1)).all()
    assert np.isfinite(average_members(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]]), 0.5)).all()
