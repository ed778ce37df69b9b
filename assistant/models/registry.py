"""Versioned model folders on disk.

Layout under ``<data_dir>/models``::

    <plugin>/<model>/versions/v0001/   manifest.json, weights, tokenizer, README.md
    <plugin>/<model>/versions/v0002/
    <plugin>/<model>/ACTIVE            {"version": "v0002", "history": ["v0001", "v0002"]}

A version folder is written under a temporary name and renamed into place when
complete, so an interrupted run never leaves a half-written version. ``ACTIVE`` is
replaced atomically (write + ``os.replace``), so a reader sees the old or the new
version, never a mix. Loaded models watch ``ACTIVE``'s content: a running assistant
picks up a newly activated version on its next turn (see ``ActiveModel``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError, ModelCorruptedError, ModelNotFoundError

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("assistant", "torch", "transformers", "sentence-transformers"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


@dataclass
class Manifest:
    """What a saved model is; enough to load it back with no other arguments."""

    plugin: str
    model: str
    task: str
    base_model: str
    labels: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    primary_metric: str = "accuracy"
    #: Temperature for the logits and the abstain threshold on calibrated confidence.
    calibration: dict[str, float] = field(default_factory=dict)
    #: Hyper-parameters and data the version was trained with.
    training: dict[str, Any] = field(default_factory=dict)
    quantized: bool = False
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    libraries: dict[str, str] = field(default_factory=library_versions)
    format: int = MANIFEST_FORMAT

    def save(self, folder: Path) -> None:
        _atomic_write_json(folder / MANIFEST, asdict(self))

    @classmethod
    def load(cls, folder: Path, plugin: str = "?") -> "Manifest":
        path = Path(folder) / MANIFEST
        if not path.exists():
            raise ModelCorruptedError(plugin, str(folder), f"{MANIFEST} is missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format", 0) > MANIFEST_FORMAT:
                raise ModelCorruptedError(
                    plugin, str(folder), f"manifest format {data['format']} is newer than this version supports; upgrade `assistant`"
                )
            return cls(**data)
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
            raise ModelCorruptedError(plugin, str(folder), f"{MANIFEST} is not a valid manifest: {exc}") from exc

    @property
    def primary_score(self) -> float | None:
        value = self.metrics.get(self.primary_metric)
        return float(value) if isinstance(value, (int, float)) else None


def _atomic_write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class ModelVersion:
    plugin: str
    model: str
    version: str
    path: Path

    def manifest(self) -> Manifest:
        return Manifest.load(self.path, self.plugin)


class ModelRegistry:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _model_dir(self, plugin: str, model: str) -> Path:
        return self.root / plugin / model

    def versions(self, plugin: str, model: str) -> list[ModelVersion]:
        folder = self._model_dir(plugin, model) / "versions"
        if not folder.is_dir():
            return []
        return [
            ModelVersion(plugin, model, path.name, path)
            for path in sorted(folder.iterdir())
            if path.is_dir() and path.name.startswith("v") and path.name[1:].isdigit()
        ]

    def _read_active(self, plugin: str, model: str) -> dict:
        path = self._model_dir(plugin, model) / "ACTIVE"
        if not path.exists():
            return {"version": None, "history": []}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ModelCorruptedError(plugin, str(path), f"ACTIVE pointer is not valid JSON: {exc}") from exc

    def active_name(self, plugin: str, model: str) -> str | None:
        return self._read_active(plugin, model).get("version")

    def active(self, plugin: str, model: str) -> ModelVersion:
        """The active version; raises ModelNotFoundError (naming the fix) when there is none."""
        name = self.active_name(plugin, model)
        if name is None:
            raise ModelNotFoundError(plugin, model, str(self._model_dir(plugin, model)))
        path = self._model_dir(plugin, model) / "versions" / name
        if not path.is_dir():
            raise ModelCorruptedError(plugin, str(path), "the active version's folder is missing")
        version = ModelVersion(plugin, model, name, path)
        version.manifest()  # validate now so a broken folder fails with a clear message
        return version

    def new_version_dir(self, plugin: str, model: str) -> Path:
        """A fresh temporary folder to write a version into; pass it to ``commit``."""
        folder = self._model_dir(plugin, model) / "versions"
        folder.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=folder, prefix=".incoming-"))

    def commit(self, plugin: str, model: str, staging: Path) -> ModelVersion:
        """Rename a completed staging folder to the next version number (does not activate)."""
        Manifest.load(staging, plugin)  # refuse to publish a folder without a valid manifest
        existing = [int(v.version[1:]) for v in self.versions(plugin, model)]
        name = f"v{(max(existing) + 1 if existing else 1):04d}"
        target = staging.parent / name
        os.replace(staging, target)
        return ModelVersion(plugin, model, name, target)

    def activate(self, plugin: str, model: str, version: str) -> ModelVersion:
        path = self._model_dir(plugin, model) / "versions" / version
        if not path.is_dir():
            known = ", ".join(v.version for v in self.versions(plugin, model)) or "none"
            raise AssistantError(
                f"'{plugin}/{model}' has no version {version} (known: {known}). See `assistant models list --plugin {plugin}`."
            )
        Manifest.load(path, plugin)
        state = self._read_active(plugin, model)
        history = [v for v in state.get("history", []) if v != version] + [version]
        _atomic_write_json(self._model_dir(plugin, model) / "ACTIVE", {"version": version, "history": history})
        return ModelVersion(plugin, model, version, path)

    def rollback(self, plugin: str, model: str) -> ModelVersion:
        """Re-activate the version that was active before the current one."""
        state = self._read_active(plugin, model)
        history = [v for v in state.get("history", []) if (self._model_dir(plugin, model) / "versions" / v).is_dir()]
        if len(history) < 2:
            raise AssistantError(
                f"'{plugin}/{model}' has no earlier active version to roll back to. "
                f"Use `assistant models list --plugin {plugin}` and `assistant models activate`."
            )
        previous, current = history[-2], history[-1]
        new_history = history[:-2] + [current, previous]
        _atomic_write_json(self._model_dir(plugin, model) / "ACTIVE", {"version": previous, "history": new_history})
        return ModelVersion(plugin, model, previous, self._model_dir(plugin, model) / "versions" / previous)

    def delete(self, plugin: str, model: str, version: str) -> None:
        if self.active_name(plugin, model) == version:
            raise AssistantError(f"{version} of '{plugin}/{model}' is active; activate another version first.")
        shutil.rmtree(self._model_dir(plugin, model) / "versions" / version)

    def status(self, plugin: str, model: str) -> str:
        """A one-line human status for `assistant plugins`."""
        try:
            version = self.active(plugin, model)
        except ModelNotFoundError:
            return "not trained"
        except AssistantError as exc:
            return f"broken ({exc.__class__.__name__})"
        score = version.manifest().primary_score
        metric = version.manifest().primary_metric
        return f"{version.version}" + (f" ({metric}={score:.3f})" if score is not None else "")


class ActiveModel:
    """The active version of one model, loaded lazily and reloaded when ``ACTIVE`` changes.

    ``loader(version_path)`` builds the in-memory model. ``get()`` re-reads the small
    ``ACTIVE`` file each call, so activating or rolling back a version takes effect on the
    next turn of a running assistant without a restart.
    """

    def __init__(self, registry: ModelRegistry, plugin: str, model: str, loader):
        self.registry = registry
        self.plugin = plugin
        self.model = model
        self.loader = loader
        self._version: str | None = None
        self._loaded: Any = None

    def get(self) -> Any:
        version = self.registry.active(self.plugin, self.model)
        if version.version != self._version:
            self._loaded = self.loader(version.path)
            self._version = version.version
        return self._loaded

    @property
    def version(self) -> str | None:
        return self._version
