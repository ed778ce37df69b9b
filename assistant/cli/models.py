"""`assistant models list|activate|rollback --plugin NAME`: see and switch model versions.

Switching rewrites the small ``ACTIVE`` file atomically; a running assistant loads the newly
active version on its next turn (``ActiveModel`` re-reads ``ACTIVE``), no restart needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from assistant.cli.common import DataDirOption, console, user_errors
from assistant.config import Settings, load_settings
from assistant.contract import PluginContext
from assistant.discovery import load_plugin
from assistant.errors import AssistantError
from assistant.models.registry import ModelRegistry, ModelVersion

models_app = typer.Typer(help="List, activate and roll back fine-tuned model versions.", no_args_is_help=True)

PluginOption = typer.Option(..., "--plugin", "-p", help="Plugin whose models to manage.")
ModelOption = typer.Option(None, "--model", "-m", help="Model name (needed when the plugin has several).")


def model_names(settings: Settings, plugin: str) -> list[str]:
    """The plugin's declared models plus any trained ones it no longer declares."""
    registry = ModelRegistry(settings.models_dir)
    declared = [s.name for s in load_plugin(plugin, PluginContext(settings=settings, models=registry)).model_specs()]
    folder = settings.models_dir / plugin
    trained = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    return declared + [name for name in trained if name not in declared]


def pick_model(settings: Settings, plugin: str, model: str | None) -> str:
    names = model_names(settings, plugin)
    if model is not None:
        if model not in names:
            raise AssistantError(f"Plugin '{plugin}' has no model '{model}'. Its models: {', '.join(names) or 'none'}.")
        return model
    if len(names) != 1:
        raise AssistantError(f"Plugin '{plugin}' has several models ({', '.join(names)}); choose one with --model.")
    return names[0]


def version_rows(settings: Settings, plugin: str, model: str | None = None) -> list[dict]:
    """One row per stored version: model, version, active, created, primary metric, quantized, base model."""
    registry = ModelRegistry(settings.models_dir)
    rows = []
    for name in [model] if model else model_names(settings, plugin):
        active = registry.active_name(plugin, name)
        for version in registry.versions(plugin, name):
            row = {"model": name, "version": version.version, "active": version.version == active}
            try:
                manifest = version.manifest()
                row.update(created=manifest.created, metric=manifest.primary_metric, score=manifest.primary_score,
                           quantized=manifest.quantized, base_model=manifest.base_model)
            except AssistantError as exc:
                row.update(error=str(exc))
            rows.append(row)
    return rows


def list_versions(plugin: str = PluginOption, model: Optional[str] = ModelOption, data_dir: Optional[Path] = DataDirOption) -> None:
    """Every stored version of the plugin's models; the active one is starred."""
    with user_errors():
        settings = load_settings(data_dir)
        rows = version_rows(settings, plugin, pick_model(settings, plugin, model) if model else None)
        table = Table("model", "version", "active", "created", "primary metric", "int8", "base model")
        for row in rows:
            score = row.get("score")
            table.add_row(
                row["model"],
                row["version"],
                "*" if row["active"] else "",
                row.get("created", "-"),
                f"{row['metric']} {score:.4f}" if score is not None else row.get("error", "-"),
                "yes" if row.get("quantized") else "",
                Path(row.get("base_model", "-")).name,
            )
        console.print(table)
        if not rows:
            console.print(f"No trained versions. Train with `assistant finetune --plugin {plugin}`.")


def _switched(verb: str, version: ModelVersion) -> None:
    manifest = version.manifest()
    score = manifest.primary_score
    metric = f" ({manifest.primary_metric} {score:.4f})" if score is not None else ""
    console.print(
        f"{verb} {version.plugin}/{version.model} {version.version}{metric}. "
        "A running assistant switches to it on its next turn.",
        highlight=False,
    )


def activate(
    plugin: str = PluginOption,
    version: str = typer.Option(..., "--version", "-v", help="Version to activate, e.g. v0002."),
    model: Optional[str] = ModelOption,
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """Make a stored version the active one (no metric gate: you chose it)."""
    with user_errors():
        settings = load_settings(data_dir)
        name = pick_model(settings, plugin, model)
        _switched("Activated", ModelRegistry(settings.models_dir).activate(plugin, name, version))


def rollback(plugin: str = PluginOption, model: Optional[str] = ModelOption, data_dir: Optional[Path] = DataDirOption) -> None:
    """Re-activate the version that was active before the current one."""
    with user_errors():
        settings = load_settings(data_dir)
        name = pick_model(settings, plugin, model)
        _switched("Rolled back to", ModelRegistry(settings.models_dir).rollback(plugin, name))


models_app.command("list")(list_versions)
models_app.command("activate")(activate)
models_app.command("rollback")(rollback)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
