"""Find plugins through the ``assistant.plugins`` entry-point group and validate them on load.

Built-in plugins are registered in this project's ``pyproject.toml`` exactly like a
third-party package registers its own, so there is one discovery path for all.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from assistant.contract import TASKS, ModelSpec, Plugin, PluginContext
from assistant.errors import PluginDisabledError, PluginNotFoundError, PluginValidationError

ENTRY_POINT_GROUP = "assistant.plugins"


@dataclass
class PluginInfo:
    """An installed plugin as discovery sees it, valid or not, enabled or not."""

    name: str
    entry_point: EntryPoint
    enabled: bool
    plugin_class: type[Plugin] | None = None
    error: PluginValidationError | None = None


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def validate_plugin_class(name: str, obj: object) -> type[Plugin]:
    """Check what can be checked without loading models; raise PluginValidationError naming the fix."""
    if not (inspect.isclass(obj) and issubclass(obj, Plugin)):
        raise PluginValidationError(
            name,
            f"entry point resolves to {obj!r}, not a subclass of assistant.contract.Plugin",
            "point the entry point at a class that subclasses assistant.contract.Plugin",
        )
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise PluginValidationError(name, f"{obj.__name__} does not implement {missing}", f"implement {missing}")
    declared = getattr(obj, "name", None)
    if declared != name:
        raise PluginValidationError(
            name,
            f"class attribute name={declared!r} differs from the entry-point name {name!r}",
            f"set `name = {name!r}` on {obj.__name__} or rename the entry point",
        )
    if not isinstance(getattr(obj, "description", None), str) or not obj.description.strip():
        raise PluginValidationError(name, "it has no description", f"set a one-sentence `description` on {obj.__name__}")
    return obj


def validate_model_specs(name: str, specs: list[ModelSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        if not isinstance(spec, ModelSpec):
            raise PluginValidationError(name, f"model_specs() returned {spec!r}", "return a list of assistant.contract.ModelSpec")
        if spec.task not in TASKS:
            raise PluginValidationError(name, f"model '{spec.name}' has unknown task '{spec.task}'", f"use one of {', '.join(TASKS)}")
        if spec.name in seen:
            raise PluginValidationError(name, f"model name '{spec.name}' is declared twice", "give each model a unique name")
        seen.add(spec.name)


def discover(disabled: frozenset[str] | set[str] = frozenset()) -> dict[str, PluginInfo]:
    """Every installed plugin; loading errors are recorded, not raised, so one broken
    plugin never hides the others."""
    infos: dict[str, PluginInfo] = {}
    for name, ep in sorted(_entry_points().items()):
        info = PluginInfo(name=name, entry_point=ep, enabled=name not in disabled)
        if info.enabled:
            try:
                info.plugin_class = validate_plugin_class(name, ep.load())
            except PluginValidationError as exc:
                info.error = exc
            except Exception as exc:  # an import error in third-party code
                info.error = PluginValidationError(
                    name, f"importing {ep.value} failed: {exc!r}", f"fix the plugin package or disable it (ASSISTANT_DISABLED_PLUGINS={name})"
                )
        infos[name] = info
    return infos


def load_plugin(name: str, context: PluginContext) -> Plugin:
    """Instantiate one plugin by name (validated); raises a clear error when unknown, disabled or invalid."""
    infos = discover(context.settings.disabled_plugins)
    if name not in infos:
        raise PluginNotFoundError(name, list(infos))
    info = infos[name]
    if not info.enabled:
        raise PluginDisabledError(name)
    if info.error:
        raise info.error
    plugin = info.plugin_class(context)
    validate_model_specs(name, plugin.model_specs())
    return plugin


def load_plugins(context: PluginContext) -> tuple[dict[str, Plugin], dict[str, str]]:
    """All enabled, valid plugins, plus the errors of those that failed validation."""
    plugins: dict[str, Plugin] = {}
    errors: dict[str, str] = {}
    for name, info in discover(context.settings.disabled_plugins).items():
        if not info.enabled:
            continue
        if info.error:
            errors[name] = str(info.error)
            continue
        try:
            plugin = info.plugin_class(context)
            validate_model_specs(name, plugin.model_specs())
        except PluginValidationError as exc:
            errors[name] = str(exc)
            continue
        plugins[name] = plugin
    return plugins, errors
