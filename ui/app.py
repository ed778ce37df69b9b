"""Assemble the chat window (chat, knowledge, models tabs) and launch it.

``build_app`` is cheap: it lays out components and wires events, loading no model, so
the app can be built in tests or embedded. ``launch`` warms the engine up first, then
serves.
"""

from __future__ import annotations

import os
import tomllib

import gradio as gr

from assistant.config import Settings
from assistant.engine import DialogEngine
from assistant.errors import UILoginConfigError
from ui.chat import build_chat_tab
from ui.knowledge_tab import DEFAULT_MAX_UPLOAD_MB, build_knowledge_tab
from ui.models_tab import FinetuneJob, build_models_tab

USERNAME_ENV = "ASSISTANT_UI_USERNAME"
PASSWORD_ENV = "ASSISTANT_UI_PASSWORD"

CSS = """
.evidence { margin-top: .4em; border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .3em .7em; }
.evidence summary { cursor: pointer; font-weight: 600; }
.evidence-item { margin: .6em 0; }
.evidence-source { font-size: .85em; opacity: .8; }
.evidence-text { border-left: 3px solid var(--color-accent); padding-left: .6em; margin-top: .2em; }
.evidence-text mark { background: #fde68a; color: #111; padding: 0 .1em; border-radius: 3px; }
.cards { display: flex; flex-wrap: wrap; gap: .6em; }
.card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .5em .8em; min-width: 12em; flex: 1; }
.card-title, .ticket-title { font-weight: 700; }
.ticket { border: 2px dashed var(--color-accent); border-radius: 8px; padding: .5em .8em; }
.ticket table, .card table { font-size: .9em; margin-top: .3em; }
.ticket th, .card th { text-align: left; padding-right: 1em; opacity: .75; font-weight: 600; }
"""


def ui_credentials(settings: Settings) -> tuple[str, str] | None:
    """Login for the UI from ASSISTANT_UI_USERNAME/PASSWORD, else ``username``/``password`` in config.toml's ``[ui]`` table.

    ``None`` means no login. Setting only one of the two is refused, so a typo never
    silently exposes the UI without a password.
    """
    file_ui: dict = {}
    config = settings.data_dir / "config.toml"
    if config.exists():
        file_ui = tomllib.loads(config.read_text(encoding="utf-8")).get("ui", {})
    username = os.environ.get(USERNAME_ENV) or file_ui.get("username")
    password = os.environ.get(PASSWORD_ENV) or file_ui.get("password")
    if not username and not password:
        return None
    if not username:
        raise UILoginConfigError(USERNAME_ENV)
    if not password:
        raise UILoginConfigError(PASSWORD_ENV)
    return str(username), str(password)


def build_app(engine: DialogEngine, *, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> gr.Blocks:
    """The Gradio Blocks app over ``engine``; builds components only, loads no model."""
    job = FinetuneJob()
    # No telemetry or version check: the assistant runs offline.
    with gr.Blocks(title="Assistant", analytics_enabled=False) as demo:
        gr.Markdown("## Assistant\nOne chat over every plugin: each answer says which plugin answered and why.")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                build_chat_tab(engine)
            with gr.Tab("Knowledge", id="knowledge"):
                build_knowledge_tab(engine, max_upload_mb)
            with gr.Tab("Models", id="models"):
                build_models_tab(demo, engine, job)
    return demo


def launch(
    engine: DialogEngine,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    block: bool = True,
) -> gr.Blocks:
    """Warm the engine up (load models and stores), then serve the app; ``block=False`` returns once it is up."""
    engine.warm_up()
    demo = build_app(engine, max_upload_mb=max_upload_mb)
    demo.queue(default_concurrency_limit=4)
    demo.launch(
        server_name=host,
        server_port=port,
        auth=auth,
        auth_message="Log in to the assistant." if auth else None,
        # Gradio's own hard cap, above the per-file limit, so a file just over the limit
        # reaches the knowledge tab and gets its message that says how to fix it.
        max_file_size=f"{max_upload_mb * 2:g}mb",
        prevent_thread_lock=not block,
        share=False,
        show_error=True,
        footer_links=["api"],
        css=CSS,
        quiet=not block,
    )
    return demo
