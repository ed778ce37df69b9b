"""Small deterministic plugins for engine and discovery tests (no models)."""

from __future__ import annotations

from assistant.contract import Plugin, Reply, RoutingScore


class KeywordPlugin(Plugin):
    """Answers turns containing its keyword; remembers a per-session counter and the last value set."""

    name = "keyword"
    description = "answers messages that mention 'echo'"
    keyword = "echo"

    def route(self, turn, session):
        return RoutingScore(confidence=0.9 if self.keyword in turn.text.lower() else 0.05, intent="echo")

    def respond(self, turn, session):
        state = session.state(self.name)
        state["count"] = state.get("count", 0) + 1
        if turn.text.lower().startswith("set "):
            session.slots["value"] = turn.text[4:]
        return Reply(
            text=f"{turn.text} (turn {state['count']}, value={session.slots.get('value')})",
            plugin=self.name,
            intent="echo",
            confidence=0.9,
        )
