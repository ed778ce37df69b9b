"""Plugins are found through entry points, validated on load and can be switched off by name."""

from __future__ import annotations

import textwrap

import pytest

from assistant.config import load_settings
from assistant.contract import PluginContext
from assistant.discovery import discover, load_plugin, load_plugins
from assistant.errors import PluginDisabledError, PluginNotFoundError, PluginValidationError
from assistant.models.registry import ModelRegistry

GOOD_PLUGIN = '''
from assistant.contract import Plugin, Reply, RoutingScore

class WeatherPlugin(Plugin):
    name = "weather"
    description = "tells the weather"

    def route(self, turn, session):
        return RoutingScore(confidence=0.8 if "weather" in turn.text else 0.0, intent="forecast")

    def respond(self, turn, session):
        return Reply(text="sunny", plugin=self.name, intent="forecast", confidence=0.8)
'''

BAD_PLUGINS = '''
from assistant.contract import Plugin, Reply, RoutingScore

class Nameless(Plugin):
    name = "something_else"
    description = "wrong name"
    def route(self, turn, session): return RoutingScore(0.0)
    def respond(self, turn, session): return Reply(text="", plugin=self.name)

class Incomplete(Plugin):
    name = "incomplete"
    description = "has no respond()"
    def route(self, turn, session): return RoutingScore(0.0)

def not_a_class():
    return None
'''


def install_fake_distribution(root, package: str, source: str, entry_points: dict[str, str]) -> None:
    """Write a package plus a *.dist-info with entry_points.txt, as pip would for a third-party plugin."""
    (root / package).mkdir()
    (root / package / "__init__.py").write_text(textwrap.dedent(source))
    info = root / f"{package}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[assistant.plugins]\n{lines}\n")


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "weather_plugin", GOOD_PLUGIN, {"weather": "weather_plugin:WeatherPlugin"})
    install_fake_distribution(
        site,
        "broken_plugins",
        BAD_PLUGINS,
        {
            "misnamed": "broken_plugins:Nameless",
            "incomplete": "broken_plugins:Incomplete",
            "function": "broken_plugins:not_a_class",
            "missing_module": "no_such_module:Plugin",
        },
    )
    monkeypatch.syspath_prepend(str(site))
    return site


def context_for(settings):
    return PluginContext(settings=settings, models=ModelRegistry(settings.models_dir))


def test_third_party_plugin_is_discovered_and_answers(third_party, settings):
    infos = discover()
    assert infos["weather"].error is None
    plugin = load_plugin("weather", context_for(settings))
    assert plugin.name == "weather"
    assert plugin.respond(None, None).text == "sunny"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("misnamed", "differs from the entry-point name"),
        ("incomplete", "does not implement respond"),
        ("function", "not a subclass of assistant.contract.Plugin"),
        ("missing_module", "importing no_such_module:Plugin failed"),
    ],
)
def test_invalid_plugin_fails_validation_with_its_name_and_a_fix(third_party, settings, name, expected):
    with pytest.raises(PluginValidationError) as caught:
        load_plugin(name, context_for(settings))
    message = str(caught.value)
    assert f"Plugin '{name}'" in message and expected in message and "Fix:" in message


def test_invalid_plugins_do_not_hide_valid_ones(third_party, settings):
    plugins, errors = load_plugins(context_for(settings))
    assert "weather" in plugins
    assert {"misnamed", "incomplete", "function", "missing_module"} <= set(errors)


def test_plugin_can_be_disabled_by_environment_variable(third_party, tmp_path, monkeypatch):
    monkeypatch.setenv("ASSISTANT_DISABLED_PLUGINS", "weather, misnamed")
    settings = load_settings(tmp_path / "data")
    plugins, errors = load_plugins(context_for(settings))
    assert "weather" not in plugins and "misnamed" not in errors
    assert discover(settings.disabled_plugins)["weather"].enabled is False
    with pytest.raises(PluginDisabledError, match="ASSISTANT_DISABLED_PLUGINS"):
        load_plugin("weather", context_for(settings))


def test_plugin_can_be_disabled_in_config_file(third_party, tmp_path, monkeypatch):
    monkeypatch.delenv("ASSISTANT_DISABLED_PLUGINS", raising=False)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "config.toml").write_text('disabled_plugins = ["weather"]\n')
    plugins, _ = load_plugins(context_for(load_settings(tmp_path / "data")))
    assert "weather" not in plugins


def test_unknown_plugin_lists_installed_ones(third_party, settings):
    with pytest.raises(PluginNotFoundError, match="weather"):
        load_plugin("no_such_plugin", context_for(settings))
