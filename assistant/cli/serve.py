"""`assistant serve`: the HTTP API (POST /chat, GET /plugins, POST /feedback, GET /health)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from assistant.cli.common import DataDirOption, console, user_errors
from assistant.config import load_settings
from assistant.engine import DialogEngine


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on; 0.0.0.0 exposes the API to the network."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """Serve the assistant over HTTP for other programs; see /docs on the running server for the schema."""
    import uvicorn

    from assistant.server import create_app

    with user_errors():
        engine = DialogEngine(load_settings(data_dir))
        for name, error in engine.plugin_errors.items():
            console.print(f"[yellow]Skipping plugin {name}:[/] {escape(error)}")
        engine.warm_up()
        console.print(f"Serving plugins {', '.join(engine.plugins)} on http://{host}:{port} (API docs at /docs)")
        uvicorn.run(create_app(engine), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
