"""`assistant finetune`, `assistant models` and `assistant eval` as a user runs them, on an installed tiny plugin."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.models.registry import ModelRegistry
from tests.assistant.training.tiny import FAST, write_intents_csv

PLUGIN = '''
from pathlib import Path
from assistant.contract import ModelSpec, Plugin, Reply, RoutingScore

HERE = Path(__file__).parent


class CliPlugin(Plugin):
    name = "cli_tiny"
    description = "tiny plugin for CLI tests"

    def model_specs(self):
        return [ModelSpec("intent", "sequence-classification", HERE / "intents.csv", defaults=DEFAULTS)]

    def conversations(self):
        path = HERE / "conversations.jsonl"
        return path if path.exists() else None

    def route(self, turn, session):
        return RoutingScore(confidence=0.9, intent="echo")

    def respond(self, turn, session):
        return Reply(text="echo " + turn.text, plugin=self.name, intent="echo", confidence=0.9)
'''


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A third-party-style plugin package with bundled data, installed on sys.path like pip would."""
    site = tmp_path / "site"
    package = site / "cli_tiny_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(PLUGIN) + f"\nDEFAULTS = {FAST!r}\n")
    write_intents_csv(package / "intents.csv")
    info = site / "cli_tiny_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cli-tiny-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[assistant.plugins]\ncli_tiny = cli_tiny_plugin:CliPlugin\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("ASSISTANT_DISABLED_PLUGINS", "customer_service")
    monkeypatch.setenv("COLUMNS", "250")
    yield package
    sys.modules.pop("cli_tiny_plugin", None)  # each test installs its own copy


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_finetune_then_list_rollback_activate_and_eval(installed, tmp_path, tiny_bert_path):
    data_dir = str(tmp_path / "data")
    first = run("finetune", "--plugin", "cli_tiny", "--base-model", tiny_bert_path, "--embedding-member", "--data-dir", data_dir)
    assert first.exit_code == 0, first.output
    assert "v0001" in first.output and "first version of this model" in first.output

    second = run("finetune", "--plugin", "cli_tiny", "--base-model", tiny_bert_path, "--epochs", "1", "--lr", "1e-7",
                 "--seed", "42", "--no-resume", "--data-dir", data_dir)
    assert second.exit_code == 0, second.output
    assert "v0002" in second.output and "worse than the active" in second.output
    versions = tmp_path / "data" / "models" / "cli_tiny" / "intent" / "versions"
    assert (versions / "v0001" / "embedding_member").is_dir() and not (versions / "v0002" / "embedding_member").exists()

    listed = run("models", "list", "--plugin", "cli_tiny", "--data-dir", data_dir)
    assert listed.exit_code == 0, listed.output
    rows = {line.split("│")[2].strip(): line for line in listed.output.splitlines() if "│ v000" in line}
    assert set(rows) == {"v0001", "v0002"} and "*" in rows["v0001"] and "*" not in rows["v0002"]

    activated = run("models", "activate", "--plugin", "cli_tiny", "--version", "v0002", "--data-dir", data_dir)
    assert activated.exit_code == 0 and "Activated cli_tiny/intent v0002" in activated.output
    rolled = run("models", "rollback", "--plugin", "cli_tiny", "--data-dir", data_dir)
    assert rolled.exit_code == 0 and "Rolled back to cli_tiny/intent v0001" in rolled.output
    assert ModelRegistry(tmp_path / "data" / "models").active_name("cli_tiny", "intent") == "v0001"

    missing = run("models", "activate", "--plugin", "cli_tiny", "--version", "v0009", "--data-dir", data_dir)
    assert missing.exit_code == 1 and "no version v0009" in missing.output

    report_dir = tmp_path / "report"
    evaluated = run("eval", "--plugin", "cli_tiny", "--data", str(installed / "intents.csv"), "--out", str(report_dir), "--data-dir", data_dir)
    assert evaluated.exit_code == 0, evaluated.output
    assert "Evaluation of cli_tiny/intent v0001" in evaluated.output and "macro-F1" in evaluated.output
    report = json.loads((report_dir / "report.json").read_text())
    assert report["model"]["version"] == "v0001" and report["examples"] == 120 and 0 <= report["accuracy"] <= 1
    assert (report_dir / "report.txt").read_text().startswith("Evaluation of cli_tiny/intent v0001")
    assert (report_dir / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_finetune_reports_malformed_data_with_file_and_line(installed, tmp_path, tiny_bert_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,intent\nwhere is my card,card\nrate,\n")
    result = run("finetune", "--plugin", "cli_tiny", "--data", str(bad), "--base-model", tiny_bert_path, "--data-dir", str(tmp_path / "d"))
    assert result.exit_code == 1
    assert "bad.csv, line 3" in " ".join(result.output.split()) and "Traceback" not in result.output


def test_eval_without_data_replays_conversations(installed, tmp_path):
    (installed / "conversations.jsonl").write_text(
        json.dumps({"id": "echo", "turns": [{"user": "hello", "intent": "echo", "contains": "echo hello"},
                                            {"user": "bye", "intent": "farewell"}]}) + "\n"
    )
    result = run("eval", "--plugin", "cli_tiny", "--data-dir", str(tmp_path / "d"))
    assert result.exit_code == 0, result.output
    assert "Conversations: 1, turns: 2" in result.output and "50.0% (n=2)" in result.output


def test_eval_errors_name_the_fix(installed, tmp_path):
    no_plugin = run("eval", "--data-dir", str(tmp_path / "d"))
    assert no_plugin.exit_code == 1 and "--plugin NAME" in no_plugin.output
    no_conversations = run("eval", "--plugin", "cli_tiny", "--data-dir", str(tmp_path / "d"))
    assert no_conversations.exit_code == 1 and "ships no scripted conversations" in no_conversations.output
    untrained = run("eval", "--plugin", "cli_tiny", "--data", str(installed / "intents.csv"), "--data-dir", str(tmp_path / "d"))
    assert untrained.exit_code == 1 and "assistant finetune --plugin cli_tiny" in " ".join(untrained.output.split())


def test_eval_retrieval_scores_the_plugin_store(installed, tmp_path):
    import knowledge

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text("Items can be returned within 30 days of delivery for a full refund.\n")
    (docs / "shipping.md").write_text("Standard shipping takes five business days; express arrives next day.\n")
    data_dir = tmp_path / "d"
    knowledge.ingest_path(knowledge.open_store(data_dir / "stores" / "cli_tiny"), docs, plugin="cli_tiny")
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"query": "how many days to return an item", "relevant": ["returns.md"]}\n')
    result = run("eval", "retrieval", "--plugin", "cli_tiny", "--queries", str(queries), "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    header, *rows = result.output.strip().splitlines()
    assert header.split() == ["mode", "recall@1", "recall@3", "recall@5", "recall@10", "mrr"]
    assert {row.split()[0] for row in rows} >= {"dense", "hybrid"}
    assert all(float(row.split()[-2]) == 1.0 for row in rows)  # with two documents the right one is in the top 10
