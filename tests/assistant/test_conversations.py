"""The scripted-conversation runner scores every expectation kind and rejects malformed files clearly."""

from __future__ import annotations

import json
import re

import pytest

from assistant.contract import Evidence, Plugin, PluginContext, Reply, RoutingScore
from assistant.conversations import format_conversation_report, load_conversations, run_conversations, scratch_engine
from assistant.engine import DialogEngine
from assistant.errors import DataFormatError
from assistant.training.metrics import answer_scores
from assistant.models.registry import ModelRegistry

POLICY = "Items can be returned within 30 days of delivery for a full refund."


class ScriptedShopPlugin(Plugin):
    """Deterministic rules standing in for trained models: keywords pick the intent, a regex fills a slot."""

    name = "shop"
    description = "a rule-based test shop"

    def route(self, turn, session):
        return RoutingScore(confidence=0.9)

    def respond(self, turn, session):
        text = turn.text.lower()
        if number := re.search(r"\b\d{5}\b", text):
            session.slots["order_number"] = number.group()
            return Reply(text=f"Order {number.group()} has shipped.", plugin=self.name, intent="order_status")
        if "order" in text:
            return Reply(text="What is your order number?", plugin=self.name, intent="order_status")
        if "return" in text:
            start = POLICY.index("within 30 days")
            evidence = Evidence("returns", "docs/returns.md", POLICY, 0.8, 0, len(POLICY), start, start + len("within 30 days"))
            return Reply(text=f"Our policy: {POLICY}", plugin=self.name, intent="return_item", evidence=[evidence])
        if "payment" in text:
            page = Evidence("payments", "docs/payments.md", "We accept cards and PayPal.", 0.5)
            return Reply(text="We accept cards and PayPal.", plugin=self.name, intent=None, evidence=[page])
        if "human" in text:
            return Reply(text="Passing you to a colleague.", plugin=self.name, intent="human_agent", handoff=True)
        return Reply(text="Hello!", plugin=self.name, intent="greeting")


@pytest.fixture
def engine(settings):
    context = PluginContext(settings=settings, models=ModelRegistry(settings.models_dir))
    return DialogEngine(settings, plugins={"shop": ScriptedShopPlugin(context)})


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    return path


def test_all_expectations_met_scores_perfectly(engine, tmp_path):
    path = write_jsonl(
        tmp_path / "conversations.jsonl",
        [
            {
                "id": "track",
                "turns": [
                    {"user": "hi", "intent": "greeting", "contains": "hello"},
                    {"user": "where is my order", "intent": "order_status", "contains": ["order number"]},
                    {"user": "12345", "slots": {"order_number": 12345}, "contains": "shipped"},
                ],
            },
            {
                "id": "return-then-human",
                "turns": [
                    {"user": "can I return this?", "answer": "within 30 days", "source": "returns.md"},
                    {"user": "which payment methods?", "intent": None, "source": "payments.md"},
                    {"user": "get me a human", "intent": "human_agent", "handoff": True},
                ],
            },
        ],
    )
    report = run_conversations(engine, path)
    assert report.failures == []
    assert (report.conversations, report.turns) == (2, 6)
    assert report.intent_accuracy == 1.0 and report.slot_accuracy == 1.0 and report.contains_pass_rate == 1.0
    assert report.answer_exact_match == 1.0 and report.answer_f1 == 1.0 and report.source_accuracy == 1.0
    assert report.handoff_precision == 1.0 and report.handoff_recall == 1.0
    assert report.support["intent"] == 3 and report.support["handoff"] == 1  # "intent": null is not scored
    assert report.support["source"] == 2  # a cited page without an extracted answer still counts
    assert report.latency_p95_ms >= report.latency_p50_ms > 0


def test_failures_are_listed_per_turn_and_lower_the_metrics(engine, tmp_path):
    path = write_jsonl(
        tmp_path / "conversations.jsonl",
        [
            {
                "id": "wrong",
                "turns": [
                    {"user": "hi", "intent": "order_status"},
                    {"user": "return policy?", "answer": "30 days of delivery", "source": "shipping.md"},
                    {"user": "hello again", "handoff": True},
                    {"user": "get me a human"},
                    {"user": "hey", "slots": {"order_number": "99999"}, "contains": "goodbye"},
                ],
            }
        ],
    )
    report = run_conversations(engine, path)
    assert report.intent_accuracy == 0.0
    assert report.answer_exact_match == 0.0
    assert report.answer_f1 == pytest.approx(answer_scores("within 30 days", ["30 days of delivery"])[1])
    assert 0 < report.answer_f1 < 1
    assert report.source_accuracy == 0.0
    # one missed handoff (turn 3), one unexpected handoff (turn 4)
    assert report.handoff_precision == 0.0 and report.handoff_recall == 0.0
    assert report.slot_accuracy == 0.0 and report.contains_pass_rate == 0.0
    assert [f.turn for f in report.failures] == [1, 2, 3, 4, 5]
    text = format_conversation_report(report)
    assert "wrong turn 1" in text and "expected order_status, got greeting" in text
    assert "source: expected shipping.md, got returns.md" in text


def test_each_conversation_gets_a_fresh_session(engine, tmp_path):
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [
            {"id": "a", "turns": [{"user": "order 11111", "slots": {"order_number": "11111"}}]},
            {"id": "b", "turns": [{"user": "hi", "slots": {"order_number": "11111"}}]},
        ],
    )
    report = run_conversations(engine, path)
    assert [f.conversation for f in report.failures] == ["b"]


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ('{"id": "a", "turns": [{"user": "hi"}]}\n{not json\n', 2, "invalid JSON"),
        ('{"id": "a", "turns": []}\n', 1, "non-empty list"),
        ('{"id": "a", "turns": [{"text": "hi"}]}\n', 1, "unknown key(s) text"),
        ('{"id": "a", "turns": [{"user": ""}]}\n', 1, "non-empty string 'user'"),
        ('{"id": "a", "turns": [{"user": "hi", "handoff": "yes"}]}\n', 1, "true or false"),
        ('{"id": "a", "turns": [{"user": "hi"}]}\n\n{"id": "a", "turns": [{"user": "hi"}]}\n', 3, "used twice"),
        ('[1, 2]\n', 1, "JSON object"),
    ],
)
def test_malformed_files_name_file_line_and_reason(tmp_path, content, line, reason):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError) as caught:
        load_conversations(path)
    assert caught.value.line == line and reason in caught.value.reason
    assert str(path) in str(caught.value)


def test_empty_or_missing_file_is_rejected(tmp_path):
    with pytest.raises(DataFormatError, match="no conversations"):
        load_conversations(write_jsonl(tmp_path / "empty.jsonl", []))
    with pytest.raises(DataFormatError, match="not found"):
        load_conversations(tmp_path / "missing.jsonl")


def test_scratch_engine_shares_models_and_stores_but_not_state(settings):
    (settings.models_dir / "p" / "m").mkdir(parents=True)
    (settings.models_dir / "p" / "m" / "ACTIVE").write_text("{}", encoding="utf-8")
    settings.stores_dir.mkdir(parents=True)
    with scratch_engine(settings, "customer_service") as engine:
        scratch = engine.settings
        assert list(engine.plugins) == ["customer_service"]
        assert (scratch.models_dir / "p" / "m" / "ACTIVE").read_text(encoding="utf-8") == "{}"
        assert scratch.stores_dir.resolve() == settings.stores_dir.resolve()
        assert scratch.sessions_db != settings.sessions_db
        assert scratch.plugin_dir("customer_service") != settings.plugin_dir("customer_service")
        engine.sessions.save_turn(engine.sessions.load("s"), "hi", Reply(text="hello", plugin="x"))
    assert not scratch.data_dir.exists()
    assert not settings.sessions_db.exists() and not (settings.data_dir / "plugins").exists()
    assert (settings.models_dir / "p" / "m" / "ACTIVE").exists()
