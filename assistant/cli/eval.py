"""`assistant eval`: score a plugin.

* ``assistant eval --plugin NAME --data PATH``: the active model version on a labelled file;
  writes report.txt, report.json and (classifiers) confusion_matrix.png.
* ``assistant eval --plugin NAME``: replay the plugin's scripted conversations through the engine.
* ``assistant eval retrieval --plugin NAME --queries FILE``: retrieval quality of the plugin's knowledge store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from assistant.cli.common import DataDirOption, console, optional_path, user_errors
from assistant.config import load_settings
from assistant.contract import PluginContext
from assistant.discovery import load_plugin
from assistant.errors import AssistantError
from assistant.models.registry import ModelRegistry

eval_app = typer.Typer(
    help="Evaluate a plugin: its active model on a labelled file (--data), its scripted conversations "
    "(no --data), or its knowledge store (`eval retrieval`)."
)


@eval_app.callback(invoke_without_command=True)
def evaluate(
    ctx: typer.Context,
    plugin: Optional[str] = typer.Option(None, "--plugin", "-p", help="Plugin to evaluate."),
    data: Optional[Path] = typer.Option(None, "--data", help="Labelled file (CSV/JSONL text,label or SQuAD JSON); omit to replay conversations."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model to evaluate (default: the one matching the file's format)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder (default: <data-dir>/reports/<plugin>/<model>/<time>)."),
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    with user_errors():
        if plugin is None:
            raise AssistantError("Name the plugin to evaluate with --plugin NAME (`assistant plugins` lists them).")
        settings = load_settings(data_dir)
        instance = load_plugin(plugin, PluginContext(settings=settings, models=ModelRegistry(settings.models_dir)))
        if data is not None:
            from assistant.training.report import evaluate_active

            outcome = evaluate_active(instance, settings, optional_path(data), model=model, out=optional_path(out))
            console.print(escape(outcome.text), highlight=False)
            for path in outcome.files:
                console.print(f"[dim]wrote {escape(str(path))}[/dim]", highlight=False)
            return
        if model is not None or out is not None:
            raise AssistantError("--model and --out apply to model evaluation; add --data PATH with a labelled file.")
        conversations = instance.conversations()
        if conversations is None:
            raise AssistantError(
                f"Plugin '{plugin}' ships no scripted conversations. Pass --data PATH to evaluate a model on a labelled file."
            )
        from assistant.conversations import format_conversation_report, run_conversations, scratch_engine

        with scratch_engine(settings, plugin) as engine:
            report = run_conversations(engine, conversations)
        console.print(escape(format_conversation_report(report)), highlight=False)


@eval_app.command("retrieval")
def retrieval(
    plugin: str = typer.Option(..., "--plugin", "-p", help="Plugin whose knowledge store to evaluate."),
    queries: Path = typer.Option(..., "--queries", help="Queries with their relevant documents (see knowledge.evaluation)."),
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """Retrieval quality (recall, MRR, ...) of the plugin's knowledge store on labelled queries."""
    with user_errors():
        settings = load_settings(data_dir)
        load_plugin(plugin, PluginContext(settings=settings, models=ModelRegistry(settings.models_dir)))
        import knowledge
        from knowledge.evaluation import evaluate_retrieval, format_retrieval_report

        result = evaluate_retrieval(knowledge.open_store(settings.stores_dir / plugin), optional_path(queries))
        console.print(escape(format_retrieval_report(result)), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
