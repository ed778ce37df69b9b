"""The default knowledge store: sentence-transformers embeddings in FAISS, text and metadata in
SQLite, keyword search with BM25 — persisted as immutable, versioned snapshots.

Layout of a store folder::

    CURRENT                  {"snapshot": "snap-00000007"}   (replaced atomically)
    snap-00000007/
        manifest.json        format version, embedding model, dimension, index settings, count
        chunks.sqlite        text, source, offsets, metadata and embedding of every passage
        index.faiss          the vector index (absent while the store is empty)
        bm25/                the BM25 index (absent while the store is empty)
    .write.lock              held by the one writer (flock) while it builds a new snapshot

Crash safety: a write (one ``upsert``/``delete`` or one ``transaction()``) copies the current
snapshot's database into a hidden temporary folder, applies the changes, writes the FAISS and
BM25 indexes and the manifest there, fsyncs, renames the folder to the next snapshot name and
only then points ``CURRENT`` at it with ``os.replace``. Until that last rename readers see the
previous snapshot, whole; a killed writer leaves only a temporary folder that the next writer
deletes. Index and database can never disagree because they are published together.

Readers check ``CURRENT`` before every operation and switch to a newer snapshot when a writer in
another process (the CLI, the UI) has published one. Loaded snapshots are shared by every
``FaissStore`` on the same folder in this process, so re-opening a store is cheap.

Every write rewrites the whole snapshot (copying the database, updating the indexes), so batch
many documents into one ``upsert`` or ``transaction()`` rather than writing them one by one.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import bm25s
import faiss
import numpy as np

from assistant.errors import StoreError
from knowledge.documents import Document, Hit
from knowledge.embedding import Embedder, model_name, resolve_model_path
from knowledge.fusion import reciprocal_rank_fusion
from knowledge.indexes import APPROXIMATE, FLAT, INDEX_KINDS, IndexConfig, build_index, ivf_nprobe, needs_retraining, search_index
from knowledge.lexical import Bm25Index
from knowledge.protocol import SEARCH_MODES

#: Bumped whenever the snapshot layout changes; a store with another version is refused with a
#: message that says what to do.
FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
DATABASE = "chunks.sqlite"
INDEX_FILE = "index.faiss"
BM25_DIR = "bm25"
SNAPSHOT_PREFIX = "snap-"
TEMP_PREFIX = ".tmp-"
LOCK_FILE = ".write.lock"

#: Hybrid search fuses this many candidates from each retriever (or k, if larger).
HYBRID_CANDIDATES = 50
#: With the approximate index, filtered searches over at most this many passages are exact.
EXACT_FILTER_LIMIT = 10_000
#: Metadata keys usable in filters (anything else could not be a JSON path safely).
FILTER_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
SQL_BATCH = 500

SCHEMA = """
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    start_offset INTEGER NOT NULL,
    end_offset INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX chunks_by_source ON chunks(source);
"""


@dataclass
class _Snapshot:
    """One published snapshot, loaded; immutable once built, so safe to share."""

    name: str | None
    manifest: dict[str, Any]
    db: sqlite3.Connection | None = None
    index: faiss.Index | None = None
    bm25: Bm25Index | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def count(self) -> int:
        return int(self.manifest.get("count", 0))

    @property
    def index_config(self) -> IndexConfig:
        return IndexConfig.from_dict(self.manifest["index"])

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        if self.db is None:
            return []
        with self.lock:
            return self.db.execute(sql, tuple(params)).fetchall()


_snapshots: dict[str, _Snapshot] = {}
_snapshots_lock = threading.Lock()


def open_store(path: Path, embedding_model: str | None = None, index: str = "flat") -> "FaissStore":
    """Open (or prepare to create) the store in folder ``path``; loads nothing until first use.

    ``embedding_model`` (a local sentence-transformers/Hugging Face folder; default: the bundled
    all-MiniLM-L6-v2) and ``index`` (``"flat"``, exact, or ``"approximate"``, IVF) apply when the
    store is created; afterwards its manifest remembers both, so ``open_store(path)`` is enough.
    Asking an existing store for a different model, or for ``"approximate"`` when it is flat,
    raises StoreError (convert with ``FaissStore.reindex``).
    """
    return FaissStore(Path(path), embedding_model=embedding_model, index=index)


class FaissStore:
    """See the module docstring; the contract is knowledge.protocol.KnowledgeStore."""

    def __init__(self, path: Path, embedding_model: str | None = None, index: str = FLAT):
        if index not in INDEX_KINDS:
            raise StoreError(f"Unknown index '{index}'. Use one of: {', '.join(INDEX_KINDS)}.")
        self.path = Path(path).expanduser()
        self._requested_model = embedding_model
        self._requested_index = index
        self._embedder: Embedder | None = None
        self._checked: str | None = None

    # -- reading -----------------------------------------------------------------------

    @property
    def index_kind(self) -> str:
        return self._snapshot().index_config.kind

    @property
    def embedding_model(self) -> str:
        return self._snapshot().manifest["embedding_model"]

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(self._snapshot().manifest)

    def count(self, filters: dict[str, Any] | None = None) -> int:
        snapshot = self._snapshot()
        if not filters:
            return snapshot.count
        where, params = _where(filters)
        return snapshot.query(f"SELECT COUNT(*) FROM chunks WHERE {where}", params)[0][0] if snapshot.db else 0

    def ids(self, filters: dict[str, Any] | None = None) -> list[str]:
        where, params = _where(filters or {})
        return [row[0] for row in self._snapshot().query(f"SELECT doc_id FROM chunks WHERE {where} ORDER BY doc_id", params)]

    def search(self, query: str, k: int = 5, mode: str = "hybrid", filters: dict[str, Any] | None = None) -> list[Hit]:
        if mode not in SEARCH_MODES:
            raise StoreError(f"Unknown search mode '{mode}'. Use one of: {', '.join(SEARCH_MODES)}.")
        if not isinstance(k, int) or k < 1:
            raise StoreError(f"k must be a positive integer, got {k!r}.")
        if not isinstance(query, str) or not query.strip():
            raise StoreError("The search query is empty. Pass the text to look for.")
        snapshot = self._snapshot()
        if snapshot.count == 0:
            raise StoreError(
                f"The knowledge store at {self.path} is empty: nothing has been ingested yet. "
                f"Add documents with `assistant ingest PATH --plugin {self.path.name}`."
            )
        allowed = None
        if filters:
            where, params = _where(filters)
            allowed = np.array([row[0] for row in snapshot.query(f"SELECT id FROM chunks WHERE {where}", params)], dtype=np.int64)
            if len(allowed) == 0:
                return []
        depth = max(k, HYBRID_CANDIDATES) if mode == "hybrid" else k
        rankings: list[list[tuple[int, float]]] = []
        if mode in ("dense", "hybrid"):
            vector = self._get_embedder(snapshot).embed_query(query)
            rankings.append(self._dense(snapshot, vector, depth, allowed, filters))
        if mode in ("bm25", "hybrid"):
            rankings.append(snapshot.bm25.search(query, depth, allowed))
        if mode == "hybrid":
            ranked = reciprocal_rank_fusion([[row_id for row_id, _ in ranking] for ranking in rankings])[:k]
        else:
            ranked = rankings[0][:k]
        return self._hits(snapshot, ranked)

    def _dense(
        self, snapshot: _Snapshot, vector: np.ndarray, k: int, allowed: np.ndarray | None, filters: dict[str, Any] | None
    ) -> list[tuple[int, float]]:
        config = snapshot.index_config
        if allowed is not None and config.kind == APPROXIMATE and len(allowed) <= EXACT_FILTER_LIMIT:
            # IVF only scans nprobe lists; a narrow filter could leave them nearly empty.
            where, params = _where(filters)
            rows = snapshot.query(f"SELECT id, embedding FROM chunks WHERE {where}", params)
            ids = np.array([row[0] for row in rows], dtype=np.int64)
            scores = _vectors([row[1] for row in rows]) @ vector[0]
            top = np.argsort(-scores, kind="stable")[:k]
            return [(int(ids[i]), float(scores[i])) for i in top]
        scores, ids = search_index(snapshot.index, config, vector, min(k, snapshot.count), allowed)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    @staticmethod
    def _hits(snapshot: _Snapshot, ranked: list[tuple[int, float]]) -> list[Hit]:
        rows: dict[int, tuple] = {}
        wanted = [row_id for row_id, _ in ranked]
        for offset in range(0, len(wanted), SQL_BATCH):
            batch = wanted[offset : offset + SQL_BATCH]
            marks = ",".join("?" * len(batch))
            for row in snapshot.query(
                f"SELECT id, doc_id, text, source, start_offset, end_offset, metadata FROM chunks WHERE id IN ({marks})", batch
            ):
                rows[row[0]] = row
        return [
            Hit(doc_id=row[1], text=row[2], score=score, source=row[3], start=row[4], end=row[5], metadata=json.loads(row[6]))
            for row_id, score in ranked
            if (row := rows.get(row_id)) is not None
        ]

    # -- writing -----------------------------------------------------------------------

    def upsert(self, documents: Iterable[Document]) -> int:
        with self.transaction() as writer:
            return writer.upsert(documents)

    def delete(self, ids: Iterable[str]) -> int:
        with self.transaction() as writer:
            return writer.delete(ids)

    def reindex(self, index: str) -> None:
        """Rebuild the vector index as ``index`` ("flat" or "approximate") from the stored embeddings."""
        if index not in INDEX_KINDS:
            raise StoreError(f"Unknown index '{index}'. Use one of: {', '.join(INDEX_KINDS)}.")
        with self.transaction() as writer:
            writer.index_kind = index
            writer.rebuild = True
        self._requested_index = index

    @contextmanager
    def transaction(self) -> Iterator["FaissTransaction"]:
        """A writer whose changes become one new snapshot when the block exits without error."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK_FILE, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                base = self._snapshot()
                _remove_stale(self.path, keep=base.name)
                folder = self.path / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
                folder.mkdir()
                try:
                    writer = FaissTransaction(self, base, folder)
                    try:
                        yield writer
                        if writer.changed:
                            self._publish(writer)
                    finally:
                        writer.db.close()
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _publish(self, writer: "FaissTransaction") -> None:
        base, folder, db = writer.base, writer.folder, writer.db
        db.commit()
        count = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        manifest = dict(base.manifest, dimension=writer.dimension)
        index, config = None, None
        if count:
            previous = base.index_config if base.index is not None else None
            if (
                previous is not None
                and previous.kind == writer.index_kind
                and not writer.rebuild
                and not needs_retraining(previous, count)
            ):
                index = faiss.clone_index(base.index)
                if previous.kind == APPROXIMATE:  # keep the scanned share in step with the store's size
                    previous.nprobe = ivf_nprobe(previous.nlist, count)
                config = previous
                if writer.removed:
                    index.remove_ids(np.array(sorted(writer.removed), dtype=np.int64))
                if writer.added:
                    added_ids = sorted(writer.added)
                    index.add_with_ids(np.vstack([writer.added[i] for i in added_ids]), np.array(added_ids, dtype=np.int64))
            else:
                rows = db.execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall()
                ids = np.array([row[0] for row in rows], dtype=np.int64)
                index, config = build_index(writer.index_kind, _vectors([row[1] for row in rows]), ids)
                del rows
            faiss.write_index(index, str(folder / INDEX_FILE))
            texts = db.execute("SELECT id, text FROM chunks ORDER BY id").fetchall()
            bm25 = Bm25Index.build(np.array([row[0] for row in texts], dtype=np.int64), [row[1] for row in texts])
            bm25.save(folder / BM25_DIR)
        else:
            bm25 = None
        db.close()
        generation = int(manifest.get("generation", 0)) + 1
        manifest.update(
            format_version=FORMAT_VERSION,
            backend="faiss",
            index=(config or IndexConfig(kind=writer.index_kind)).to_dict(),
            count=count,
            generation=generation,
            written_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            library_versions={"faiss": faiss.__version__, "bm25s": bm25s.__version__, "numpy": np.__version__},
        )
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _fsync_tree(folder)
        name = f"{SNAPSHOT_PREFIX}{generation:08d}"
        os.replace(folder, self.path / name)
        _fsync_dir(self.path)
        _write_atomically(self.path / CURRENT, json.dumps({"snapshot": name}))
        snapshot = _Snapshot(name=name, manifest=manifest, db=_open_readonly(self.path / name / DATABASE), index=index, bm25=bm25)
        with _snapshots_lock:
            _snapshots[_key(self.path)] = snapshot
        _remove_stale(self.path, keep=name)

    # -- loading -----------------------------------------------------------------------

    def _snapshot(self) -> _Snapshot:
        """The current snapshot, loaded once per process and re-loaded when CURRENT moves."""
        for _ in range(3):
            name = _read_current(self.path)
            key = _key(self.path)
            with _snapshots_lock:
                cached = _snapshots.get(key)
            if cached is not None and cached.name == name:
                snapshot = cached
            elif name is None:
                snapshot = _Snapshot(name=None, manifest=self._new_manifest())
            else:
                try:
                    snapshot = _load_snapshot(self.path, name)
                except (FileNotFoundError, StoreError) as exc:
                    if _read_current(self.path) != name:
                        continue  # a writer published and removed this snapshot meanwhile; read the new one
                    if isinstance(exc, StoreError):
                        raise
                    raise StoreError(
                        f"The knowledge store at {self.path} is damaged: {exc.filename} is missing. "
                        f"Delete {self.path} and ingest the documents again."
                    ) from exc
                with _snapshots_lock:
                    current = _snapshots.get(key)
                    if current is None or current.name < name:
                        _snapshots[key] = snapshot
            self._check_request(snapshot)
            return snapshot
        raise StoreError(f"The knowledge store at {self.path} changed three times while loading; try again.")

    def _new_manifest(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "embedding_model": model_name(self._requested_model),
            "dimension": None,
            "index": IndexConfig(kind=self._requested_index).to_dict(),
            "count": 0,
            "generation": 0,
        }

    def _check_request(self, snapshot: _Snapshot) -> None:
        """Refuse to mix embedding models, or to silently ignore a request for another index."""
        if snapshot.name is None or self._checked == snapshot.name:
            return
        stored = snapshot.manifest["embedding_model"]
        if self._requested_model is not None and model_name(self._requested_model) != stored:
            raise StoreError(
                f"The knowledge store at {self.path} was built with embedding model '{stored}', not "
                f"'{self._requested_model}'; vectors from different models cannot be compared. Open it without "
                "an embedding model, or ingest into a new store folder."
            )
        kind = snapshot.index_config.kind
        if self._requested_index != FLAT and self._requested_index != kind:
            raise StoreError(
                f"The knowledge store at {self.path} uses the '{kind}' index, not '{self._requested_index}'. "
                f"Convert it with `assistant ingest PATH --plugin {self.path.name} --index {self._requested_index}` "
                f"or FaissStore.reindex('{self._requested_index}')."
            )
        self._checked = snapshot.name

    def _get_embedder(self, snapshot: _Snapshot) -> Embedder:
        if self._embedder is None:
            embedder = Embedder(snapshot.manifest["embedding_model"])
            stored = snapshot.manifest.get("dimension")
            if stored is not None and stored != embedder.dimension:
                raise StoreError(
                    f"The embedding model {resolve_model_path(embedder.name)} makes {embedder.dimension}-d vectors but the "
                    f"store at {self.path} holds {stored}-d vectors. Use the model the store was built with."
                )
            self._embedder = embedder
        return self._embedder


class FaissTransaction:
    """Collects upserts and deletes in a private copy of the database; see FaissStore.transaction."""

    def __init__(self, store: FaissStore, base: _Snapshot, folder: Path):
        self.store = store
        self.base = base
        self.folder = folder
        self.index_kind = base.index_config.kind
        self.rebuild = False
        self.dimension: int | None = base.manifest.get("dimension")
        #: Row ids of the base snapshot's index that are gone, and new rows' vectors.
        self.removed: set[int] = set()
        self.added: dict[int, np.ndarray] = {}
        self.db = sqlite3.connect(folder / DATABASE, check_same_thread=False)
        if base.db is not None:
            with base.lock:
                base.db.backup(self.db)
        else:
            self.db.executescript(SCHEMA)
        self.db.execute("PRAGMA journal_mode=MEMORY")
        self.db.execute("PRAGMA synchronous=OFF")

    @property
    def changed(self) -> bool:
        return bool(self.removed or self.added or self.rebuild)

    def upsert(self, documents: Iterable[Document]) -> int:
        documents = list(documents)
        if not documents:
            return 0
        _check_documents(documents)
        vectors = self._vectors_for(documents)
        removed, added = set(), {}
        with self.db:
            for document, vector in zip(documents, vectors):
                removed |= self._drop(document.id, added)
                cursor = self.db.execute(
                    "INSERT INTO chunks (doc_id, text, source, start_offset, end_offset, metadata, embedding) VALUES (?,?,?,?,?,?,?)",
                    (
                        document.id,
                        document.text,
                        document.source,
                        document.start,
                        document.end,
                        json.dumps(document.metadata, ensure_ascii=False),
                        vector.tobytes(),
                    ),
                )
                added[cursor.lastrowid] = vector
        self._merge(removed, added)
        return len(documents)

    def delete(self, ids: Iterable[str]) -> int:
        if isinstance(ids, str):
            raise StoreError("delete() takes a list of document ids, not a single string. Wrap it: delete([doc_id]).")
        removed: set[int] = set()
        with self.db:
            for doc_id in dict.fromkeys(ids):
                removed |= self._drop(doc_id, {})
        self._merge(removed, {})
        return len(removed)

    def _drop(self, doc_id: str, added_now: dict[int, np.ndarray]) -> set[int]:
        """Delete ``doc_id``'s row if present; return its row id when the base index holds it."""
        row = self.db.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            return set()
        self.db.execute("DELETE FROM chunks WHERE id = ?", (row[0],))
        if row[0] in added_now or row[0] in self.added:
            added_now.pop(row[0], None)
            self.added.pop(row[0], None)
            return set()
        return {row[0]}

    def _merge(self, removed: set[int], added: dict[int, np.ndarray]) -> None:
        self.removed |= removed
        self.added.update(added)

    def _vectors_for(self, documents: list[Document]) -> list[np.ndarray]:
        """Precomputed embeddings as given (checked), the rest embedded with the store's model."""
        missing = [i for i, document in enumerate(documents) if document.embedding is None]
        vectors: list[np.ndarray | None] = [None] * len(documents)
        if missing or self.dimension is None:
            embedder = self.store._get_embedder(self.base)
            self.dimension = embedder.dimension
            for i, vector in zip(missing, embedder.embed([documents[i].text for i in missing])):
                vectors[i] = vector
        for i, document in enumerate(documents):
            if document.embedding is not None:
                vector = np.asarray(document.embedding, dtype=np.float32).reshape(-1)
                if vector.shape[0] != self.dimension or not np.all(np.isfinite(vector)):
                    raise StoreError(
                        f"Document '{document.id}' has a {vector.shape[0]}-d embedding with {'' if np.all(np.isfinite(vector)) else 'non-finite '}"
                        f"values; this store needs finite {self.dimension}-d vectors from its embedding model. "
                        "Leave `embedding` unset to let the store embed the text."
                    )
                norm = float(np.linalg.norm(vector))
                vectors[i] = vector / norm if norm > 0 else vector
        return vectors


def _check_documents(documents: list[Document]) -> None:
    seen: set[str] = set()
    duplicates: list[str] = []
    for document in documents:
        if not isinstance(document, Document):
            raise StoreError(f"upsert() takes knowledge.Document objects, got {type(document).__name__}.")
        if not isinstance(document.id, str) or not document.id:
            raise StoreError(f"Every document needs a non-empty string id; got {document.id!r}.")
        if document.id in seen:
            duplicates.append(document.id)
        seen.add(document.id)
        if not isinstance(document.text, str) or not document.text.strip():
            raise StoreError(f"Document '{document.id}' has no text. Leave out empty passages.")
        if not isinstance(document.start, int) or not isinstance(document.end, int) or document.start < 0 or document.end - document.start != len(document.text):
            raise StoreError(
                f"Document '{document.id}' has offsets {document.start}..{document.end} for a text of {len(document.text)} "
                "characters; end - start must equal len(text) so the offsets slice the source exactly."
            )
        if not isinstance(document.metadata, dict):
            raise StoreError(f"Document '{document.id}' metadata must be a dict, got {type(document.metadata).__name__}.")
        try:
            json.dumps(document.metadata)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"Document '{document.id}' metadata is not JSON-serialisable ({exc}).") from exc
    if duplicates:
        listed = ", ".join(sorted(set(duplicates))[:5])
        raise StoreError(
            f"The same document id appears more than once in one upsert ({listed}); nothing was written. "
            "Give every passage a unique id."
        )


def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """A SQL condition (and its parameters) that matches ``filters``; see knowledge.protocol."""
    if not isinstance(filters, dict):
        raise StoreError(f"filters must be a dict of metadata key -> value(s), got {type(filters).__name__}.")
    clauses, params = ["1"], []
    for key, value in filters.items():
        if not isinstance(key, str) or not FILTER_KEY.match(key):
            raise StoreError(f"Invalid filter key {key!r}: use letters, digits, '_', '-' or '.'.")
        values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
        for item in values:
            if not isinstance(item, (str, int, float, bool)):
                raise StoreError(f"Filter '{key}' has value {item!r}; use strings, numbers or booleans (or a list of them).")
        if not values:
            clauses.append("0")
            continue
        marks = ",".join("?" * len(values))
        if key == "source":
            clauses.append(f"source IN ({marks})")
        else:
            clauses.append(f"json_extract(metadata, ?) IN ({marks})")
            params.append(f'$."{key}"')
        params.extend(int(item) if isinstance(item, bool) else item for item in values)
    return " AND ".join(clauses), params


def _vectors(blobs: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)


def _key(path: Path) -> str:
    return str(path.resolve())


def _read_current(path: Path) -> str | None:
    try:
        raw = (path / CURRENT).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        name = json.loads(raw)["snapshot"]
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(
            f"{path / CURRENT} is damaged ({exc!r}). Restore the store folder from a backup, or delete {path} and ingest again."
        ) from exc
    if not isinstance(name, str) or not name.startswith(SNAPSHOT_PREFIX) or "/" in name:
        raise StoreError(f"{path / CURRENT} names an invalid snapshot {name!r}. Delete {path} and ingest again.")
    return name


def _load_snapshot(path: Path, name: str) -> _Snapshot:
    folder = path / name
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise StoreError(f"{folder / MANIFEST} is not valid JSON ({exc}). Delete {path} and ingest the documents again.") from exc
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise StoreError(
            f"The knowledge store at {path} uses format version {version}, but this version of assistant reads "
            f"format {FORMAT_VERSION}. "
            + (
                "It was written by a newer assistant: upgrade assistant to read it."
                if newer
                else f"It was written by an older assistant: delete {path} and ingest the documents again "
                "(`assistant ingest PATH --plugin NAME`)."
            )
        )
    try:
        index = bm25 = None
        if manifest.get("count", 0):
            index = faiss.read_index(str(folder / INDEX_FILE))
            bm25 = Bm25Index.load(folder / BM25_DIR)
        db = _open_readonly(folder / DATABASE)
    except FileNotFoundError:
        raise
    except (RuntimeError, OSError, ValueError, sqlite3.Error) as exc:
        raise StoreError(
            f"The knowledge store snapshot {folder} is damaged ({exc}). Delete {path} and ingest the documents again."
        ) from exc
    return _Snapshot(name=name, manifest=manifest, db=db, index=index, bm25=bm25)


def _open_readonly(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False)


def _remove_stale(path: Path, keep: str | None) -> None:
    """Delete temporary folders of killed writers and snapshots no longer current (writer lock held)."""
    for entry in path.iterdir():
        if entry.is_dir() and entry.name != keep and (entry.name.startswith(TEMP_PREFIX) or entry.name.startswith(SNAPSHOT_PREFIX)):
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(f"{CURRENT}.") and entry.name.endswith(".tmp"):
            entry.unlink(missing_ok=True)


def _write_atomically(path: Path, text: str) -> None:
    temp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    _fsync_dir(path.parent)


def _fsync_tree(folder: Path) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(root))


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
