"""Turn files and folders into passages in a knowledge store, idempotently.

* Formats: ``.txt`` and ``.md`` are split into overlapping chunks; ``.csv`` gives one passage
  per data row (the first row is the header; its column names key ``metadata["fields"]``);
  ``.jsonl`` gives one passage per line (an object's keys go to ``metadata["fields"]``).
  A passage is always the exact source text — the raw CSV row or JSON line, not a
  re-rendering — so ``read_source_text(file)[hit.start:hit.end] == hit.text``.
* Source names: a file inside an ingested folder is named by its path relative to that folder
  (``"faq/returns.md"``); a file ingested on its own by its file name. Re-ingesting the same
  name replaces that source, so keep the same root folder when you re-ingest.
* Idempotency: every passage records its source's SHA-256 and chunking settings. A source
  whose stored passages carry the same hash, settings and plugin is skipped; a changed one has
  all its old passages replaced. Documents removed from a folder stay in the store until you
  delete them (``store.delete(store.ids({"source": name}))``).
* Bad files (empty, binary, not UTF-8, over the size limit, malformed CSV/JSONL, unsupported
  type) are reported in ``IngestSummary.errors`` and skipped; the other files are ingested.
* One ingest is one store transaction: if it is interrupted, the store keeps its previous
  contents entirely.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from assistant.errors import StoreError
from knowledge.chunking import chunk_text, csv_records, jsonl_lines
from knowledge.documents import Document
from knowledge.protocol import KnowledgeStore

SUPPORTED_SUFFIXES = (".txt", ".md", ".csv", ".jsonl")
DEFAULT_CHUNK_SIZE = 800
DEFAULT_OVERLAP = 120
#: Larger files take tens of minutes to embed on a CPU and are usually a mistake (a dump, a log).
MAX_FILE_BYTES = 20_000_000
#: Passages embedded (and progress reported) per batch.
EMBED_BATCH = 64

ProgressCallback = Callable[[int, int, str], None]


@dataclass
class IngestSummary:
    """What one ingest did. ``added``/``replaced``/``skipped`` count files; ``chunks`` counts the
    passages written by this run; ``errors`` holds one "source: reason" line per file not ingested."""

    added: int = 0
    replaced: int = 0
    skipped: int = 0
    chunks: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Parsed:
    source: str
    documents: list[Document]
    content_hash: str


class _FileProblem(Exception):
    """A reason one file cannot be ingested; reported in the summary, never raised to callers."""


def read_source_text(path: Path) -> str:
    """A source file's text exactly as ingestion saw it (strict UTF-8, newlines untouched), which
    is what ``Hit.start``/``Hit.end`` index into."""
    return Path(path).read_bytes().decode("utf-8")


def ingest_path(
    store: KnowledgeStore,
    path: Path,
    plugin: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    on_progress: ProgressCallback | None = None,
    show_progress: bool = False,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> IngestSummary:
    """Ingest a file or a folder (recursively; hidden entries ignored) into ``store`` for ``plugin``.

    ``on_progress(done, total, source)`` is called after each batch of passages is embedded;
    ``done`` and ``total`` count the passages this run embeds and ``source`` names the file of
    the batch's last passage (unchanged and failed files are not embedded, so a run that only
    skips files never calls it). ``show_progress`` draws a
    progress bar on the terminal.
    """
    if chunk_size < 50 or not 0 <= overlap < chunk_size // 2:
        raise StoreError(
            f"Invalid chunking: chunk_size={chunk_size}, overlap={overlap}. Use chunk_size >= 50 and "
            "0 <= overlap < chunk_size / 2."
        )
    started = time.perf_counter()
    root = Path(path).expanduser()
    if not root.exists():
        raise StoreError(f"{root} does not exist. Pass a {', '.join(SUPPORTED_SUFFIXES)} file or a folder of them.")
    summary = IngestSummary()
    files = _list_files(root)
    if not files:
        summary.errors.append(f"{root}: no {', '.join(SUPPORTED_SUFFIXES)} files found")
    chunking = f"{chunk_size}/{overlap}"
    pending: list[_Parsed] = []
    replacing: set[str] = set()
    for file, source in files:
        try:
            parsed = _parse(file, source, plugin, chunk_size, overlap, chunking, max_file_bytes)
        except _FileProblem as problem:
            summary.errors.append(f"{source}: {problem}")
            continue
        stored = store.count({"source": source})
        unchanged = {"source": source, "content_hash": parsed.content_hash, "chunking": chunking, "plugin": plugin}
        if stored and store.count(unchanged) == stored == len(parsed.documents):
            summary.skipped += 1
            continue
        if stored:
            replacing.add(source)
        pending.append(parsed)

    documents = [document for parsed in pending for document in parsed.documents]
    bar = _ProgressBar(len(documents)) if show_progress and documents else nullcontext()
    with bar as progress, store.transaction() as writer:
        for source in replacing:
            writer.delete(store.ids({"source": source}))
        # Batches span files, so folders of small files still embed in full batches.
        for offset in range(0, len(documents), EMBED_BATCH):
            batch = documents[offset : offset + EMBED_BATCH]
            writer.upsert(batch)
            done = offset + len(batch)
            if on_progress is not None:
                on_progress(done, len(documents), batch[-1].source)
            if progress is not None:
                progress[0].update(progress[1], completed=done, description=batch[-1].source)
    summary.chunks = len(documents)
    summary.replaced = len(replacing)
    summary.added = len(pending) - len(replacing)
    summary.seconds = time.perf_counter() - started
    return summary


class _ProgressBar:
    """A rich progress bar over the passages to embed; yields (progress, task)."""

    def __init__(self, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}", style="cyan"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        )
        self.task = self.progress.add_task("embedding", total=total)

    def __enter__(self):
        self.progress.__enter__()
        return self.progress, self.task

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)


def _list_files(root: Path) -> list[tuple[Path, str]]:
    """(file, source name) pairs; unsupported files inside folders are ignored, a single one is kept
    so that it is reported."""
    if root.is_file():
        return [(root, root.name)]
    found = []
    for file in sorted(root.rglob("*")):
        relative = file.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or not file.is_file():
            continue
        if file.suffix.lower() in SUPPORTED_SUFFIXES:
            found.append((file, relative.as_posix()))
    return found


def _parse(
    file: Path, source: str, plugin: str, chunk_size: int, overlap: int, chunking: str, max_file_bytes: int
) -> _Parsed:
    suffix = file.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise _FileProblem(f"unsupported file type '{suffix or file.name}'; ingest {', '.join(SUPPORTED_SUFFIXES)} files")
    size = file.stat().st_size
    if size == 0:
        raise _FileProblem("the file is empty")
    if size > max_file_bytes:
        raise _FileProblem(
            f"the file is {size / 1e6:.1f} MB; the limit is {max_file_bytes / 1e6:g} MB per file. "
            "Split it into smaller files (or raise the limit with --max-file-mb)"
        )
    raw = file.read_bytes()
    if b"\x00" in raw[:8192]:
        raise _FileProblem("the file looks binary (it contains NUL bytes); only UTF-8 text can be ingested")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _FileProblem(
            f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); re-save it as UTF-8"
        ) from exc
    if not text.strip(" \t\r\n\f\v\ufeff"):
        raise _FileProblem("the file contains only whitespace")
    content_hash = hashlib.sha256(raw).hexdigest()
    base = {"plugin": plugin, "source": source, "path": str(file.resolve()), "content_hash": content_hash, "chunking": chunking}
    pieces: list[tuple[int, int, dict]] = []
    if suffix == ".csv":
        pieces = _csv_pieces(text, chunk_size, overlap)
    elif suffix == ".jsonl":
        pieces = _jsonl_pieces(text, chunk_size, overlap)
    else:
        pieces = [(start, end, {}) for start, end in chunk_text(text, chunk_size, overlap)]
    if not pieces:
        raise _FileProblem("no passages found (a CSV needs a header row and at least one data row)")
    documents = [
        Document(
            id=f"{source}#{number}",
            text=text[start:end],
            source=source,
            start=start,
            metadata={**base, "chunk": number, **extra},
        )
        for number, (start, end, extra) in enumerate(pieces)
    ]
    return _Parsed(source=source, documents=documents, content_hash=content_hash)


def _csv_pieces(text: str, chunk_size: int, overlap: int) -> list[tuple[int, int, dict]]:
    pieces: list[tuple[int, int, dict]] = []
    header: list[str] | None = None
    rows = 0
    try:
        for line, start, end, fields in csv_records(text):
            if header is None:
                header = [name.lstrip("\ufeff").strip() for name in fields]
                continue
            rows += 1
            extra = {"row": rows, "line": line, "fields": dict(zip(header, fields))}
            pieces.extend((a, b, extra) for a, b in chunk_text(text, chunk_size, overlap, start, end))
    except csv.Error as exc:
        raise _FileProblem(f"malformed CSV ({exc})") from exc
    return pieces


def _jsonl_pieces(text: str, chunk_size: int, overlap: int) -> list[tuple[int, int, dict]]:
    pieces: list[tuple[int, int, dict]] = []
    for line, start, end in jsonl_lines(text):
        try:
            value = json.loads(text[start:end])
        except ValueError as exc:
            raise _FileProblem(f"line {line} is not valid JSON ({exc})") from exc
        extra = {"line": line, "fields": value} if isinstance(value, dict) else {"line": line}
        pieces.extend((a, b, extra) for a, b in chunk_text(text, chunk_size, overlap, start, end))
    return pieces
