"""What goes into a knowledge store (Document) and what comes out of a search (Hit)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass
class Document:
    """A passage to store.

    ``source`` names where the passage comes from and ``start``/``end`` are character offsets
    into that source's decoded text, so ``source_text[start:end] == text``. ``end`` defaults
    to ``start + len(text)``. ``embedding`` lets callers bring precomputed vectors (they must
    come from the store's embedding model); without it the store embeds ``text`` itself.
    """

    id: str
    text: str
    source: str = ""
    start: int = 0
    end: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    embedding: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if self.end is None:
            self.end = self.start + len(self.text)


@dataclass
class Hit:
    """One search result. ``score`` depends on the mode: cosine similarity (dense), BM25 score
    (bm25) or reciprocal-rank-fusion score (hybrid); higher is better within one result list."""

    doc_id: str
    text: str
    score: float
    source: str
    start: int
    end: int
    metadata: dict[str, Any] = field(default_factory=dict)
