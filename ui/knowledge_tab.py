"""The knowledge tab: upload documents into a plugin's store through `knowledge.ingest_path`,
the same code path as `assistant ingest`, with a per-file size limit and clear refusals.

Each accepted upload is kept in ``<data_dir>/uploads/<plugin>/`` and ingested from there, so
the source a passage cites is the document's own name and the file outlives Gradio's temp
folder. The running plugins see new passages on their next search (the store publishes
snapshots that readers pick up), so nothing restarts.
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
from knowledge import IngestSummary, ingest_path, open_store
from knowledge.ingest import SUPPORTED_SUFFIXES

DEFAULT_MAX_UPLOAD_MB = 20.0


@dataclass
class UploadReport:
    """What happened to one batch of uploads: refusals before ingestion, then the merged ingest summary."""

    rejected: dict[str, str] = field(default_factory=dict)
    summary: IngestSummary = field(default_factory=IngestSummary)

    @property
    def ingested(self) -> int:
        return self.summary.added + self.summary.replaced + self.summary.skipped


def upload_dir(settings: Settings, plugin: str) -> Path:
    return settings.data_dir / "uploads" / plugin


def check_upload(path: Path, max_mb: float) -> None:
    """Raise a clear error when the file's type is unsupported or it is over the size limit."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise UnsupportedUploadError(path.name, SUPPORTED_SUFFIXES)
    size = path.stat().st_size
    if size > max_mb * 1_000_000:
        raise UploadTooLargeError(path.name, size, max_mb)


def _copy_atomically(source: Path, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _merge(total: IngestSummary, part: IngestSummary) -> None:
    total.added += part.added
    total.replaced += part.replaced
    total.skipped += part.skipped
    total.chunks += part.chunks
    total.errors.extend(part.errors)
    total.seconds += part.seconds


def _ingest_one(store, upload: Path, folder: Path, plugin: str, max_mb: float, on_progress) -> IngestSummary:
    """Keep a copy of ``upload`` in ``folder`` and ingest it; a file the store refuses leaves the
    previous copy of the same name in place."""
    target = folder / upload.name
    previous = folder / f".{upload.name}.previous"
    had_previous = target.exists()
    if had_previous:
        os.replace(target, previous)
    summary: IngestSummary | None = None
    try:
        _copy_atomically(upload, target)
        summary = ingest_path(store, target, plugin, on_progress=on_progress, max_file_bytes=int(max_mb * 1_000_000))
    finally:
        if summary is None or summary.errors:
            target.unlink(missing_ok=True)
            if had_previous:
                os.replace(previous, target)
        elif had_previous:
            previous.unlink()
    return summary


def ingest_uploads(
    settings: Settings,
    plugin: str,
    paths: list[Path],
    *,
    max_mb: float = DEFAULT_MAX_UPLOAD_MB,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> UploadReport:
    """Check every file, then ingest the accepted ones one by one into ``plugin``'s store.

    ``on_progress(done, total, label)`` counts files; the label names the file and its passages.
    """
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
    folder = upload_dir(settings, plugin)
    folder.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.stores_dir / plugin)
    for number, path in enumerate(accepted):

        def file_progress(done: int, total: int, source: str, number=number) -> None:
            if on_progress is not None:
                on_progress(number, len(accepted), f"{source}: {done}/{total} passages")

        file_progress(0, 0, path.name)
        _merge(report.summary, _ingest_one(store, path, folder, plugin, max_mb, file_progress))
    if on_progress is not None:
        on_progress(len(accepted), len(accepted), "done")
    return report


def report_markdown(report: UploadReport) -> str:
    """A short summary for the tab: counts from the ingest, then each refused file with its reason."""
    lines: list[str] = []
    summary = report.summary
    if report.ingested or summary.errors:
        lines.append(
            f"**Ingested {report.ingested} file(s):** {summary.added} new, {summary.replaced} replaced, "
            f"{summary.skipped} unchanged; {summary.chunks} passages indexed."
        )
    if summary.errors:
        lines.append(f"**Not ingested ({len(summary.errors)}):**")
        lines.extend(f"- {error}" for error in summary.errors)
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
        plugin = gr.Dropdown(
            choices=list(engine.plugins), value=next(iter(engine.plugins), None), label="Plugin", scale=1, elem_id="knowledge-plugin"
        )
        files = gr.File(label="Documents", file_count="multiple", scale=3, elem_id="knowledge-files")
    ingest = gr.Button("Ingest", variant="primary", elem_id="ingest")
    summary = gr.Markdown(elem_id="ingest-summary")

    def run(name: str | None, uploaded: list[str] | None, progress=gr.Progress()):
        if not name:
            raise gr.Error("Choose a plugin first.")
        if not uploaded:
            raise gr.Error("Choose one or more files to upload.")

        def on_progress(done: int, total: int, label: str) -> None:
            progress((done, total), desc=label, unit="files")

        try:
            report = ingest_uploads(engine.settings, name, [Path(p) for p in uploaded], max_mb=max_mb, on_progress=on_progress)
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc
        return report_markdown(report), None

    ingest.click(run, [plugin, files], [summary, files])
