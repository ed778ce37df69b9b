"""The engine routes, refuses bad messages politely, asks to rephrase when unsure, and keeps sessions apart."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from assistant.contract import PluginContext
from assistant.engine import DialogEngine
from assistant.errors import PluginNotFoundError
from assistant.models.registry import ModelRegistry
from tests.assistant.fake_plugins import KeywordPlugin


@pytest.fixture
def engine(settings):
    context = PluginContext(settings=settings, models=ModelRegistry(settings.models_dir))
    return DialogEngine(settings, plugins={"keyword": KeywordPlugin(context)})


def test_confident_turn_is_answered_by_the_plugin_with_metadata(engine):
    reply = engine.handle("echo hello", session_id="s1")
    assert reply.plugin == "keyword" and reply.intent == "echo"
    assert reply.confidence == pytest.approx(0.9)
    assert reply.turn_id is not None
    assert {"route", "respond", "total"} <= set(reply.timings)


def test_unsure_routing_asks_to_rephrase_instead_of_guessing(engine):
    reply = engine.handle("what is the meaning of life", session_id="s1")
    assert reply.plugin == "engine" and reply.intent == "clarify"
    assert "rephrase" in reply.text and KeywordPlugin.description in reply.text


def test_explicit_plugin_skips_routing(engine):
    assert engine.handle("no keyword here", session_id="s1", plugin="keyword").plugin == "keyword"
    with pytest.raises(PluginNotFoundError):
        engine.handle("echo", session_id="s1", plugin="missing")


@pytest.mark.parametrize("message", ["", "   \n", None])
def test_empty_message_gets_a_clear_reply(engine, message):
    reply = engine.handle(message, session_id="s1")
    assert reply.plugin == "engine" and "empty" in reply.text


def test_huge_message_gets_a_clear_reply_and_is_not_stored(engine):
    reply = engine.handle("echo " + "x" * 1_000_000, session_id="s1")
    assert reply.intent == "invalid_message" and "limit" in reply.text
    assert engine.sessions.transcript("s1") == []


def test_state_and_history_persist_across_turns_and_engines(engine, settings):
    engine.handle("echo one", session_id="s1")
    engine.handle("set blue echo", session_id="s1")
    reopened = DialogEngine(settings, plugins=engine.plugins)
    reply = reopened.handle("echo three", session_id="s1")
    assert "turn 3" in reply.text and "value=blue echo" in reply.text
    session = reopened.sessions.load("s1")
    assert [h["text"] for h in session.history if h["role"] == "user"] == ["echo one", "set blue echo", "echo three"]


def test_concurrent_sessions_never_see_each_others_state(engine):
    """Many sessions, each setting its own value and counting its own turns, in parallel threads."""

    def converse(index: int) -> list[str]:
        session_id = f"user-{index}"
        texts = [engine.handle(f"set v{index} echo", session_id=session_id).text]
        texts += [engine.handle("echo again", session_id=session_id).text for _ in range(4)]
        return texts

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(converse, range(16)))
    for index, texts in enumerate(results):
        assert texts[-1].endswith(f"(turn 5, value=v{index} echo)"), texts
        session = engine.sessions.load(f"user-{index}")
        assert session.slots == {"value": f"v{index} echo"}
        assert session.state("keyword")["count"] == 5


def test_concurrent_turns_of_one_session_are_serialised(engine):
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: engine.handle("echo", session_id="shared"), range(20)))
    assert engine.sessions.load("shared").state("keyword")["count"] == 20


def test_feedback_is_stored_for_the_sessions_own_turn(engine):
    reply = engine.handle("echo", session_id="s1")
    engine.sessions.add_feedback("s1", reply.turn_id, 1)
    with pytest.raises(KeyError):
        engine.sessions.add_feedback("other", reply.turn_id, -1)
    (row,) = engine.sessions.feedback()
    assert row["rating"] == 1 and row["text"] == "echo" and row["intent"] == "echo"
