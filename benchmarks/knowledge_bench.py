"""Knowledge-store benchmarks: ingest throughput, query latency, approximate-index recall.

Two parts, in one run:

* **Real data** (``--data-dir``, the shared benchmark data; skipped without it):
  - ingest throughput of short passages: ``banking77/train.csv`` through ``ingest_path`` (one
    passage per row, 10,003 passages, embedded by the bundled MiniLM);
  - ingest throughput of long passages and retrieval quality: the 55 SQuAD "University of Notre
    Dame" paragraphs, one file each, chunked 800/120; the 269 SQuAD questions are the queries and
    a question's own paragraph file is its relevant source (``evaluate_retrieval``);
  - end-to-end ``store.search`` latency on the 10k Banking77 store (query embedding + search +
    reading the hits), for dense / BM25 / hybrid, flat and approximate index; CLINC150 validation
    utterances are the queries, each searched once per mode, so none is answered from the store's
    cache of recent query embeddings. Also the approximate index's recall@10 against flat on these real
    MiniLM vectors.
* **Synthetic vectors** (``--sizes``, default 10k and 1M): the store's own index builders
  (``knowledge.indexes``) on 384-d unit vectors from two Gaussian mixtures (``GaussianMixture``),
  each with 2,000 components of Zipf-distributed sizes, so clusters differ in size and density as
  sentence embeddings do (uniform noise has no neighbourhood structure; every index looks bad
  on it and no text looks like it). ``mixture-384d``: components under 100 topics, spread over
  all 384 dimensions. ``mixture-64d-latent``: components on a 64-d subspace plus small noise —
  a lower intrinsic dimension, which makes the IVF lists cut through neighbourhoods more often.
  Queries are fresh draws from the same mixture. Reported: build time, single-query latency
  p50/p95 of the exact flat index and of the IVF index at the store's default ``nprobe`` and a
  sweep of others, and recall@10 against exact search.

Latency is wall-clock per single query (batch of one, as in chat), after warm-up. FAISS uses
``--threads`` OpenMP threads for building; a one-query search runs on one thread.

Usage (the numbers in docs/benchmarks.md come from the command written there)::

    python benchmarks/knowledge_bench.py --data-dir ../shared/data --out /tmp/knowledge_bench.json
    python benchmarks/knowledge_bench.py --sizes 10000 --queries 200        # quick, synthetic only
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import faiss  # noqa: E402

from knowledge import ingest_path, open_store  # noqa: E402
from knowledge.evaluation import evaluate_retrieval  # noqa: E402
from knowledge.faiss_store import CURRENT, DATABASE  # noqa: E402
from knowledge.indexes import APPROXIMATE, FLAT, IndexConfig, build_index, search_index  # noqa: E402

K = 10


def percentiles(seconds: list[float]) -> dict[str, float]:
    values = np.array(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(values, 50)), 3), "p95_ms": round(float(np.percentile(values, 95)), 3)}


def recall_at_k(truth: np.ndarray, found: np.ndarray) -> float:
    return float(np.mean([len(set(t) & set(f)) / len(t) for t, f in zip(truth, found)]))


def time_single_queries(search, queries: np.ndarray, warmup: int = 5) -> list[float]:
    for query in queries[:warmup]:
        search(query[None, :])
    timings = []
    for query in queries:
        started = time.perf_counter()
        search(query[None, :])
        timings.append(time.perf_counter() - started)
    return timings


class GaussianMixture:
    """Unit vectors from a Gaussian mixture with 2,000 components of Zipf-distributed sizes
    (exponent 0.7), plus a direction shared by all vectors (random pairs have cosine ~0.2, as
    MiniLM embeddings do). Two shapes, see the module docstring:

    * ``latent=None``: components grouped under 100 topics, spread 0.4-0.9, in all 384 dimensions;
    * ``latent=64``: components on a random 64-d subspace, spread 0.6-1.2, plus noise of norm 0.3
      in all dimensions — a lower intrinsic dimension, which is harder for IVF.
    """

    def __init__(self, dimension: int, seed: int, latent: int | None = None, components: int = 2000, topics: int = 100):
        rng = np.random.default_rng(seed)
        self.dimension, self.latent = dimension, latent
        space = latent or dimension
        if latent is None:
            topic_centres = _normalise(rng.standard_normal((topics, dimension), dtype=np.float32))
            parents = rng.integers(0, topics, components)
            noise = rng.standard_normal((components, dimension), dtype=np.float32)
            self.centres = _normalise(topic_centres[parents] + 0.8 / math.sqrt(dimension) * noise)
            self.spread = rng.uniform(0.4, 0.9, components).astype(np.float32) / math.sqrt(space)
            self.basis = None
        else:
            self.centres = _normalise(rng.standard_normal((components, latent), dtype=np.float32))
            self.spread = rng.uniform(0.6, 1.2, components).astype(np.float32) / math.sqrt(space)
            self.basis = np.linalg.qr(rng.standard_normal((dimension, latent)))[0].astype(np.float32).T
        weights = 1.0 / np.arange(1, components + 1) ** 0.7
        self.weights = rng.permutation(weights / weights.sum())
        self.shared = _normalise(rng.standard_normal((1, dimension), dtype=np.float32))

    def sample(self, n: int, rng: np.random.Generator, block: int = 65_536) -> np.ndarray:
        out = np.empty((n, self.dimension), dtype=np.float32)
        space = self.latent or self.dimension
        for start in range(0, n, block):
            size = min(block, n - start)
            component = rng.choice(len(self.weights), size, p=self.weights)
            points = _normalise(self.centres[component] + self.spread[component, None] * rng.standard_normal((size, space), dtype=np.float32))
            if self.basis is not None:
                noise = rng.standard_normal((size, self.dimension), dtype=np.float32)
                points = _normalise(points @ self.basis + 0.3 / math.sqrt(self.dimension) * noise)
            out[start : start + size] = _normalise(points + 0.5 * self.shared)
        return out


def _normalise(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def bench_vectors(vectors: np.ndarray, queries: np.ndarray, flat_queries: int, nprobes: list[int]) -> dict:
    """Flat vs IVF (as the store builds them) on the same vectors."""
    ids = np.arange(len(vectors), dtype=np.int64)
    result: dict = {"vectors": len(vectors), "dimension": vectors.shape[1], "queries": len(queries)}
    started = time.perf_counter()
    approximate, config = build_index(APPROXIMATE, vectors, ids)
    result["ivf_build_s"] = round(time.perf_counter() - started, 1)
    result["nlist"], result["default_nprobe"] = config.nlist, config.nprobe
    started = time.perf_counter()
    exact, exact_config = build_index(FLAT, vectors, ids)
    result["flat_build_s"] = round(time.perf_counter() - started, 1)
    _, truth = exact.search(queries, K)
    result["flat"] = percentiles(
        time_single_queries(lambda q: search_index(exact, exact_config, q, K), queries[:flat_queries])
    ) | {"timed_queries": min(flat_queries, len(queries))}
    del exact
    sweep = {}
    for nprobe in sorted(set(nprobes + [config.nprobe])):
        if nprobe > config.nlist:
            continue
        probe_config = IndexConfig(kind=APPROXIMATE, nlist=config.nlist, nprobe=nprobe, trained_on=config.trained_on)
        _, found = search_index(approximate, probe_config, queries, K)
        timings = time_single_queries(lambda q: search_index(approximate, probe_config, q, K), queries)
        sweep[nprobe] = {"recall@10": round(recall_at_k(truth, found), 4)} | percentiles(timings)
    result["ivf"] = sweep
    return result


def bench_synthetic(sizes: list[int], n_queries: int, flat_queries: int, nprobes: list[int], seed: int) -> list[dict]:
    results = []
    for name, latent in (("mixture-384d", None), ("mixture-64d-latent", 64)):
        mixture = GaussianMixture(384, seed, latent=latent)
        for size in sizes:
            rng = np.random.default_rng(seed + size)
            started = time.perf_counter()
            vectors = mixture.sample(size, rng)
            queries = mixture.sample(n_queries, rng)
            generated = round(time.perf_counter() - started, 1)
            print(f"[{name} {size:,}] generated in {generated}s; building indexes", flush=True)
            result = {"data": name} | bench_vectors(vectors, queries, flat_queries, nprobes)
            result["generate_s"] = generated
            del vectors
            print(json.dumps(result), flush=True)
            results.append(result)
    return results


def stored_vectors(store) -> np.ndarray:
    """The embeddings the store saved (read from its current snapshot's database)."""
    snapshot = json.loads((store.path / CURRENT).read_text())["snapshot"]
    with sqlite3.connect(store.path / snapshot / DATABASE) as db:
        blobs = [row[0] for row in db.execute("SELECT embedding FROM chunks ORDER BY id")]
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)


def bench_real(data_dir: Path, work: Path, n_queries: int) -> dict:
    result: dict = {}
    # Short passages: one per Banking77 row.
    store = open_store(work / "banking77")
    summary = ingest_path(store, data_dir / "banking77" / "train.csv", "bench")
    result["ingest_short"] = {
        "file": "banking77/train.csv",
        "passages": summary.chunks,
        "mean_chars": round(float(np.mean([len(t) for t in _banking_texts(data_dir)])), 1),
        "seconds": round(summary.seconds, 1),
        "passages_per_s": round(summary.chunks_per_second, 1),
    }
    print(json.dumps(result["ingest_short"]), flush=True)

    # Long passages and retrieval quality: SQuAD paragraphs.
    squad = json.loads((data_dir / "squad_sample" / "train_notre_dame.json").read_text(encoding="utf-8"))
    folder, queries_path = work / "squad_docs", work / "squad_queries.jsonl"
    folder.mkdir()
    with open(queries_path, "w", encoding="utf-8") as queries_file:
        for article in squad["data"]:
            for number, paragraph in enumerate(article["paragraphs"]):
                name = f"paragraph_{number:03d}.txt"
                (folder / name).write_text(paragraph["context"], encoding="utf-8")
                for qa in paragraph["qas"]:
                    queries_file.write(json.dumps({"query": qa["question"], "relevant": [name]}) + "\n")
    squad_store = open_store(work / "squad")
    summary = ingest_path(squad_store, folder, "bench")
    result["ingest_long"] = {
        "files": summary.added,
        "passages": summary.chunks,
        "seconds": round(summary.seconds, 1),
        "passages_per_s": round(summary.chunks_per_second, 1),
    }
    result["squad_retrieval"] = evaluate_retrieval(squad_store, queries_path)
    print(json.dumps(result["ingest_long"]), json.dumps(result["squad_retrieval"]), flush=True)

    # End-to-end search latency on the 10k store, flat then approximate.
    clinc = json.loads((data_dir / "clinc150" / "data_full_trainval.json").read_text(encoding="utf-8"))
    step = max(1, len(clinc["val"]) // n_queries)
    queries = [text for text, _ in clinc["val"][::step]][:n_queries]
    warmup = [text for text, _ in clinc["val"][step // 2 :: step]][:5]
    latency: dict = {}
    dense_ids: dict = {}
    for kind in (FLAT, APPROXIMATE):
        if store.index_kind != kind:
            store.reindex(kind)
        latency[kind] = {}
        for mode in ("dense", "bm25", "hybrid"):
            timed = open_store(store.path)  # a fresh store object: no query embedding is cached yet
            for query in warmup:
                timed.search(query, k=K, mode=mode)
            timings, found = [], []
            for query in queries:
                started = time.perf_counter()
                hits = timed.search(query, k=K, mode=mode)
                timings.append(time.perf_counter() - started)
                found.append([hit.doc_id for hit in hits])
            latency[kind][mode] = percentiles(timings)
            if mode == "dense":
                dense_ids[kind] = found
    result["store_search_10k"] = {
        "queries": len(queries),
        "index": store.manifest["index"],
        "latency": latency,
        "approximate_recall@10_vs_flat": round(recall_at_k(dense_ids[FLAT], dense_ids[APPROXIMATE]), 4),
    }
    print(json.dumps(result["store_search_10k"]), flush=True)

    # Index-only latency and recall on the real 10k MiniLM vectors (same code as the synthetic part).
    vectors = stored_vectors(store)
    from knowledge.embedding import BUNDLED_MODEL, Embedder

    query_vectors = Embedder(BUNDLED_MODEL).embed(queries)
    result["real_vectors_10k"] = bench_vectors(vectors, query_vectors, len(queries), [4, 8, 16, 32])
    print(json.dumps(result["real_vectors_10k"]), flush=True)
    return result


def _banking_texts(data_dir: Path) -> list[str]:
    with open(data_dir / "banking77" / "train.csv", encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="Shared benchmark data (banking77, clinc150, squad_sample); real-data part skipped without it.")
    parser.add_argument("--sizes", default="10000,1000000", help="Comma-separated synthetic store sizes ('' to skip).")
    parser.add_argument("--queries", type=int, default=1000, help="Queries per synthetic size.")
    parser.add_argument("--flat-queries", type=int, default=100, help="Queries timed against the exact index (slow at 1M).")
    parser.add_argument("--real-queries", type=int, default=200, help="CLINC150 queries for the end-to-end store latency.")
    parser.add_argument("--nprobe", default="4,8,16,24,32,48,64", help="IVF nprobe values to sweep.")
    parser.add_argument("--threads", type=int, default=2, help="FAISS OpenMP threads.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="Write all results to this JSON file.")
    args = parser.parse_args()

    faiss.omp_set_num_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    results: dict = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "faiss": faiss.__version__, "threads": args.threads},
        "load_average_start": os.getloadavg(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    started = time.perf_counter()
    if args.data_dir:
        with tempfile.TemporaryDirectory(prefix="knowledge-bench-") as work:
            results["real"] = bench_real(args.data_dir, Path(work), args.real_queries)
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    nprobes = [int(n) for n in args.nprobe.split(",") if n.strip()]
    results["synthetic"] = bench_synthetic(sizes, args.queries, args.flat_queries, nprobes, args.seed)
    results["load_average_end"] = os.getloadavg()
    results["total_s"] = round(time.perf_counter() - started, 1)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
