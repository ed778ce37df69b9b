"""The knowledge tab: upload documents into a plugin's store through `knowledge.ingest_path`,
the same code path as `assistant ingest`, with a per-file size limit and clear refusals.

Uploads are copied to ``<data_dir>/uploads/<plugin>/`` before ingestion, so the source a
passage cites is the document's own name and the file outlives Gradio's temp folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import gradio as gr

from assistant.config import Settings
from assistant.engine import DialogEngine
from assistant.errors import AssistantError, UnsupportedUploadError, UploadTooLargeError

SUPPORTED_SUFFIXES = (".txt", ".md", ".csv", ".jsonl")
DEFAULT_MAX_UPLOAD_MB = 20.0


@dataclass
class UploadReport:
    """What happened to one batch of uploads: refusals before ingestion, then the ingest summary."""

    rejected: dict[str, str] = field(default_factory=dict)
    ingested: list[str] = field(default_factory=list)
    summary: object | None = None


def upload_dir(settings: Settings, plugin: str) -> Path:
    return settings.data_dir / "uploads" / plugin


def check_upload(path: Path, max_mb: float) -> None:
    """Raise a clear error when the file's type is unsupported or it is over the size limit."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise UnsupportedUploadError(path.name, SUPPORTED_SUFFIXES)
    size = path.stat().st_size
    if size > max_mb * 1_000_000:
        raise UploadTooLargeError(path.name, size, max_mb)


def _keep_copy(source: Path, folder: Path) -> Path:
    """Copy an upload next to earlier ones (temp name, then rename) so a failed copy leaves nothing half-written."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{source.name}.", suffix=".part")
    os.close(fd)
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return target


def ingest_uploads(
    settings: Settings,
    plugin: str,
    paths: list[Path],
    *,
    max_mb: float = DEFAULT_MAX_UPLOAD_MB,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> UploadReport:
    """Check every file, keep a copy of the accepted ones and ingest them into ``plugin``'s store."""
    from knowledge import ingest_path, open_store

    report = UploadReport()
    accepted: list[Path] = []
    for path in map(Path, paths):
        try:
            check_upload(path, max_mb)
        except AssistantError as exc:
            report.rejected[path.name] = str(exc)
            continue
        accepted.append(path)
    if not accepted:
        return report
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=_ensure(upload_dir(settings, plugin))))
    try:
        for path in accepted:
            _keep_copy(path, staging)
        store = open_store(settings.stores_dir / plugin)
        report.summary = ingest_path(store, staging, plugin, on_progress=on_progress)
        for path in accepted:
            os.replace(staging / path.name, upload_dir(settings, plugin) / path.name)
            report.ingested.append(path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def report_markdown(report: UploadReport) -> str:
    """A short summary for the tab: counts from the ingest, then each refused file with its reason."""
    lines: list[str] = []
    summary = report.summary
    if summary is not None:
        lines.append(
            f"**Ingested {len(report.ingested)} file(s):** {summary.added} added, {summary.replaced} replaced, "
            f"{summary.skipped} unchanged, {summary.chunks} passages indexed."
        )
        for error in summary.errors:
            lines.append(f"- {error}")
    if report.rejected:
        lines.append(f"**Refused {len(report.rejected)} file(s):**")
        lines.extend(f"- {reason}" for reason in report.rejected.values())
    return "\n".join(lines) or "No files were uploaded."


def build_knowledge_tab(engine: DialogEngine, max_mb: float) -> None:
    """Lay out the knowledge tab inside the current Blocks context and wire the upload."""
    gr.Markdown(
        f"Add documents to a plugin's knowledge store; its answers can cite them right away. "
        f"Supported: {', '.join(SUPPORTED_SUFFIXES)} · up to {max_mb:g} MB per file."
    )
    with gr.Row():
        plugin = gr.Dropdown(choices=list(engine.plugins), value=next(iter(engine.plugins), None), label="Plugin", scale=1)
        files = gr.File(label="Documents", file_count="multiple", scale=3, elem_id="knowledge-files")
    ingest = gr.Button("Ingest", variant="primary", elem_id="ingest")
    summary = gr.Markdown(elem_id="ingest-summary")

    def run(name: str | None, uploaded: list[str] | None, progress=gr.Progress()):
        if not name:
            raise gr.Error("Choose a plugin first.")
        if not uploaded:
            raise gr.Error("Choose one or more files to upload.")

        def on_progress(done: int, total: int, label: str) -> None:
            progress((done, total), desc=f"Ingesting {label}")

        try:
            report = ingest_uploads(engine.settings, name, [Path(p) for p in uploaded], max_mb=max_mb, on_progress=on_progress)
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc
        return report_markdown(report), None

    ingest.click(run, [plugin, files], [summary, files])
