"""Base-model resolution: explicit path, then settings, then the bundled MiniLM; clear errors otherwise."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.errors import BaseModelError
from assistant.models.base import resolve_base_model


def test_explicit_path_then_settings_then_bundled_model(settings, tiny_bert_path, minilm_path, tmp_path):
    assert resolve_base_model(tiny_bert_path, settings) == str(Path(tiny_bert_path).resolve())
    assert resolve_base_model(None, replace(settings, base_model=tiny_bert_path)) == str(Path(tiny_bert_path).resolve())
    assert resolve_base_model(None, settings) == str(Path(minilm_path).resolve())


def test_missing_or_incomplete_folders_are_refused_with_the_reason(settings, tiny_bert_path, tmp_path):
    with pytest.raises(BaseModelError, match="no such folder"):
        resolve_base_model(str(tmp_path / "nowhere"), settings)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BaseModelError, match="no config.json"):
        resolve_base_model(str(empty), settings)
    no_weights = tmp_path / "no-weights"
    shutil.copytree(tiny_bert_path, no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(BaseModelError, match="holds no weights") as caught:
        resolve_base_model(str(no_weights), settings)
    assert "--base-model" in str(caught.value)


def test_dropouts_are_replaced_only_when_set_and_keep_the_weights(tiny_bert_path):
    import torch
    from transformers import AutoModel

    from assistant.models.base import load_encoder, model_config

    assert model_config(tiny_bert_path).attention_probs_dropout_prob == 0.1  # BERT's default, as saved
    assert model_config(tiny_bert_path, 0.0).attention_probs_dropout_prob == 0.0
    assert model_config(tiny_bert_path, 0.0).hidden_dropout_prob == 0.1  # left alone when not set
    encoder = load_encoder(tiny_bert_path, attention_dropout=0.0, hidden_dropout=0.05)
    assert encoder.config.attention_probs_dropout_prob == 0.0
    assert encoder.config.hidden_dropout_prob == 0.05
    assert encoder.embeddings.dropout.p == 0.05  # the modules are built with it, not only the config
    reference = AutoModel.from_pretrained(tiny_bert_path, add_pooling_layer=False)
    for (name, weight), (_, expected) in zip(encoder.state_dict().items(), reference.state_dict().items()):
        assert torch.equal(weight, expected), name
