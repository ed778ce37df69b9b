"""`assistant ingest PATH --plugin NAME`: add documents to a plugin's knowledge store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from assistant.cli.common import DataDirOption, console, optional_path, user_errors
from assistant.config import Settings, load_settings
from assistant.discovery import discover
from assistant.errors import PluginNotFoundError, StoreError
from knowledge.indexes import INDEX_KINDS
from knowledge.ingest import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, MAX_FILE_BYTES, SUPPORTED_SUFFIXES, IngestSummary


def ingest_into_plugin(
    settings: Settings,
    path: Path,
    plugin: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    index: str | None = None,
    embedding_model: str | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    show_progress: bool = False,
) -> tuple[IngestSummary, int]:
    """Ingest ``path`` into ``plugin``'s store (created on first use); return the summary and the
    store's passage count afterwards. ``index`` converts an existing store when it differs."""
    from knowledge import ingest_path, open_store

    installed = discover(settings.disabled_plugins)
    if plugin not in installed:
        raise PluginNotFoundError(plugin, list(installed))
    if index is not None and index not in INDEX_KINDS:
        raise StoreError(f"Unknown index '{index}'. Use one of: {', '.join(INDEX_KINDS)}.")
    store = open_store(settings.stores_dir / plugin, embedding_model=embedding_model)
    if index is not None and store.index_kind != index:
        store.reindex(index)
    summary = ingest_path(
        store, path, plugin, chunk_size=chunk_size, overlap=overlap, show_progress=show_progress, max_file_bytes=max_file_bytes
    )
    return summary, store.count()


def ingest(
    path: Path = typer.Argument(..., help=f"A file ({', '.join(SUPPORTED_SUFFIXES)}) or a folder of them."),
    plugin: str = typer.Option(..., "--plugin", "-p", help="The plugin whose knowledge store receives the documents."),
    chunk_size: int = typer.Option(DEFAULT_CHUNK_SIZE, "--chunk-size", help="Maximum passage length in characters."),
    overlap: int = typer.Option(DEFAULT_OVERLAP, "--overlap", help="Characters shared by neighbouring passages."),
    index: Optional[str] = typer.Option(
        None, "--index", help="Vector index: 'flat' (exact) or 'approximate' (IVF, for large stores). Converts an existing store."
    ),
    embedding_model: Optional[Path] = typer.Option(
        None, "--embedding-model", help="Local sentence-transformers folder; only when creating the store (default: bundled MiniLM)."
    ),
    max_file_mb: float = typer.Option(MAX_FILE_BYTES / 1e6, "--max-file-mb", help="Refuse files larger than this."),
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """Ingest documents into a plugin's knowledge store; unchanged files are skipped, changed ones replaced."""
    with user_errors():
        model = optional_path(embedding_model)
        summary, total = ingest_into_plugin(
            load_settings(data_dir),
            optional_path(path),
            plugin,
            chunk_size=chunk_size,
            overlap=overlap,
            index=index,
            embedding_model=str(model) if model else None,
            max_file_bytes=int(max_file_mb * 1e6),
            show_progress=True,
        )
        table = Table("added", "replaced", "unchanged", "failed", "passages", "in store", "seconds", title="Ingest summary")
        table.add_row(
            str(summary.added),
            str(summary.replaced),
            str(summary.skipped),
            str(len(summary.errors)),
            str(summary.chunks),
            str(total),
            f"{summary.seconds:.1f}",
        )
        console.print(table)
        for error in summary.errors:
            console.print(f"[yellow]skipped[/] {escape(error)}", highlight=False)
        if summary.errors and not (summary.added or summary.replaced or summary.skipped):
            sys.exit(1)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
