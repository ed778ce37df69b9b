"""Fine-tuning a text / text-pair classifier with transformers' Trainer, then calibrating it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, DataCollatorWithPadding, TrainerCallback, set_seed

from assistant.errors import DataFormatError
from assistant.models.base import load_encoder, quiet_transformers
from assistant.models.classifier import PooledTextClassifier, TextClassifier, average_members, softmax
from assistant.models.embedding_member import EmbeddingMember
from assistant.models.registry import Manifest
from assistant.training import runner
from assistant.training.calibration import choose_threshold, fit_temperature
from assistant.training.config import TrainConfig
from assistant.training.data import LabelledText
from assistant.training.evaluation import evaluate_classifier, scalar_metrics


class FeatureDataset(torch.utils.data.Dataset):
    """Pre-tokenized examples; the collator pads each batch to its longest member."""

    def __init__(self, features: list[dict]):
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict:
        return self.features[index]


@dataclass
class TrainedModel:
    """A model fresh out of training: in memory, calibrated, with its manifest and full validation report."""

    predictor: object
    manifest: Manifest
    report: dict


def encode(tokenizer, examples: list[LabelledText], label_ids: dict[str, int], max_length: int) -> FeatureDataset:
    pairs = [e.text_pair or "" for e in examples] if any(e.text_pair for e in examples) else None
    encoded = tokenizer([e.text for e in examples], pairs, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded]
    return FeatureDataset(
        [{**{k: encoded[k][i] for k in keys}, "labels": label_ids[e.label]} for i, e in enumerate(examples)]
    )


def _argmax_metrics(prediction) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    predicted = np.asarray(logits).argmax(axis=-1)
    gold = np.asarray(prediction.label_ids)
    return {"accuracy": float(accuracy_score(gold, predicted)), "macro_f1": float(f1_score(gold, predicted, average="macro", zero_division=0))}


def train_classifier(
    train: list[LabelledText],
    validation: list[LabelledText],
    *,
    plugin: str,
    model_name: str,
    task: str,
    base_model: str,
    config: TrainConfig,
    primary_metric: str,
    run_dir: Path,
    resume: bool = True,
    on_progress: runner.Progress | None = None,
    extra_callbacks: list[TrainerCallback] | None = None,
) -> TrainedModel:
    """Fine-tune, keep the best epoch by ``primary_metric``, fit temperature and abstain threshold on validation.

    ``extra_callbacks`` join the Trainer's own (benchmarks use one to read every epoch's predictions)."""
    labels = sorted({e.label for e in train})
    label_ids = {label: i for i, label in enumerate(labels)}
    scored = [e for e in validation if e.label in label_ids]
    if not scored:
        raise DataFormatError("validation split", "no validation example has a label seen in training; add more examples per label")
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(base_model)
    set_seed(config.seed)
    encoder = load_encoder(base_model, attention_dropout=config.attention_dropout, hidden_dropout=config.hidden_dropout)
    runner.freeze_lowest_layers(encoder, config.freeze_layers, model_name)
    model = PooledTextClassifier(encoder, len(labels), config.pooling, label_smoothing=config.label_smoothing)
    train_set = encode(tokenizer, train, label_ids, config.max_length)
    steps_per_epoch = -(-len(train_set) // config.batch_size)
    trainer = runner.Trainer(
        model=model,
        args=runner.training_arguments(
            config, run_dir, primary_metric, label_names=["labels"], logging_steps=max(1, steps_per_epoch // 10)
        ),
        train_dataset=train_set,
        eval_dataset=encode(tokenizer, scored, label_ids, config.max_length),
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_argmax_metrics,
        callbacks=runner.callbacks(config, model_name, on_progress) + list(extra_callbacks or ()),
        head_lr_multiplier=config.head_lr_multiplier,
    )
    resumed_from = runner.train(trainer, run_dir, resume, config, runner.announce_plan(on_progress, model_name, config))
    manifest = Manifest(
        plugin=plugin,
        model=model_name,
        task=task,
        base_model=base_model,
        labels=labels,
        primary_metric=primary_metric,
        training=runner.training_record(
            config, trainer, resumed_from, train_examples=len(train), validation_examples=len(validation)
        ),
    )
    member = None
    if config.embedding_member:
        runner.emit(on_progress, model_name, "calibrate", 0, 1, "fitting the embedding member on the frozen base model")
        member = EmbeddingMember.fit(
            base_model, [e.text for e in train], [label_ids[e.label] for e in train], len(labels), config.max_length, config.seed
        )
        manifest.training["embedding_member_C"] = member.regularisation
    classifier = TextClassifier(trainer.model, tokenizer, manifest, run_dir, member)
    runner.emit(on_progress, model_name, "calibrate", 0, 1, "fitting temperature and abstain threshold on validation")
    report = calibrate_classifier(
        classifier, validation, config.out_of_scope_label, config.min_in_scope_accuracy, config.min_out_of_scope_recall
    )
    runner.emit(on_progress, model_name, "calibrate", 1, 1, f"temperature {manifest.calibration['temperature']:.3f}")
    return TrainedModel(classifier, manifest, report)


def calibrate_classifier(
    classifier: TextClassifier,
    validation: list[LabelledText],
    out_of_scope_label: str | None,
    min_in_scope_accuracy: float | None = None,
    min_out_of_scope_recall: float | None = None,
) -> dict:
    """Fit temperature on in-scope validation rows (and, with an embedding member, the ensemble's own
    temperature after averaging), then the abstain threshold on what the classifier will give; store them in the manifest."""
    index = {label: i for i, label in enumerate(classifier.labels)}
    texts = [e.text for e in validation]
    pairs = [e.text_pair or "" for e in validation] if any(e.text_pair for e in validation) else None
    logits = classifier.logits(texts, pairs, batch_size=64)
    oos = np.array([e.label == out_of_scope_label for e in validation], dtype=bool)
    known = np.array([e.label in index for e in validation], dtype=bool)
    targets = np.array([index.get(e.label, 0) for e in validation])
    temperature = fit_temperature(logits[known], targets[known])
    calibration = {"temperature": temperature}
    probs = softmax(logits, temperature)
    if classifier.member is not None:
        averaged = average_members(probs, classifier.member.probabilities(texts))
        calibration["ensemble_temperature"] = fit_temperature(np.log(averaged[known]), targets[known])
        probs = softmax(np.log(averaged), calibration["ensemble_temperature"])
    correct = (probs.argmax(axis=1) == targets) & known
    use = known | oos
    choice = choose_threshold(probs.max(axis=1)[use], correct[use], oos[use], min_in_scope_accuracy, min_out_of_scope_recall)
    classifier.manifest.calibration = {**calibration, "abstain_threshold": choice["abstain_threshold"]}
    report = evaluate_classifier(classifier, validation, out_of_scope_label)
    report["calibration"] = {**calibration, **choice}
    classifier.manifest.metrics = scalar_metrics(report)
    return report

