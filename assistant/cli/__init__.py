"""The `assistant` command. Each sub-command lives in its own module as a thin typer
wrapper over an importable function; this module only assembles them."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="assistant",
    help="Build, fine-tune and chat with plugin-based assistants.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: Modules that each define `register(app)`; order is the order in `--help`.
COMMAND_MODULES = ["chat", "plugins", "ingest", "finetune", "models", "eval", "ui", "serve", "feedback"]

for _module in COMMAND_MODULES:
    importlib.import_module(f"assistant.cli.{_module}").register(app)


def main() -> None:
    app()
