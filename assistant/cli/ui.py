"""`assistant ui`: the README's first command. Fine-tunes the demo models that are missing
(with progress in the terminal), then opens the chat window."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from assistant.cli.common import open_engine, DataDirOption, console, user_errors
from assistant.config import load_settings
from assistant.engine import DialogEngine


def missing_models(engine: DialogEngine) -> dict[str, list[str]]:
    """Per enabled plugin, the models that have no active version yet."""
    registry = engine.context.models
    missing: dict[str, list[str]] = {}
    for name, plugin in engine.plugins.items():
        untrained = [spec.name for spec in plugin.model_specs() if registry.active_name(name, spec.name) is None]
        if untrained:
            missing[name] = untrained
    return missing


def train_missing_models(engine: DialogEngine) -> None:
    """Fine-tune every missing model with the plugin's defaults, one rich progress bar per stage.

    A plugin with nothing trained yet is fine-tuned whole, which also ingests its documents;
    otherwise only its missing models are trained.
    """
    from assistant.training import finetune_plugin
    from ui.models_tab import result_line

    missing = missing_models(engine)
    if not missing:
        return
    listed = "; ".join(f"{plugin}: {', '.join(models)}" for plugin, models in missing.items())
    console.print(f"Fine-tuning the demo models that are missing ({listed}). This runs once; later starts skip it.")
    with Progress(
        TextColumn("[bold]{task.fields[name]}[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(event: dict, plugin: str) -> None:
            name = f"{plugin}/{event.get('model', '?')}"
            if name not in tasks:
                tasks[name] = progress.add_task("", name=name, total=None)
            description = escape(f"{event.get('stage', '')}: {event.get('message', '')}")
            progress.update(tasks[name], description=description, completed=event.get("step", 0), total=event.get("total") or None)

        for plugin, models in missing.items():
            everything = len(models) == len(engine.plugins[plugin].model_specs())
            for model in [None] if everything else models:
                results = finetune_plugin(
                    engine.plugins[plugin], engine.settings, model=model, on_progress=lambda event, p=plugin: on_progress(event, p)
                )
                for result in results:
                    progress.console.print(f"[green]done[/] {escape(result_line(result))}", highlight=False)


def ui(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on; 0.0.0.0 exposes the UI (set a login first)."),
    port: int = typer.Option(7860, "--port", help="Port to listen on."),
    train: bool = typer.Option(True, "--train/--no-train", help="Fine-tune missing demo models before starting (default) or fail if any is missing."),
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", min=0.1, help="Largest file the Knowledge tab accepts, per file."),
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """Open the chat window: one chat over every plugin, with evidence, feedback, knowledge upload and models.

    Login is optional: set ASSISTANT_UI_USERNAME and ASSISTANT_UI_PASSWORD (or username and password in the ui table of config.toml) before exposing the UI beyond localhost.
    """
    from ui import launch, ui_credentials

    with user_errors():
        settings = load_settings(data_dir)
        auth = ui_credentials(settings)
        engine = open_engine(settings)
        if train:
            train_missing_models(engine)
        if host not in ("127.0.0.1", "localhost", "::1") and auth is None:
            console.print("[yellow]Warning:[/] the UI is reachable from the network without a login; set ASSISTANT_UI_USERNAME/PASSWORD.")
        console.print(f"Loading models, then serving the chat window on http://{host}:{port}" + (" (login required)" if auth else ""))
        launch(engine, host=host, port=port, auth=auth, max_upload_mb=max_upload_mb)


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)
