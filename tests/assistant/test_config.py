"""Settings come from arguments, the environment and config.toml, in that order of strength."""

from __future__ import annotations

import pytest

from assistant.config import load_settings
from assistant.errors import AssistantError


def test_environment_and_config_file_are_combined(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text('disabled_plugins = ["finance"]\nrouting_threshold = 0.6\n')
    monkeypatch.setenv("ASSISTANT_DISABLED_PLUGINS", "recommendation")
    settings = load_settings(tmp_path, disabled={"extra"})
    assert settings.disabled_plugins == {"finance", "recommendation", "extra"}
    assert settings.routing_threshold == 0.6
    assert settings.models_dir == tmp_path / "models"


def test_data_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "elsewhere"))
    assert load_settings().data_dir == tmp_path / "elsewhere"


def test_broken_config_file_says_which_file_to_fix(tmp_path):
    (tmp_path / "config.toml").write_text("disabled_plugins = [unclosed\n")
    with pytest.raises(AssistantError, match="config.toml is not valid TOML"):
        load_settings(tmp_path)
