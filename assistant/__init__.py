"""assistant: chat assistants built from domain plugins.

Public API::

    from assistant import DialogEngine, Plugin, Reply
    engine = DialogEngine()
    reply = engine.handle("where is my order?", session_id=engine.new_session_id())
"""

import os

# Models and data come from local folders only; never let a library reach for a hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from assistant.contract import Evidence, ModelSpec, Plugin, PluginContext, Reply, RichPart, RoutingScore, Session, Turn
from assistant.engine import DialogEngine

__version__ = "0.1.0"
__all__ = [
    "DialogEngine",
    "Evidence",
    "ModelSpec",
    "Plugin",
    "PluginContext",
    "Reply",
    "RichPart",
    "RoutingScore",
    "Session",
    "Turn",
]
