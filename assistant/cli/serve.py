"""`assistant serve`: the HTTP API (POST /chat, GET /plugins, POST /feedback, GET /health)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from assistant.cli.common import open_engine, DataDirOption, console, user_errors
from assistant.config import load_settings


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on; 0.0.0.0 exposes the API to the network."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """Serve the assistant over HTTP for other programs; see /docs on the running server for the schema."""
    import uvicorn

    from assistant.server import create_app

    with user_errors():
        engine = open_engine(load_settings(data_dir))
        engine.warm_up()
        console.print(f"Serving plugins {', '.join(engine.plugins)} on http://{host}:{port} (API docs at /docs)")
        uvicorn.run(create_app(engine), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
