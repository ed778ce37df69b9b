"""Building the app is cheap (no model loading) and the optional login is read safely."""

from __future__ import annotations

import socket

import gradio as gr
import httpx
import pytest

from assistant.contract import PluginContext
from assistant.engine import DialogEngine
from assistant.errors import UILoginConfigError
from assistant.models.registry import ModelRegistry
from tests.ui.showcase_plugin import ShowcasePlugin
from ui.app import PASSWORD_ENV, USERNAME_ENV, build_app, launch, ui_credentials


class CountingPlugin(ShowcasePlugin):
    warm_ups = 0

    def warm_up(self):
        type(self).warm_ups += 1


@pytest.fixture(autouse=True)
def no_login_env(monkeypatch):
    monkeypatch.delenv(USERNAME_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)


def test_building_the_app_loads_no_model(settings):
    context = PluginContext(settings=settings, models=ModelRegistry(settings.models_dir))
    engine = DialogEngine(settings, plugins={"showcase": CountingPlugin(context)})
    demo = build_app(engine)
    assert isinstance(demo, gr.Blocks)
    assert CountingPlugin.warm_ups == 0
    labels = {getattr(block, "label", None) for block in demo.blocks.values()}
    assert {"Chat", "Knowledge", "Models", "Conversation", "Documents"} <= labels


def test_no_login_by_default(settings):
    assert ui_credentials(settings) is None


def test_login_from_environment(settings, monkeypatch):
    monkeypatch.setenv(USERNAME_ENV, "ada")
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    assert ui_credentials(settings) == ("ada", "s3cret")


def test_login_from_config_file(settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "config.toml").write_text('[ui]\nusername = "bob"\npassword = "pw"\n', encoding="utf-8")
    assert ui_credentials(settings) == ("bob", "pw")


def test_half_configured_login_is_refused(settings, monkeypatch):
    monkeypatch.setenv(USERNAME_ENV, "ada")
    with pytest.raises(UILoginConfigError, match=PASSWORD_ENV):
        ui_credentials(settings)


def test_launched_app_requires_the_configured_login(settings):
    context = PluginContext(settings=settings, models=ModelRegistry(settings.models_dir))
    engine = DialogEngine(settings, plugins={"showcase": ShowcasePlugin(context)})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = launch(engine, port=port, auth=("ada", "s3cret"), block=False)
    try:
        url = f"http://127.0.0.1:{port}/"
        with httpx.Client() as client:
            assert client.get(url + "config").status_code == 401
            assert client.post(url + "login", data={"username": "ada", "password": "wrong"}).status_code == 400
            assert client.post(url + "login", data={"username": "ada", "password": "s3cret"}).status_code == 200
            assert client.get(url + "config").status_code == 200
    finally:
        demo.close()
