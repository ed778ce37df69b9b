"""Keyword search with BM25 (the bm25s package), keyed by the store's integer row ids."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np

IDS_FILE = "ids.npy"


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased words of two or more characters without English stop words. The extended list
    ("en_plus") also drops question words like "how", "my", "do", which fill chat queries."""
    return bm25s.tokenize(texts, stopwords="en_plus", return_ids=False, show_progress=False)


class Bm25Index:
    def __init__(self, retriever: bm25s.BM25, ids: np.ndarray):
        self.retriever = retriever
        self.ids = ids

    @classmethod
    def build(cls, ids: np.ndarray, texts: list[str]) -> "Bm25Index":
        retriever = bm25s.BM25()
        retriever.index(tokenize(texts), show_progress=False)
        return cls(retriever, np.asarray(ids, dtype=np.int64))

    def save(self, folder: Path) -> None:
        self.retriever.save(str(folder), show_progress=False)
        np.save(folder / IDS_FILE, self.ids)

    @classmethod
    def load(cls, folder: Path) -> "Bm25Index":
        retriever = bm25s.BM25.load(str(folder), show_progress=False)
        return cls(retriever, np.load(folder / IDS_FILE))

    def search(self, query: str, k: int, allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(row id, score) of the ``k`` best documents that share at least one word with ``query``."""
        known = self.retriever.get_tokens_ids(tokenize([query])[0])
        if not known:
            return []
        mask = np.isin(self.ids, allowed_ids).astype(np.float32) if allowed_ids is not None else None
        scores = self.retriever.get_scores_from_ids(known, weight_mask=mask)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in top if scores[i] > 0]
