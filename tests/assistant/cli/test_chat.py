"""`assistant chat` and `assistant plugins` work as a user runs them."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from assistant.cli import app
from assistant.cli.chat import format_reply, run_chat
from assistant.contract import Evidence, PluginContext, Reply
from assistant.engine import DialogEngine
from assistant.models.registry import ModelRegistry
from tests.assistant.fake_plugins import KeywordPlugin


def test_run_chat_prints_plugin_and_confidence_and_survives_bad_input(settings, capsys):
    context = PluginContext(settings=settings, models=ModelRegistry(settings.models_dir))
    engine = DialogEngine(settings, plugins={"keyword": KeywordPlugin(context)})
    messages = iter(["echo hi", "", "x" * 1_000_000, "exit", "never read"])
    run_chat(engine, lambda: next(messages), session_id="cli")
    out = capsys.readouterr().out
    assert "echo hi (turn 1" in out and "keyword · echo · confidence 0.90" in out
    assert "The message is empty" in out and "the limit is" in out


def test_format_reply_cites_sources():
    reply = Reply(
        text="Returns are accepted within 30 days.",
        plugin="shop",
        intent="return_item",
        confidence=0.87,
        evidence=[Evidence("d1", "returns.md", "within 30 days of delivery", 0.7, 0, 26, 7, 14)],
    )
    text = format_reply(reply)
    assert "shop · return_item · confidence 0.87" in text and "returns.md" in text and "30 days" in text


def test_help_of_every_command():
    runner = CliRunner()
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "chat" in result.output and "plugins" in result.output
    for command in ("chat", "plugins"):
        assert runner.invoke(app, [command, "--help"]).exit_code == 0


def test_plugins_command_lists_installed_plugins(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "plugins", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PATH": "", "COLUMNS": "200", "ASSISTANT_DISABLED_PLUGINS": "customer_service"},
    )
    assert result.returncode == 0, result.stderr
    assert "customer_service" in result.stdout and "disabled" in result.stdout


def test_chat_with_an_unknown_plugin_fails_before_the_prompt(tmp_path):
    result = CliRunner().invoke(app, ["chat", "--plugin", "nope", "--data-dir", str(tmp_path)], input="hello\n")
    assert result.exit_code == 1
    assert "Unknown plugin 'nope'" in result.output and "customer_service" in result.output
    assert "you>" not in result.output
