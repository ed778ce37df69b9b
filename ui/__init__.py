"""The Gradio chat window: `build_app(engine)` lays it out cheaply, `launch(engine)` warms up and serves."""

from ui.app import build_app, launch, ui_credentials

__all__ = ["build_app", "launch", "ui_credentials"]
