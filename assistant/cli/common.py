"""Options and error handling shared by every CLI command."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console

from assistant.errors import AssistantError

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
