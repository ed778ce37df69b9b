"""The FAISS indexes a store can use, built the same way by the store and by the benchmark.

* ``flat``: exact inner-product search over every vector. The default; right for the
  thousands-to-low-hundred-thousands of passages a plugin usually has.
* ``approximate``: an inverted-file index (IVF, flat lists). The vectors are clustered into
  ``nlist`` ≈ 2·√n lists and a query scans only the ``nprobe`` closest lists, enough to cover
  ~16,000 vectors (32 lists at 1M). Chosen over HNSW because it supports deletes and cheap incremental adds, and trains in about a
  minute on two cores at 1M vectors; see docs/benchmarks.md for the latency/recall trade-off.
  The lists are re-trained when the store grows or shrinks 4x past what they were trained on.

Vectors are L2-normalised, so inner product is cosine similarity. FAISS ids are the
store's integer row ids.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import faiss
import numpy as np

FLAT = "flat"
APPROXIMATE = "approximate"
INDEX_KINDS = (FLAT, APPROXIMATE)

#: Lists ≈ LISTS_PER_SQRT_N · √n, but no fewer than MIN_VECTORS_PER_LIST vectors per list.
LISTS_PER_SQRT_N = 2.0
MIN_VECTORS_PER_LIST = 16
#: k-means trains on at most this many vectors per list (a random sample), which keeps
#: training at 1M vectors around a minute on two cores without hurting recall.
TRAIN_VECTORS_PER_LIST = 64
#: A query scans enough lists to cover about this many vectors (at least MIN_NPROBE lists), so
#: its cost stays near 2-3 ms on one core whatever the store size: at 1M vectors that is 32 of
#: 2,000 lists, recall@10 >= 0.97 (docs/benchmarks.md); a smaller store scans a larger share.
SCAN_VECTORS = 16_000
MIN_NPROBE = 8
#: Re-train the lists when the number of vectors moves this factor away from the trained size.
RETRAIN_FACTOR = 4


@dataclass
class IndexConfig:
    """What a built index is; saved in the store manifest so a reload needs no arguments."""

    kind: str
    nlist: int | None = None
    nprobe: int | None = None
    trained_on: int | None = None

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "IndexConfig":
        return cls(**data)


def ivf_lists(n: int) -> int:
    return max(1, min(round(LISTS_PER_SQRT_N * math.sqrt(n)), n // MIN_VECTORS_PER_LIST))


def ivf_nprobe(nlist: int, n: int) -> int:
    return min(nlist, max(MIN_NPROBE, math.ceil(SCAN_VECTORS * nlist / max(n, 1))))


def build_index(kind: str, vectors: np.ndarray, ids: np.ndarray, nprobe: int | None = None) -> tuple[faiss.Index, IndexConfig]:
    """A new index of ``kind`` holding ``vectors`` under ``ids`` (the IVF lists are trained on them)."""
    dimension = vectors.shape[1]
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if kind == FLAT:
        index = faiss.index_factory(dimension, "IDMap2,Flat", faiss.METRIC_INNER_PRODUCT)
        index.add_with_ids(vectors, ids)
        return index, IndexConfig(kind=FLAT)
    nlist = ivf_lists(len(vectors))
    index = faiss.index_factory(dimension, f"IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.extract_index_ivf(index)
    ivf.cp.max_points_per_centroid = TRAIN_VECTORS_PER_LIST
    ivf.cp.min_points_per_centroid = 1
    index.train(vectors)
    index.add_with_ids(vectors, ids)
    config = IndexConfig(kind=APPROXIMATE, nlist=nlist, nprobe=nprobe or ivf_nprobe(nlist, len(vectors)), trained_on=len(vectors))
    return index, config


def needs_retraining(config: IndexConfig, n: int) -> bool:
    """True when an IVF index's lists no longer fit the number of vectors it holds."""
    if config.kind != APPROXIMATE:
        return False
    return n > config.trained_on * RETRAIN_FACTOR or n * RETRAIN_FACTOR < config.trained_on


def search_index(
    index: faiss.Index, config: IndexConfig, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and ids of the ``k`` nearest vectors per query; ids are -1 where fewer exist.
    ``allowed_ids`` restricts the search to those ids (metadata filters)."""
    params = faiss.SearchParametersIVF(nprobe=config.nprobe) if config.kind == APPROXIMATE else faiss.SearchParameters()
    if allowed_ids is not None:
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
        params.sel = selector
    if len(queries) > 1:
        return index.search(queries, k, params=params)
    # One query (chat) runs on one thread: OpenMP fan-out costs more than it saves when the cores
    # are busy (10 ms instead of 0.55 ms for a flat 10k search on the shared 2-core machine).
    # libgomp keeps the thread count per calling thread, so this does not affect other threads.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, k, params=params)
    finally:
        faiss.omp_set_num_threads(threads)
