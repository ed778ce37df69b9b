"""assistant: chat assistants built from domain plugins.

Public API::

    from assistant import DialogEngine, Plugin, Reply
    engine = DialogEngine()
    reply = engine.handle("where is my order?", session_id=engine.new_session_id())
"""

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
