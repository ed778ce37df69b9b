"""The HTTP API: chat with sessions, plugin list, feedback, health, and clear errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from assistant.contract import PluginContext
from assistant.engine import DialogEngine
from assistant.models.registry import ModelRegistry
from assistant.server import create_app
from tests.assistant.fake_plugins import KeywordPlugin


@pytest.fixture
def engine(settings):
    context = PluginContext(settings=settings, models=ModelRegistry(settings.models_dir))
    return DialogEngine(settings, plugins={"keyword": KeywordPlugin(context)})


@pytest.fixture
def client(engine):
    return TestClient(create_app(engine))


def test_chat_returns_the_reply_and_a_session_to_continue(client):
    first = client.post("/chat", json={"message": "set blue echo"}).json()
    assert first["plugin"] == "keyword" and first["intent"] == "echo" and first["confidence"] == pytest.approx(0.9)
    assert first["turn_id"] is not None and {"evidence", "parts", "timings", "handoff"} <= set(first)
    second = client.post("/chat", json={"message": "echo again", "session_id": first["session_id"]}).json()
    assert second["session_id"] == first["session_id"]
    assert "turn 2" in second["text"] and "value=blue" in second["text"]
    other = client.post("/chat", json={"message": "echo hi"}).json()
    assert other["session_id"] != first["session_id"] and "turn 1" in other["text"]


def test_chat_with_explicit_plugin_skips_routing(client):
    reply = client.post("/chat", json={"message": "no keyword here", "plugin": "keyword"}).json()
    assert reply["plugin"] == "keyword"


def test_unknown_plugin_is_a_404_naming_the_installed_ones(client):
    response = client.post("/chat", json={"message": "hi", "plugin": "weather"})
    assert response.status_code == 404
    assert "Unknown plugin 'weather'" in response.json()["detail"] and "keyword" in response.json()["detail"]


def test_empty_message_gets_an_explanation_not_an_error(client):
    response = client.post("/chat", json={"message": "   "})
    assert response.status_code == 200 and "empty" in response.json()["text"]


def test_missing_message_field_is_rejected(client):
    assert client.post("/chat", json={"session_id": "x"}).status_code == 422


def test_plugins_lists_descriptions_and_model_status(client):
    [plugin] = client.get("/plugins").json()
    assert plugin == {"name": "keyword", "description": KeywordPlugin.description, "intents": [], "models": {}}


def test_feedback_is_stored_with_the_turn(client, engine):
    reply = client.post("/chat", json={"message": "echo rate me"}).json()
    response = client.post("/feedback", json={"session_id": reply["session_id"], "turn_id": reply["turn_id"], "rating": -1, "comment": "wrong"})
    assert response.status_code == 200 and response.json()["stored"] is True
    [vote] = engine.sessions.feedback()
    assert (vote["rating"], vote["comment"], vote["text"]) == (-1, "wrong", "echo rate me")


def test_feedback_for_another_sessions_turn_is_refused(client, engine):
    reply = client.post("/chat", json={"message": "echo mine"}).json()
    response = client.post("/feedback", json={"session_id": "someone-else", "turn_id": reply["turn_id"], "rating": 1})
    assert response.status_code == 404 and "POST /chat" in response.json()["detail"]
    assert engine.sessions.feedback() == []


@pytest.mark.parametrize("rating", [0, 2, "up"])
def test_feedback_rating_must_be_plus_or_minus_one(client, rating):
    reply = client.post("/chat", json={"message": "echo"}).json()
    response = client.post("/feedback", json={"session_id": reply["session_id"], "turn_id": reply["turn_id"], "rating": rating})
    assert response.status_code == 422


def test_health(client):
    assert client.get("/health").json() == {"status": "ok", "plugins": ["keyword"], "plugin_errors": {}}
