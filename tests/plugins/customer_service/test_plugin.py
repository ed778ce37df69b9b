"""The plugin as the engine sees it: discovery, declared models and data, and a clear error before training."""

from __future__ import annotations

import csv

import pytest

from assistant.contract import PluginContext
from assistant.conversations import load_conversations
from assistant.discovery import load_plugin
from assistant.errors import ModelNotFoundError
from assistant.models.registry import ModelRegistry
from plugins.customer_service import CustomerServicePlugin
from plugins.customer_service.templates import Templates
from plugins.customer_service.plugin import OUT_OF_SCOPE


@pytest.fixture
def plugin(settings):
    return load_plugin("customer_service", PluginContext(settings=settings, models=ModelRegistry(settings.models_dir)))


def test_discovered_through_the_entry_point(plugin):
    assert isinstance(plugin, CustomerServicePlugin)


def test_declared_models_and_sources_exist(plugin):
    specs = {spec.name: spec for spec in plugin.model_specs()}
    assert set(specs) == {"intent", "emotion", "qa"}
    assert specs["qa"].task == "extractive-qa" and specs["qa"].primary_metric == "f1"
    assert all(spec.data.is_file() for spec in specs.values())
    assert all(source.is_dir() and any(source.glob("*.md")) for source in plugin.knowledge_sources())


def test_every_intent_in_the_data_has_an_answer(plugin):
    """Each label the intent model can predict is a flow, a template, a handoff or a document intent with a page,
    or out_of_scope (treated as no intent)."""
    spec = next(s for s in plugin.model_specs() if s.name == "intent")
    with spec.data.open(encoding="utf-8") as handle:
        labels = {row["label"] for row in csv.DictReader(handle)}
    assert labels == set(plugin.intents) | {OUT_OF_SCOPE}
    labels.discard(OUT_OF_SCOPE)
    templates = Templates.load(spec.data.parent / "templates.json")
    handled = {"order_status", "cancel_order", "change_address", "human_agent", "complaint"} | set(templates.intents) | set(templates.documents)
    assert labels <= handled
    docs = plugin.knowledge_sources()[0]
    assert all((docs / d.document).is_file() for d in templates.documents.values())


def test_bundled_conversations_are_well_formed(plugin):
    conversations = load_conversations(plugin.conversations())
    assert len(conversations) >= 20


def test_untrained_plugin_names_the_fix(plugin):
    with pytest.raises(ModelNotFoundError, match="assistant finetune --plugin customer_service"):
        plugin.warm_up()
