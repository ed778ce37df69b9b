"""`assistant chat`: talk to the installed plugins in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import typer
from rich.markup import escape

from assistant.cli.common import open_engine, DataDirOption, console, user_errors
from assistant.config import load_settings
from assistant.contract import Reply
from assistant.engine import DialogEngine

EXIT_WORDS = {"exit", "quit", "/exit", "/quit"}


def format_reply(reply: Reply) -> str:
    """Reply text plus a dim line naming plugin, intent, confidence and latency, then cited sources."""
    lines = [escape(reply.text)]
    meta = f"{reply.plugin}"
    if reply.intent:
        meta += f" · {reply.intent}"
    meta += f" · confidence {reply.confidence:.2f}"
    if "total" in reply.timings:
        meta += f" · {reply.timings['total'] * 1000:.0f} ms"
    lines.append(f"[dim]({escape(meta)})[/dim]")
    for item in reply.evidence[:3]:
        quote = item.answer or item.text[:160]
        lines.append(f"[dim]  source: {escape(item.source)} — “{escape(quote)}”[/dim]")
    for part in reply.parts:
        lines.append(f"[dim]  [{escape(part.kind)}] {escape(part.title)}[/dim]")
    return "\n".join(lines)


def run_chat(engine: DialogEngine, read: Callable[[], str], session_id: str, plugin: str | None = None) -> None:
    """Read messages until EOF or an exit word and print each reply."""
    while True:
        try:
            message = read()
        except EOFError:
            break
        if message.strip().lower() in EXIT_WORDS:
            break
        reply = engine.handle(message, session_id=session_id, plugin=plugin)
        console.print(f"[bold cyan]bot>[/] {format_reply(reply)}", highlight=False)


def chat(
    plugin: Optional[str] = typer.Option(None, "--plugin", "-p", help="Send every message to this plugin instead of routing."),
    session: Optional[str] = typer.Option(None, "--session", help="Continue an earlier session by id."),
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """Chat in the terminal with every installed plugin (type 'exit' or press Ctrl-D to leave)."""
    with user_errors():
        engine = open_engine(load_settings(data_dir))
        if plugin is not None:
            engine.check_plugin(plugin)
        engine.warm_up()
        session_id = session or engine.new_session_id()
        console.print(f"[dim]session {session_id} · plugins: {', '.join(engine.plugins)} · 'exit' to leave[/dim]")
        run_chat(engine, lambda: console.input("[bold green]you>[/] "), session_id, plugin)


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
