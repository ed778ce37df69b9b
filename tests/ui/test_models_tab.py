"""The models tab's views and actions over a real registry with hand-made versions."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.contract import ModelSpec, PluginContext
from assistant.engine import DialogEngine
from assistant.errors import AssistantError
from assistant.models.registry import Manifest, ModelRegistry
from tests.assistant.training.tiny import FAST, make_plugin, write_intents_csv
from tests.ui.showcase_plugin import ShowcasePlugin
from ui.models_tab import FinetuneJob, activate_version, metrics_text, model_rows, progress_markdown, rollback_version, version_rows


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


def wait_until_done(job: FinetuneJob, seconds: float) -> None:
    """Poll like the tab's timer does."""
    deadline = time.monotonic() + seconds
    while job.running and time.monotonic() < deadline:
        time.sleep(0.2)


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


def test_finetune_job_trains_in_the_background_and_reports_progress(settings, tmp_path, tiny_bert_path):
    settings = replace(settings, base_model=tiny_bert_path)
    plugin = make_plugin(settings, [ModelSpec("intent", "sequence-classification", write_intents_csv(tmp_path / "i.csv"), defaults=FAST)])
    engine = DialogEngine(settings, plugins={"tiny": plugin})
    job = FinetuneJob()
    job.start(engine, "tiny", model=None, epochs=1)
    with pytest.raises(AssistantError, match="already running"):
        job.start(engine, "tiny")
    wait_until_done(job, 300)
    snapshot = job.snapshot()
    assert snapshot["status"] == "finished" and not snapshot["running"]
    assert any("intent · train" in line for line in snapshot["log"])
    assert snapshot["log"][-1].startswith("tiny/intent v0001: accuracy=")
    assert "finished" in progress_markdown(snapshot)
    assert model_rows(engine, "tiny")[0][2] == "v0001"


def test_finetune_job_reports_failures(settings, tmp_path, tiny_bert_path):
    broken = tmp_path / "broken.csv"
    broken.write_text("text,label\nonly one label,a\n", encoding="utf-8")
    settings = replace(settings, base_model=tiny_bert_path)
    plugin = make_plugin(settings, [ModelSpec("intent", "sequence-classification", broken, defaults=FAST)])
    job = FinetuneJob()
    job.start(DialogEngine(settings, plugins={"tiny": plugin}), "tiny")
    wait_until_done(job, 120)
    snapshot = job.snapshot()
    assert snapshot["status"] == "failed" and "broken.csv" in snapshot["log"][-1]


def test_metrics_list_the_primary_metric_first_and_only_scalars():
    manifest = Manifest(
        plugin="p", model="qa", task="extractive-qa", base_model="b", primary_metric="f1",
        metrics={"exact_match": 0.5, "f1": 0.625, "examples": 48, "per_label": {"a": 1.0}},
    )
    assert metrics_text(manifest) == "f1=0.625, exact_match=0.500, examples=48"
