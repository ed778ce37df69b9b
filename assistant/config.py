"""Settings resolved from (in order) explicit arguments, environment variables and `config.toml`.

Everything the framework persists lives under one data directory so a user can
move, back up or wipe an assistant by handling a single folder.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import AssistantError

DATA_DIR_ENV = "ASSISTANT_DATA_DIR"
DISABLED_ENV = "ASSISTANT_DISABLED_PLUGINS"
BASE_MODEL_ENV = "ASSISTANT_BASE_MODEL"
DEFAULT_DATA_DIR = Path.home() / ".assistant"

#: Messages longer than this are refused before any model sees them.
MAX_MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    disabled_plugins: frozenset[str] = field(default_factory=frozenset)
    #: Below this routing confidence the engine asks the user to rephrase instead of guessing.
    routing_threshold: float = 0.35
    base_model: str | None = None

    @property
    def sessions_db(self) -> Path:
        return self.data_dir / "sessions.sqlite"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def stores_dir(self) -> Path:
        return self.data_dir / "stores"

    def plugin_dir(self, plugin: str) -> Path:
        """A folder a plugin owns for its own state (databases, tickets, monitors)."""
        return self.data_dir / "plugins" / plugin


def _split_names(value: str) -> set[str]:
    return {name.strip() for name in value.split(",") if name.strip()}


def load_settings(data_dir: str | Path | None = None, disabled: set[str] | None = None) -> Settings:
    """Resolve settings; `data_dir/config.toml` is optional and may set `disabled_plugins`,
    `routing_threshold` and `base_model`."""
    root = Path(data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()
    file_config: dict = {}
    config_path = root / "config.toml"
    if config_path.exists():
        try:
            file_config = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise AssistantError(f"{config_path} is not valid TOML ({exc}). Fix or delete the file.") from exc
    names = set(file_config.get("disabled_plugins", []))
    names |= _split_names(os.environ.get(DISABLED_ENV, ""))
    names |= set(disabled or ())
    return Settings(
        data_dir=root,
        disabled_plugins=frozenset(names),
        routing_threshold=float(file_config.get("routing_threshold", Settings.routing_threshold)),
        base_model=os.environ.get(BASE_MODEL_ENV) or file_config.get("base_model"),
    )
