"""Model versions: manifest round trip, atomic activation, rollback, clear errors."""

from __future__ import annotations

import json

import pytest

from assistant.errors import AssistantError, ModelCorruptedError, ModelNotFoundError
from assistant.models.registry import ActiveModel, Manifest, ModelRegistry


def publish(registry: ModelRegistry, accuracy: float):
    staging = registry.new_version_dir("shop", "intent")
    (staging / "weights.bin").write_bytes(b"\0" * 8)
    Manifest(
        plugin="shop",
        model="intent",
        task="sequence-classification",
        base_model="/models/minilm",
        labels=["a", "b"],
        metrics={"accuracy": accuracy},
        calibration={"temperature": 1.5, "abstain_threshold": 0.4},
    ).save(staging)
    return registry.commit("shop", "intent", staging)


def test_manifest_round_trip_loads_without_extra_arguments(tmp_path):
    registry = ModelRegistry(tmp_path)
    version = publish(registry, 0.9)
    loaded = Manifest.load(version.path)
    assert loaded.labels == ["a", "b"] and loaded.calibration["temperature"] == 1.5
    assert loaded.primary_score == pytest.approx(0.9)
    assert "transformers" in loaded.libraries and loaded.created
    assert version.version == "v0001" and not list(version.path.parent.glob(".incoming-*"))


def test_missing_model_error_names_the_finetune_command(tmp_path):
    with pytest.raises(ModelNotFoundError, match="assistant finetune --plugin shop"):
        ModelRegistry(tmp_path).active("shop", "intent")


def test_corrupted_manifest_gets_a_clear_error(tmp_path):
    registry = ModelRegistry(tmp_path)
    version = publish(registry, 0.9)
    registry.activate("shop", "intent", version.version)
    (version.path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelCorruptedError, match="assistant finetune --plugin shop"):
        registry.active("shop", "intent")


def test_manifest_from_a_newer_format_is_refused(tmp_path):
    registry = ModelRegistry(tmp_path)
    version = publish(registry, 0.9)
    data = json.loads((version.path / "manifest.json").read_text())
    (version.path / "manifest.json").write_text(json.dumps(data | {"format": 99}))
    with pytest.raises(ModelCorruptedError, match="newer"):
        Manifest.load(version.path)


def test_activate_and_rollback_switch_versions(tmp_path):
    registry = ModelRegistry(tmp_path)
    first, second = publish(registry, 0.8), publish(registry, 0.9)
    registry.activate("shop", "intent", first.version)
    registry.activate("shop", "intent", second.version)
    assert registry.active("shop", "intent").version == "v0002"
    assert registry.rollback("shop", "intent").version == "v0001"
    assert registry.active("shop", "intent").version == "v0001"
    with pytest.raises(AssistantError, match="no version v0009"):
        registry.activate("shop", "intent", "v0009")


def test_active_model_reloads_when_the_active_version_changes(tmp_path):
    registry = ModelRegistry(tmp_path)
    first, second = publish(registry, 0.8), publish(registry, 0.9)
    registry.activate("shop", "intent", first.version)
    loads = []
    active = ActiveModel(registry, "shop", "intent", lambda path: loads.append(path.name) or path.name)
    assert active.get() == "v0001" and active.get() == "v0001"
    registry.activate("shop", "intent", second.version)
    assert active.get() == "v0002"
    assert loads == ["v0001", "v0002"]
