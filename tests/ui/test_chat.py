"""The chat tab's logic: per-tab sessions, message/turn mapping, votes stored with the session."""

from __future__ import annotations

import gradio as gr
import pytest

from assistant.contract import PluginContext
from assistant.engine import DialogEngine
from assistant.models.registry import ModelRegistry
from tests.assistant.fake_plugins import KeywordPlugin
from tests.ui.showcase_plugin import ShowcasePlugin
from ui.chat import (
    AUTO_ROUTE,
    DISLIKE,
    LIKE,
    conversation_messages,
    feedback_values,
    new_chat_state,
    plugin_choices,
    record_feedback,
    send_message,
)


@pytest.fixture
def engine(settings):
    context = PluginContext(settings=settings, models=ModelRegistry(settings.models_dir))
    return DialogEngine(settings, plugins={"showcase": ShowcasePlugin(context), "keyword": KeywordPlugin(context)})


def test_plugin_selector_offers_automatic_routing_and_every_plugin(engine):
    assert [value for _, value in plugin_choices(engine)] == [AUTO_ROUTE, "showcase", "keyword"]


def test_routing_and_explicit_plugin_choice(engine):
    state = send_message(engine, new_chat_state(), "how fast is shipping?", AUTO_ROUTE)
    assert state["turns"][-1]["reply"]["plugin"] == "showcase"
    state = send_message(engine, state, "how fast is shipping?", "keyword")
    assert state["turns"][-1]["reply"]["plugin"] == "keyword"


def test_each_tab_state_gets_its_own_session(engine):
    first = send_message(engine, new_chat_state(), "echo set alpha", AUTO_ROUTE)
    second = send_message(engine, new_chat_state(), "echo hi", AUTO_ROUTE)
    assert first["session_id"] != second["session_id"]
    first = send_message(engine, first, "echo again", AUTO_ROUTE)
    assert "turn 2" in first["turns"][-1]["reply"]["text"]
    assert "turn 1" in second["turns"][-1]["reply"]["text"]
    assert [text for text, _ in engine.sessions.transcript(second["session_id"])] == ["echo hi"]


def test_send_does_not_mutate_the_previous_state(engine):
    before = new_chat_state()
    send_message(engine, before, "echo", AUTO_ROUTE)
    assert before == new_chat_state()


def test_engine_errors_become_a_visible_turn(engine):
    state = send_message(engine, new_chat_state(), "hello", "no_such_plugin")
    assert "Unknown plugin 'no_such_plugin'" in state["turns"][-1]["error"]
    assert "Unknown plugin" in conversation_messages(state)[-1]["content"]


def test_messages_alternate_user_and_assistant_with_evidence_and_pending_question(engine):
    state = send_message(engine, new_chat_state(), "shipping table", AUTO_ROUTE)
    messages = conversation_messages(state, pending="next question")
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == "shipping table"
    assert "<mark>3 to 5 business days</mark>" in messages[1]["content"][0]
    assert "| order | status |" in messages[1]["content"][0]
    assert messages[2]["content"] == "next question"
    gr.Chatbot().postprocess(messages)


def test_thumbs_up_is_stored_with_the_session_and_shown_again(engine):
    state = send_message(engine, new_chat_state(), "echo one", AUTO_ROUTE)
    state = send_message(engine, state, "shipping?", AUTO_ROUTE)
    state, notice = record_feedback(engine, state, 3, True)
    assert "helpful" in notice
    [vote] = engine.sessions.feedback()
    assert vote["rating"] == 1 and vote["session_id"] == state["session_id"]
    assert vote["text"] == "shipping?" and vote["intent"] == "shipping_time"
    assert feedback_values(state) == [None, LIKE]


def test_thumbs_down_replaces_the_vote_and_a_second_click_withdraws_it(engine):
    state = send_message(engine, new_chat_state(), "echo one", AUTO_ROUTE)
    state, _ = record_feedback(engine, state, 1, True)
    state, _ = record_feedback(engine, state, [1], False)
    assert [v["rating"] for v in engine.sessions.feedback()] == [-1]
    assert feedback_values(state) == [DISLIKE]
    state, notice = record_feedback(engine, state, 1, "")
    assert engine.sessions.feedback() == [] and feedback_values(state) == [None]
    assert "withdrawn" in notice


def test_unratable_messages_are_refused_without_storing(engine):
    state = send_message(engine, new_chat_state(), "  ", AUTO_ROUTE)  # refused message: no stored turn
    state = send_message(engine, state, "x", "no_such_plugin")
    for index in (1, 3, 99):
        _, notice = record_feedback(engine, state, index, True)
        assert "cannot be rated" in notice
    assert engine.sessions.feedback() == []
