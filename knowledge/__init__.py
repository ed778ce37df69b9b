"""The knowledge store plugins retrieve passages from.

    from knowledge import open_store, ingest_path

    store = open_store(settings.stores_dir / "customer_service")
    ingest_path(store, Path("docs/"), plugin="customer_service", show_progress=True)
    for hit in store.search("how long do refunds take", k=3, mode="hybrid"):
        print(hit.score, hit.source, hit.text)

``KnowledgeStore`` (knowledge.protocol) is the contract; ``FaissStore`` the default backend
(knowledge.faiss_store explains its on-disk layout and crash safety); knowledge.ingest the file
formats and idempotency rules; knowledge.evaluation the retrieval metrics and queries format.
"""

from knowledge.documents import Document, Hit
from knowledge.faiss_store import FaissStore, open_store
from knowledge.ingest import IngestSummary, ingest_path, read_source_text
from knowledge.protocol import SEARCH_MODES, KnowledgeStore, StoreWriter

__all__ = [
    "Document",
    "FaissStore",
    "Hit",
    "IngestSummary",
    "KnowledgeStore",
    "SEARCH_MODES",
    "StoreWriter",
    "ingest_path",
    "open_store",
    "read_source_text",
]
