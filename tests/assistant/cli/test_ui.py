"""`assistant ui` fine-tunes what is missing before serving, and refuses a half-set login."""

from __future__ import annotations

from dataclasses import replace

from typer.testing import CliRunner

from assistant.cli import app
from assistant.cli.ui import missing_models, train_missing_models
from assistant.contract import ModelSpec
from assistant.engine import DialogEngine
from tests.assistant.training.tiny import FAST, make_plugin, write_intents_csv


def test_missing_models_are_trained_once_with_the_plugin_defaults(settings, tmp_path, tiny_bert_path, capsys):
    settings = replace(settings, base_model=tiny_bert_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "faq.md").write_text("Cards arrive within five working days.\n", encoding="utf-8")
    spec = ModelSpec("intent", "sequence-classification", write_intents_csv(tmp_path / "intents.csv"), defaults=FAST)
    engine = DialogEngine(settings, plugins={"tiny": make_plugin(settings, [spec], sources=[docs])})
    assert missing_models(engine) == {"tiny": ["intent"]}

    train_missing_models(engine)

    assert missing_models(engine) == {}
    assert engine.context.models.active_name("tiny", "intent") == "v0001"
    # Training the whole plugin also ingested its documents.
    [hit] = engine.context.store("tiny").search("when does my card arrive", k=1)
    assert hit.source == "faq.md"
    assert "tiny/intent v0001" in capsys.readouterr().out

    train_missing_models(engine)  # nothing missing: no new version
    assert [v.version for v in engine.context.models.versions("tiny", "intent")] == ["v0001"]


def test_half_configured_login_stops_before_anything_starts(settings, monkeypatch):
    monkeypatch.setenv("ASSISTANT_UI_USERNAME", "ada")
    monkeypatch.delenv("ASSISTANT_UI_PASSWORD", raising=False)
    result = CliRunner().invoke(app, ["ui", "--no-train", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 1
    assert "ASSISTANT_UI_PASSWORD is not set" in result.output
