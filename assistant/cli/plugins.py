"""`assistant plugins`: what is installed, enabled, and whether its models are trained."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from assistant.cli.common import DataDirOption, console, user_errors
from assistant.config import Settings, load_settings
from assistant.contract import PluginContext
from assistant.discovery import discover, validate_model_specs
from assistant.errors import PluginValidationError
from assistant.models.registry import ModelRegistry


def plugin_table(settings: Settings) -> list[dict]:
    """One row per installed plugin: name, status, description and its models' status."""
    registry = ModelRegistry(settings.models_dir)
    context = PluginContext(settings=settings, models=registry)
    rows = []
    for name, info in discover(settings.disabled_plugins).items():
        row = {"name": name, "status": "enabled", "description": "", "models": {}}
        if not info.enabled:
            row["status"] = "disabled"
        elif info.error:
            row["status"] = f"invalid: {info.error}"
        else:
            row["description"] = info.plugin_class.description
            try:
                specs = info.plugin_class(context).model_specs()
                validate_model_specs(name, specs)
                row["models"] = {spec.name: registry.status(name, spec.name) for spec in specs}
            except PluginValidationError as exc:
                row["status"] = f"invalid: {exc}"
        rows.append(row)
    return rows


def plugins(data_dir: Optional[Path] = DataDirOption) -> None:
    """List installed plugins, whether they are enabled, and the status of their models."""
    with user_errors():
        rows = plugin_table(load_settings(data_dir))
        table = Table("plugin", "status", "models", "description")
        for row in rows:
            models = "\n".join(f"{m}: {s}" for m, s in row["models"].items()) or "-"
            table.add_row(row["name"], row["status"], models, row["description"])
        console.print(table)
        if not rows:
            console.print("No plugins installed. Plugins register under the 'assistant.plugins' entry-point group.")


def register(app: typer.Typer) -> None:
    app.command("plugins")(plugins)
