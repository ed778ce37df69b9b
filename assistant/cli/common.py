"""Options and error handling shared by every CLI command."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import typer
from rich.console import Console

from assistant.errors import AssistantError

if TYPE_CHECKING:
    from assistant.engine import DialogEngine

console = Console()
err_console = Console(stderr=True)

DataDirOption = typer.Option(
    None,
    "--data-dir",
    help="Where models, stores and sessions live. Default: $ASSISTANT_DATA_DIR or ~/.assistant.",
    envvar="ASSISTANT_DATA_DIR",
)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected errors into a red one-line message and exit code 1, not a traceback."""
    try:
        yield
    except AssistantError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]Interrupted.[/]")
        sys.exit(130)


def optional_path(value: Optional[Path]) -> Optional[Path]:
    return Path(value).expanduser() if value is not None else None


def open_engine(settings) -> "DialogEngine":
    """The engine over every enabled plugin, telling the user which plugins failed validation and were skipped."""
    from rich.markup import escape

    from assistant.engine import DialogEngine

    engine = DialogEngine(settings)
    for name, error in engine.plugin_errors.items():
        console.print(f"[yellow]Skipping plugin {name}:[/] {escape(error)}")
    return engine
