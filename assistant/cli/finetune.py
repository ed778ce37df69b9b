"""`assistant finetune --plugin NAME`: train a plugin's models into new, gated versions."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from assistant.cli.common import DataDirOption, console, optional_path, user_errors
from assistant.config import load_settings
from assistant.contract import PluginContext
from assistant.discovery import load_plugin
from assistant.models.registry import ModelRegistry
from assistant.training.finetune import FinetuneResult


class ProgressDisplay:
    """Renders ``finetune_plugin``'s progress events: one bar per model and stage, other events as lines."""

    def __init__(self):
        self.progress = Progress(
            TextColumn("[bold]{task.fields[model]}[/] {task.fields[stage]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[message]}"),
            console=console,
        )
        self.tasks: dict[tuple[str, str], int] = {}

    def __enter__(self) -> "ProgressDisplay":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def __call__(self, event: dict) -> None:
        key = (event["model"], event["stage"])
        message = escape(event.get("message", ""))
        if event["stage"] == "evaluate" or event["total"] == 0:
            self.progress.console.print(f"[dim]{escape(event['model'])}: {message}[/dim]", highlight=False)
            return
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task("", total=event["total"], model=event["model"], stage=event["stage"], message="")
        self.progress.update(self.tasks[key], total=event["total"], completed=event["step"], message=message)


def results_table(results: list[FinetuneResult]) -> Table:
    table = Table("model", "version", "active", "primary metric", "time", "notes")
    for r in results:
        score = r.metrics.get(r.primary_metric)
        notes = r.reason
        if r.resumed_from_step is not None:
            notes += f"; resumed from step {r.resumed_from_step}"
        if r.quantization:
            q = r.quantization
            notes += (
                f"; int8 of {q['full_version']}: {q['metric']} {q['metric_change']:+.4f}, "
                f"{q['full_ms_per_text']:.2f} → {q['int8_ms_per_text']:.2f} ms/input (x{q['speedup']:.2f})"
            )
        table.add_row(
            r.model,
            r.version,
            "[green]yes[/]" if r.activated else "[yellow]no[/]",
            f"{r.primary_metric} {score:.4f}" if isinstance(score, (int, float)) else "-",
            f"{r.wall_time_s:.0f} s",
            escape(notes),
        )
    return table


def finetune(
    plugin: str = typer.Option(..., "--plugin", "-p", help="Plugin whose models to train."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Train only this model (default: all the plugin declares)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Training file instead of the plugin's bundled data (CSV/JSONL text,label; SQuAD JSON)."),
    base_model: Optional[Path] = typer.Option(None, "--base-model", help="Local Hugging Face model folder to start from (default: bundled all-MiniLM-L6-v2)."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Training epochs (early stopping may end sooner)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Examples per training step."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Longest input, in tokens."),
    seed: int = typer.Option(42, "--seed", help="Random seed for the split, initialisation and shuffling."),
    precision: Optional[str] = typer.Option(
        None, "--precision", help="auto (bf16 where the CPU or GPU runs it natively), bf16 or fp32 (default: auto)."
    ),
    time_limit: Optional[float] = typer.Option(
        None, "--time-limit", help="Longest the whole command may take, in seconds: each model's steps are timed first and its "
        "epochs cut to fit what is left (default: the plugin's own limit when it trains all its models from its bundled data; "
        "0: no limit at all)."
    ),
    force: bool = typer.Option(False, "--force", help="Activate the new version even if it scores worse than the active one."),
    quantize: bool = typer.Option(False, "--quantize", help="Also write an int8 version (faster on CPU) and activate that one."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue an interrupted run from its last checkpoint."),
    embedding_member: Optional[bool] = typer.Option(
        None, "--embedding-member/--no-embedding-member", help="Text classifiers: also fit a logistic regression on the frozen "
        "base model's embeddings and average it with the fine-tuned model (default: the plugin's choice per model)."
    ),
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """Fine-tune a plugin's models; each run writes a new version, activated only if it is not worse."""
    from assistant.training import finetune_plugin

    with user_errors():
        settings = load_settings(data_dir)
        instance = load_plugin(plugin, PluginContext(settings=settings, models=ModelRegistry(settings.models_dir)))
        with ProgressDisplay() as display:
            results = finetune_plugin(
                instance,
                settings,
                data=optional_path(data),
                model=model,
                base_model=str(optional_path(base_model)) if base_model else None,
                epochs=epochs,
                lr=lr,
                batch_size=batch_size,
                max_length=max_length,
                seed=seed,
                precision=precision,
                time_limit=time_limit,
                force=force,
                quantize=quantize,
                resume=resume,
                embedding_member=embedding_member,
                on_progress=display,
            )
        console.print(results_table(results))
        for r in results:
            console.print(f"[dim]{r.model} {r.version}: {r.path} (model card: README.md)[/dim]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune)
