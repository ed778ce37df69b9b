"""The models tab: per plugin, each model's versions and metrics; fine-tune in the background;
activate or roll back a version.

A running assistant picks up a newly active version on its next turn (the registry's
``ActiveModel`` watches ``ACTIVE``), so nothing here restarts or reloads the engine.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import gradio as gr

from assistant.engine import DialogEngine
from assistant.errors import AssistantError
from assistant.models.registry import Manifest

if TYPE_CHECKING:
    from assistant.training import FinetuneResult

#: How many progress messages the job keeps, and how many of the latest the tab shows.
LOG_LINES = 200
LOG_SHOWN = 12


def metrics_text(manifest: Manifest) -> str:
    """Scalar metrics of a version, the primary (gating) metric first."""
    scalars = {k: v for k, v in manifest.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    order = sorted(scalars, key=lambda k: (k != manifest.primary_metric, k))
    return ", ".join(f"{k}={scalars[k]:.3f}" if isinstance(scalars[k], float) else f"{k}={scalars[k]}" for k in order)


def model_rows(engine: DialogEngine, plugin: str) -> list[list[str]]:
    """One row per model the plugin trains: name, task, active version, known versions, active metrics."""
    registry = engine.context.models
    rows = []
    for spec in engine.plugins[plugin].model_specs():
        versions = [v.version for v in registry.versions(plugin, spec.name)]
        try:
            active = registry.active_name(plugin, spec.name)
            metrics = metrics_text(registry.active(plugin, spec.name).manifest()) if active else ""
        except AssistantError as exc:
            active, metrics = "broken", str(exc)
        rows.append([spec.name, spec.task, active or "not trained", ", ".join(versions) or "-", metrics])
    return rows


def version_rows(engine: DialogEngine, plugin: str, model: str) -> list[list[str]]:
    """Every version of one model, newest first, with its metrics and whether it is active."""
    registry = engine.context.models
    active = registry.active_name(plugin, model)
    rows = []
    for version in reversed(registry.versions(plugin, model)):
        try:
            manifest = version.manifest()
            details = [manifest.created, metrics_text(manifest), "yes" if manifest.quantized else "no"]
        except AssistantError as exc:
            details = ["", str(exc), ""]
        rows.append([version.version, "✔" if version.version == active else "", *details])
    return rows


def activate_version(engine: DialogEngine, plugin: str, model: str, version: str) -> str:
    engine.context.models.activate(plugin, model, version)
    return f"Activated {plugin}/{model} {version}; the next message uses it."


def rollback_version(engine: DialogEngine, plugin: str, model: str) -> str:
    restored = engine.context.models.rollback(plugin, model)
    return f"Rolled {plugin}/{model} back to {restored.version}; the next message uses it."


def result_line(result: FinetuneResult) -> str:
    """One line per trained model: version, primary metric, whether it went live and why."""
    score = result.metrics.get(result.primary_metric)
    metric = f"{result.primary_metric}={score:.3f}" if isinstance(score, (int, float)) else result.primary_metric
    status = "activated" if result.activated else "kept inactive"
    return f"{result.plugin}/{result.model} {result.version}: {metric}, {status} ({result.reason}) in {result.wall_time_s:.0f} s"


class FinetuneJob:
    """At most one fine-tune at a time for this UI process (training takes every CPU core)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.plugin: str | None = None
        self.status = "idle"
        self.latest: dict[str, Any] = {}
        self.log: list[str] = []

    @property
    def running(self) -> bool:
        return self.status == "running"

    def start(self, engine: DialogEngine, plugin: str, model: str | None = None, epochs: int | None = None, force: bool = False) -> None:
        """Fine-tune ``plugin`` (one ``model`` or all, with its documents) in a background thread; one run at a time."""
        with self._lock:
            if self.running:
                raise AssistantError(f"A fine-tune of '{self.plugin}' is already running; wait for it to finish.")
            self.plugin, self.status, self.latest, self.log = plugin, "running", {}, []
            self._thread = threading.Thread(target=self._run, args=(engine, plugin, model, epochs, force), daemon=True, name=f"finetune-{plugin}")
            self._thread.start()

    def _on_progress(self, event: dict) -> None:
        with self._lock:
            self.latest = dict(event)
            line = f"{event.get('model', '?')} · {event.get('stage', '')}"
            if event.get("total"):
                line += f" {event.get('step', 0)}/{event['total']}"
            if event.get("message"):
                line += f" · {event['message']}"
            self.log = (self.log + [line])[-LOG_LINES:]

    def _run(self, engine: DialogEngine, plugin: str, model: str | None, epochs: int | None, force: bool) -> None:
        from assistant.training import finetune_plugin  # imports torch/transformers: only when a run starts

        try:
            results = finetune_plugin(
                engine.plugins[plugin], engine.settings, model=model, epochs=epochs, force=force, on_progress=self._on_progress
            )
            outcome, lines = "finished", [result_line(r) for r in results]
        except AssistantError as exc:
            outcome, lines = "failed", [str(exc)]
        except Exception as exc:  # a background thread must report, not vanish silently
            outcome, lines = "failed", [f"{type(exc).__name__}: {exc}"]
        with self._lock:
            self.status = outcome
            self.log = (self.log + lines)[-LOG_LINES:]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"plugin": self.plugin, "status": self.status, "latest": dict(self.latest), "log": list(self.log), "running": self.status == "running"}


def progress_markdown(snapshot: dict[str, Any]) -> str:
    if snapshot["status"] == "idle":
        return "No fine-tune started yet."
    latest = snapshot["latest"]
    line = f"**{snapshot['plugin']}: {snapshot['status']}**"
    if snapshot["running"] and latest:
        line += f" · {latest.get('model', '')} {latest.get('stage', '')}"
        if latest.get("total"):
            fraction = min(1.0, latest.get("step", 0) / latest["total"])
            line += f" · {latest.get('step', 0)}/{latest['total']} ({fraction:.0%})"
    return line


MODEL_HEADERS = ["model", "task", "active", "versions", "metrics (active)"]
VERSION_HEADERS = ["version", "active", "created", "metrics", "quantized"]
#: Fine-tune target meaning "every model of the plugin, then its documents".
ALL_MODELS = "(all)"


def model_names(engine: DialogEngine, plugin: str | None) -> list[str]:
    return [spec.name for spec in engine.plugins[plugin].model_specs()] if plugin else []


def build_models_tab(demo: gr.Blocks, engine: DialogEngine, job: FinetuneJob) -> None:
    """Lay out the models tab inside ``demo`` and wire its events; tables fill in when a page loads."""
    names = list(engine.plugins)
    with gr.Row():
        plugin = gr.Dropdown(choices=names, value=names[0] if names else None, label="Plugin", scale=1)
        refresh = gr.Button("Refresh", scale=0)
    overview = gr.Dataframe(headers=MODEL_HEADERS, interactive=False, label="Models")
    with gr.Row():
        model = gr.Dropdown(choices=[], label="Model", scale=1)
        version = gr.Dropdown(choices=[], label="Version", scale=1)
        activate = gr.Button("Activate version", scale=0)
        rollback = gr.Button("Roll back", scale=0)
    versions = gr.Dataframe(headers=VERSION_HEADERS, interactive=False, label="Versions")
    notice = gr.Markdown()
    gr.Markdown("### Fine-tune")
    with gr.Row():
        target = gr.Dropdown(choices=[], label="Train", info="All models also re-ingests the plugin's documents.", scale=1)
        epochs = gr.Number(value=0, label="Epochs (0: plugin default)", precision=0, minimum=0, scale=1)
        force = gr.Checkbox(label="Activate even if worse than the active version", scale=1)
        start = gr.Button("Start fine-tune", variant="primary", scale=0, elem_id="start-finetune")
    status = gr.Markdown(elem_id="finetune-status")
    log = gr.Textbox(label="Progress (latest messages)", lines=LOG_SHOWN, max_lines=LOG_SHOWN, interactive=False)
    timer = gr.Timer(1.0, active=False)

    def show_model(name: str | None, model_name: str | None):
        rows = version_rows(engine, name, model_name) if name and model_name else []
        return rows, gr.Dropdown(choices=[r[0] for r in rows], value=rows[0][0] if rows else None)

    def show_plugin(name: str | None):
        models = model_names(engine, name)
        chosen = models[0] if models else None
        targets = [("All models and documents", ALL_MODELS)] + [(m, m) for m in models]
        return (
            model_rows(engine, name) if name else [],
            gr.Dropdown(choices=models, value=chosen),
            *show_model(name, chosen),
            gr.Dropdown(choices=targets, value=ALL_MODELS),
        )

    def run_action(action, name: str, model_name: str, *args):
        try:
            message = action(engine, name, model_name, *args)
        except AssistantError as exc:
            message = f"**Error:** {exc}"
        return (message, model_rows(engine, name), *show_model(name, model_name))

    def start_job(name: str | None, chosen: str | None, n_epochs: float | None, activate_anyway: bool):
        if not name:
            raise gr.Error("Choose a plugin first.")
        try:
            job.start(engine, name, None if chosen in (None, ALL_MODELS) else chosen, int(n_epochs) if n_epochs else None, activate_anyway)
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc
        return progress_markdown(job.snapshot()), "", gr.Timer(active=True)

    def poll(name: str | None, model_name: str | None):
        snap = job.snapshot()
        if snap["running"] or not name:
            tables = (gr.skip(), gr.skip(), gr.skip())
        else:  # the run just ended: show the new versions
            tables = (model_rows(engine, name), *show_model(name, model_name))
        return (progress_markdown(snap), "\n".join(snap["log"][-LOG_SHOWN:]), gr.Timer(active=snap["running"]), *tables)

    def on_load(name: str | None):
        snap = job.snapshot()
        return (*show_plugin(name), progress_markdown(snap), "\n".join(snap["log"][-LOG_SHOWN:]), gr.Timer(active=snap["running"]))

    plugin_views = [overview, model, versions, version, target]
    demo.load(on_load, [plugin], [*plugin_views, status, log, timer])
    plugin.change(show_plugin, [plugin], plugin_views)
    refresh.click(show_plugin, [plugin], plugin_views)
    model.change(show_model, [plugin, model], [versions, version])
    activate.click(lambda p, m, v: run_action(activate_version, p, m, v), [plugin, model, version], [notice, overview, versions, version])
    rollback.click(lambda p, m: run_action(rollback_version, p, m), [plugin, model], [notice, overview, versions, version])
    start.click(start_job, [plugin, target, epochs, force], [status, log, timer])
    timer.tick(poll, [plugin, model], [status, log, timer, overview, versions, version])
