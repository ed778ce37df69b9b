"""A data dir whose customer_service models are really fine-tuned (briefly), once per test session."""

from __future__ import annotations

import pytest

from assistant.config import Settings, load_settings


@pytest.fixture(scope="session")
def customer_service_settings(tmp_path_factory) -> Settings:
    """customer_service trained from its bundled data with one epoch per model, documents ingested.

    One epoch is enough for the plugin to route shop questions and quote its help pages; the
    quality targets live in benchmarks/, not here.
    """
    from assistant.contract import PluginContext
    from assistant.models.registry import ModelRegistry
    from assistant.training import finetune_plugin
    from plugins.customer_service import CustomerServicePlugin

    settings = load_settings(tmp_path_factory.mktemp("ui-data"))
    plugin = CustomerServicePlugin(PluginContext(settings=settings, models=ModelRegistry(settings.models_dir)))
    finetune_plugin(plugin, settings, epochs=1)
    return settings
