"""The contract every knowledge-store backend fulfils (checked by tests/knowledge/conformance.py).

Semantics shared by all backends:

* ``upsert`` inserts documents or replaces those whose id already exists. Two documents with
  the same id in one call are refused with a StoreError (nothing is written), because
  "last one wins" would silently drop data the caller meant to keep.
* ``filters`` map a metadata key to a value, or to a list of values (any of them matches);
  all keys must match. The key ``source`` matches ``Document.source``. Example:
  ``{"plugin": "customer_service", "source": ["faq.md", "returns.md"]}``.
* ``search`` modes: ``"dense"`` (embedding similarity), ``"bm25"`` (keywords) and ``"hybrid"``
  (both, fused with reciprocal rank fusion). A plugin picks its mode per query.
* Searching a store that holds no documents (never written, or emptied) raises StoreError
  that says how to fill it, instead of returning ``[]``: an empty store is a setup mistake
  the user should see, not a question the assistant cannot answer. Call ``count()`` first
  to handle it quietly.
* ``transaction()`` groups writes: everything inside the ``with`` block becomes visible at
  once when it exits, and nothing does if it raises or the process dies.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Iterable, Protocol, runtime_checkable

from knowledge.documents import Document, Hit

SEARCH_MODES = ("dense", "bm25", "hybrid")


@runtime_checkable
class StoreWriter(Protocol):
    """The write half of a store, as handed out by ``KnowledgeStore.transaction()``."""

    def upsert(self, documents: Iterable[Document]) -> int:
        """Insert or replace documents; return how many were written."""

    def delete(self, ids: Iterable[str]) -> int:
        """Remove documents by id; unknown ids are ignored. Return how many were removed."""


@runtime_checkable
class KnowledgeStore(StoreWriter, Protocol):
    """A persistent collection of passages with metadata, searchable by meaning and keywords."""

    def count(self, filters: dict[str, Any] | None = None) -> int:
        """How many documents match ``filters`` (all documents without filters)."""

    def ids(self, filters: dict[str, Any] | None = None) -> list[str]:
        """Ids of the documents that match ``filters``, sorted."""

    def search(
        self, query: str, k: int = 5, mode: str = "hybrid", filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        """The ``k`` best passages for ``query``, best first."""

    def transaction(self) -> AbstractContextManager[StoreWriter]:
        """A writer whose changes are published atomically when the ``with`` block exits."""
