"""HTTP API for embedding the assistant in another product.

``create_app(engine)`` returns a FastAPI app; it loads nothing itself (the engine warms up
on its first turn, or earlier when ``assistant serve`` starts). Endpoints are plain ``def``
so FastAPI runs the blocking model calls in its thread pool.

- ``POST /chat``     {message, session_id?, plugin?} → the Reply as JSON plus its session_id
- ``GET  /plugins``  enabled plugins with description, intents and model status
- ``POST /feedback`` {session_id, turn_id, rating: 1 | -1, comment?}
- ``GET  /health``   liveness and the enabled plugins
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from assistant.config import MAX_MESSAGE_CHARS
from assistant.engine import DialogEngine
from assistant.errors import AssistantError, PluginNotFoundError


class ChatRequest(BaseModel):
    message: str = Field(description=f"The user's message (at most {MAX_MESSAGE_CHARS} characters).")
    session_id: str | None = Field(None, description="Continue this session; omit to start a new one.")
    plugin: str | None = Field(None, description="Send the message to this plugin instead of routing.")


class FeedbackRequest(BaseModel):
    session_id: str
    turn_id: int
    rating: Literal[1, -1] = Field(description="1 for thumbs up, -1 for thumbs down.")
    comment: str | None = None


def plugin_info(engine: DialogEngine) -> list[dict[str, Any]]:
    registry = engine.context.models
    return [
        {
            "name": name,
            "description": plugin.description,
            "intents": list(plugin.intents),
            "models": {spec.name: registry.status(name, spec.name) for spec in plugin.model_specs()},
        }
        for name, plugin in engine.plugins.items()
    ]


def create_app(engine: DialogEngine) -> FastAPI:
    app = FastAPI(title="assistant", description="Chat with plugin-based assistants over HTTP.")

    @app.post("/chat")
    def chat(request: ChatRequest) -> dict[str, Any]:
        session_id = request.session_id or engine.new_session_id()
        try:
            reply = engine.handle(request.message, session_id=session_id, plugin=request.plugin)
        except PluginNotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        except AssistantError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        return {**reply.to_dict(), "session_id": session_id}

    @app.get("/plugins")
    def plugins() -> list[dict[str, Any]]:
        return plugin_info(engine)

    @app.post("/feedback")
    def feedback(request: FeedbackRequest) -> dict[str, Any]:
        try:
            engine.sessions.add_feedback(request.session_id, request.turn_id, request.rating, request.comment)
        except KeyError as exc:
            raise HTTPException(
                status_code=404,
                detail=f"Turn {request.turn_id} does not belong to session {request.session_id}. "
                "Send the turn_id and session_id returned by POST /chat.",
            ) from exc
        return {"stored": True, "turn_id": request.turn_id, "rating": request.rating}

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "plugins": list(engine.plugins), "plugin_errors": engine.plugin_errors}

    return app
