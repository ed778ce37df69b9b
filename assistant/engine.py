"""The dialog engine: one entry point, ``DialogEngine.handle(text, session_id)``.

For each turn it validates the message, loads the session, asks every enabled plugin
how confident it is (``route``), lets the most confident one ``respond`` — or, when
none clears ``routing_threshold``, asks the user to rephrase instead of guessing —
and saves the turn and the session state in one transaction.
"""

from __future__ import annotations

import time
import uuid

from assistant.config import MAX_MESSAGE_CHARS, Settings, load_settings
from assistant.contract import Plugin, PluginContext, Reply, RoutingScore, Session, Turn
from assistant.discovery import load_plugins
from assistant.errors import AssistantError, MessageError, NoPluginsError, PluginNotFoundError
from assistant.models.registry import ModelRegistry
from assistant.sessions import SessionStore

ENGINE = "engine"


def check_message(text: str | None) -> str:
    """Return the stripped message or raise MessageError with what the user should do."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise MessageError("The message is empty. Type a question or request.")
    if len(cleaned) > MAX_MESSAGE_CHARS:
        raise MessageError(
            f"The message is {len(cleaned):,} characters long; the limit is {MAX_MESSAGE_CHARS:,}. "
            "Send a shorter message, or ingest long documents with `assistant ingest`."
        )
    return cleaned


class DialogEngine:
    def __init__(
        self,
        settings: Settings | None = None,
        plugins: dict[str, Plugin] | None = None,
    ):
        self.settings = settings or load_settings()
        self.context = PluginContext(settings=self.settings, models=ModelRegistry(self.settings.models_dir))
        if plugins is None:
            plugins, self.plugin_errors = load_plugins(self.context)
        else:
            self.plugin_errors = {}
        self.plugins = plugins
        self.sessions = SessionStore(self.settings.sessions_db)
        self._warm = False

    def warm_up(self) -> None:
        """Load every plugin's models; raises the first plugin's error (e.g. untrained model)."""
        if not self.plugins:
            raise NoPluginsError()
        for plugin in self.plugins.values():
            plugin.warm_up()
        self._warm = True

    def check_plugin(self, name: str) -> None:
        """Raise the unknown-plugin error for a name no enabled plugin has (before anything is loaded for it)."""
        if name not in self.plugins:
            raise PluginNotFoundError(name, list(self.plugins))

    @staticmethod
    def new_session_id() -> str:
        return uuid.uuid4().hex

    def handle(self, text: str | None, session_id: str, plugin: str | None = None) -> Reply:
        """Answer one user message. Bad input yields a reply that explains the problem, not an exception."""
        started = time.perf_counter()
        try:
            message = check_message(text)
        except MessageError as exc:
            return Reply(text=str(exc), plugin=ENGINE, intent="invalid_message", timings={"total": 0.0})
        if plugin is not None:
            self.check_plugin(plugin)
        if not self._warm:
            self.warm_up()
        turn = Turn(text=message, session_id=session_id, plugin=plugin)
        with self.sessions.lock(session_id):
            session = self.sessions.load(session_id)
            reply = self._answer(turn, session)
            reply.timings["total"] = time.perf_counter() - started
            reply.turn_id = self.sessions.save_turn(session, message, reply)
        return reply

    def _answer(self, turn: Turn, session: Session) -> Reply:
        t0 = time.perf_counter()
        if turn.plugin is not None:
            chosen, score = self.plugins[turn.plugin], RoutingScore(confidence=1.0)
        else:
            scores = {name: p.route(turn, session) for name, p in self.plugins.items()}
            name = max(scores, key=lambda n: scores[n].confidence)
            chosen, score = self.plugins[name], scores[name]
            if score.confidence < self.settings.routing_threshold:
                return self._clarify(score, time.perf_counter() - t0)
        route_time = time.perf_counter() - t0
        t1 = time.perf_counter()
        try:
            reply = chosen.respond(turn, session)
        except AssistantError as exc:
            reply = Reply(text=str(exc), plugin=chosen.name, intent=score.intent, confidence=score.confidence)
        reply.timings.update({"route": route_time, "respond": time.perf_counter() - t1})
        return reply

    def _clarify(self, score: RoutingScore, route_time: float) -> Reply:
        skills = "; ".join(f"{p.description}" for p in self.plugins.values())
        return Reply(
            text=f"Sorry, I'm not sure what you mean. Could you rephrase? I can help with: {skills}",
            plugin=ENGINE,
            intent="clarify",
            confidence=score.confidence,
            timings={"route": route_time},
        )
