"""`assistant feedback export` turns votes into data `assistant finetune --data` reads."""

from __future__ import annotations

import csv

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.cli.feedback import REVIEW_COLUMNS, export_feedback, review_path_for
from assistant.contract import PluginContext
from assistant.engine import DialogEngine
from assistant.models.registry import ModelRegistry
from assistant.training.data import load_labelled_texts
from tests.assistant.fake_plugins import KeywordPlugin
from tests.ui.showcase_plugin import ShowcasePlugin


@pytest.fixture
def engine(settings):
    context = PluginContext(settings=settings, models=ModelRegistry(settings.models_dir))
    return DialogEngine(settings, plugins={"showcase": ShowcasePlugin(context), "keyword": KeywordPlugin(context)})


def vote(engine: DialogEngine, session: str, text: str, rating: int, comment: str | None = None):
    reply = engine.handle(text, session_id=session)
    engine.sessions.add_feedback(session, reply.turn_id, rating, comment)
    return reply


def read_rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_up_votes_round_trip_through_the_training_data_loader(engine, tmp_path):
    vote(engine, "a", "how long does shipping take?", 1)
    vote(engine, "a", "echo, with a comma", 1)
    vote(engine, "b", "how long does shipping take?", 1)  # same text and label: one training row
    vote(engine, "b", "shipping to mars?", -1, "wrong answer")
    out = tmp_path / "votes.csv"
    summary = export_feedback(engine.sessions, out, review_path_for(out))
    examples = load_labelled_texts(out)
    assert [(e.text, e.label) for e in examples] == [("how long does shipping take?", "shipping_time"), ("echo, with a comma", "echo")]
    assert summary.liked == 2 and summary.disliked == 1
    [review] = read_rows(tmp_path / "votes.review.csv")
    assert list(review) == REVIEW_COLUMNS
    assert review["text"] == "shipping to mars?" and review["predicted_intent"] == "shipping_time"
    assert review["label"] == "" and review["comment"] == "wrong answer" and review["session_id"] == "b"
    assert review["reply"].startswith("Standard shipping")


def test_plugin_filter_and_engine_replies_are_left_out(engine, tmp_path):
    vote(engine, "a", "shipping please", 1)
    vote(engine, "a", "echo this", 1)
    vote(engine, "a", "what is the meaning of life", 1)  # the engine asked to rephrase: no intent to learn
    summary = export_feedback(engine.sessions, tmp_path / "out.csv", tmp_path / "review.csv", plugin="keyword")
    assert [(e.text, e.label) for e in load_labelled_texts(tmp_path / "out.csv")] == [("echo this", "echo")]
    assert summary.liked == 1 and summary.skipped == 0
    summary = export_feedback(engine.sessions, tmp_path / "all.csv", tmp_path / "review.csv")
    assert summary.liked == 2 and summary.skipped == 1


def test_cli_writes_both_files_and_says_where(engine, settings, tmp_path):
    vote(engine, "a", "shipping please", 1)
    vote(engine, "a", "echo nope", -1)
    out, review = tmp_path / "exports" / "liked.csv", tmp_path / "to-review.csv"
    result = CliRunner().invoke(app, ["feedback", "export", "--out", str(out), "--review-out", str(review), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "1 up-voted" in result.output and "1 down-voted" in result.output
    assert read_rows(out) == [{"text": "shipping please", "label": "shipping_time"}]
    assert [row["text"] for row in read_rows(review)] == ["echo nope"]


def test_cli_help_documents_the_review_file():
    result = CliRunner().invoke(app, ["feedback", "export", "--help"])
    assert result.exit_code == 0 and "--review-out" in result.output and "down-voted" in result.output.lower()
