"""The models tab's views and actions over a real registry with hand-made versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.contract import ModelSpec, PluginContext
from assistant.engine import DialogEngine
from assistant.errors import AssistantError
from assistant.models.registry import Manifest, ModelRegistry
from tests.ui.showcase_plugin import ShowcasePlugin
from ui.models_tab import activate_version, model_rows, rollback_version, version_rows


class TrainablePlugin(ShowcasePlugin):
    def model_specs(self):
        return [
            ModelSpec(name="intent", task="sequence-classification", data=Path("intents.csv")),
            ModelSpec(name="qa", task="extractive-qa", data=Path("qa.json"), primary_metric="f1"),
        ]


def add_version(registry: ModelRegistry, accuracy: float) -> str:
    staging = registry.new_version_dir("showcase", "intent")
    Manifest(plugin="showcase", model="intent", task="sequence-classification", base_model="tiny", metrics={"accuracy": accuracy}).save(staging)
    return registry.commit("showcase", "intent", staging).version


@pytest.fixture
def engine(settings):
    context = PluginContext(settings=settings, models=ModelRegistry(settings.models_dir))
    return DialogEngine(settings, plugins={"showcase": TrainablePlugin(context)})


def test_rows_show_untrained_models(engine):
    assert model_rows(engine, "showcase") == [
        ["intent", "sequence-classification", "not trained", "-", ""],
        ["qa", "extractive-qa", "not trained", "-", ""],
    ]


def test_rows_show_active_version_and_its_metrics(engine):
    registry = engine.context.models
    registry.activate("showcase", "intent", add_version(registry, 0.8))
    add_version(registry, 0.9)
    [intent, _] = model_rows(engine, "showcase")
    assert intent[2] == "v0001" and intent[3] == "v0001, v0002" and intent[4] == "accuracy=0.800"
    rows = version_rows(engine, "showcase", "intent")
    assert [r[0] for r in rows] == ["v0002", "v0001"]
    assert [r[1] for r in rows] == ["", "✔"]
    assert rows[0][3] == "accuracy=0.900"


def test_activate_then_roll_back(engine):
    registry = engine.context.models
    first, second = add_version(registry, 0.8), add_version(registry, 0.9)
    registry.activate("showcase", "intent", first)
    assert "v0002" in activate_version(engine, "showcase", "intent", second)
    assert registry.active_name("showcase", "intent") == second
    assert "v0001" in rollback_version(engine, "showcase", "intent")
    assert registry.active_name("showcase", "intent") == first


def test_rollback_without_history_explains_itself(engine):
    registry = engine.context.models
    registry.activate("showcase", "intent", add_version(registry, 0.8))
    with pytest.raises(AssistantError, match="no earlier active version"):
        rollback_version(engine, "showcase", "intent")
