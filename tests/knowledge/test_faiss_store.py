"""The FAISS backend: the conformance suite for both indexes, plus what only this backend promises
(manifest, format versions, snapshots, index choice)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from assistant.errors import StoreError
from knowledge import Document, FaissStore, open_store
from knowledge.embedding import BUNDLED_MODEL
from knowledge.faiss_store import CURRENT, MANIFEST, _key, _snapshots
from knowledge.indexes import APPROXIMATE, FLAT, build_index, ivf_lists, ivf_nprobe, search_index
from tests.knowledge.conformance import PASSAGES, KnowledgeStoreConformance, documents


class TestFlatFaissStore(KnowledgeStoreConformance):
    @pytest.fixture
    def store(self, tmp_path):
        return open_store(tmp_path / "store")

    @pytest.fixture
    def reopen(self, tmp_path):
        def again():
            _snapshots.clear()  # read from disk, as a new process would
            return open_store(tmp_path / "store")

        return again


class TestApproximateFaissStore(KnowledgeStoreConformance):
    @pytest.fixture
    def store(self, tmp_path):
        return open_store(tmp_path / "store", index="approximate")

    @pytest.fixture
    def reopen(self, tmp_path):
        def again():
            _snapshots.clear()
            store = open_store(tmp_path / "store")
            assert store.index_kind == APPROXIMATE
            return store

        return again


def clustered(n: int, dimension: int = 384, clusters: int = 20, seed: int = 0) -> np.ndarray:
    """Unit vectors around random centres: a small stand-in for sentence embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dimension))
    vectors = centres[rng.integers(0, clusters, n)] + 0.6 * rng.normal(size=(n, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def snapshots(path):
    return sorted(p.name for p in path.iterdir() if p.name.startswith("snap-"))


def test_open_store_is_lazy_and_writes_nothing_until_the_first_write(tmp_path):
    store = open_store(tmp_path / "never")
    assert store.count() == 0 and store.ids() == []
    assert not (tmp_path / "never").exists()


def test_manifest_remembers_model_and_index_so_reopening_needs_no_arguments(tmp_path):
    open_store(tmp_path / "s", index="approximate").upsert(documents())
    _snapshots.clear()
    store = open_store(tmp_path / "s")
    manifest = store.manifest
    assert manifest["embedding_model"] == BUNDLED_MODEL and manifest["dimension"] == 384
    assert manifest["index"]["kind"] == APPROXIMATE and manifest["index"]["nlist"] == ivf_lists(len(PASSAGES))
    assert manifest["count"] == len(PASSAGES) and manifest["format_version"] == 1
    assert store.search("I forgot my password", k=1)[0].doc_id == "password"


def test_reopening_with_another_model_or_index_is_refused(tmp_path, tiny_bert_path, minilm_path):
    open_store(tmp_path / "s").upsert(documents(["refunds"]))
    with pytest.raises(StoreError, match="built with embedding model"):
        open_store(tmp_path / "s", embedding_model=tiny_bert_path).count()
    with pytest.raises(StoreError, match="uses the 'flat' index.*--index approximate"):
        open_store(tmp_path / "s", index="approximate").count()
    assert open_store(tmp_path / "s", embedding_model=minilm_path).count() == 1
    with pytest.raises(StoreError, match="Unknown index"):
        open_store(tmp_path / "s", index="hnsw")


def test_any_local_hugging_face_folder_can_embed(tmp_path, tiny_bert_path):
    store = open_store(tmp_path / "s", embedding_model=tiny_bert_path)
    store.upsert(documents())
    assert store.manifest["dimension"] == 32 and store.manifest["embedding_model"] == tiny_bert_path
    _snapshots.clear()
    again = open_store(tmp_path / "s")
    assert again.search(PASSAGES["loyalty"], k=1, mode="dense")[0].doc_id == "loyalty"


def test_missing_embedding_model_folder_is_a_clear_error(tmp_path):
    store = open_store(tmp_path / "s", embedding_model=str(tmp_path / "no-model"))
    with pytest.raises(StoreError, match="not a local sentence-transformers"):
        store.upsert(documents(["refunds"]))
    assert not (tmp_path / "s" / CURRENT).exists()


@pytest.mark.parametrize("version, advice", [(0, "older assistant.*ingest the documents again"), (99, "newer assistant.*upgrade")])
def test_a_store_of_another_format_version_fails_with_advice(tmp_path, version, advice):
    open_store(tmp_path / "s").upsert(documents(["refunds"]))
    manifest_path = tmp_path / "s" / snapshots(tmp_path / "s")[0] / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = version
    manifest_path.write_text(json.dumps(manifest))
    _snapshots.clear()
    with pytest.raises(StoreError, match=f"format version {version}.*{advice}"):
        open_store(tmp_path / "s").search("refunds")


def test_damaged_store_files_give_clear_errors(tmp_path):
    open_store(tmp_path / "s").upsert(documents(["refunds"]))
    snapshot = tmp_path / "s" / snapshots(tmp_path / "s")[0]
    (snapshot / "index.faiss").write_bytes(b"garbage")
    _snapshots.clear()
    with pytest.raises(StoreError, match="damaged"):
        open_store(tmp_path / "s").count()
    (tmp_path / "s" / CURRENT).write_text('{"snapshot": "snap-00000042"}')
    with pytest.raises(StoreError, match="damaged.*missing"):
        open_store(tmp_path / "s").count()
    (tmp_path / "s" / CURRENT).write_text("not json")
    with pytest.raises(StoreError, match="CURRENT is damaged"):
        open_store(tmp_path / "s").count()


def test_each_write_publishes_one_snapshot_and_removes_the_old_and_stale_ones(tmp_path):
    store = open_store(tmp_path / "s")
    store.upsert(documents(["refunds"]))
    (tmp_path / "s" / ".tmp-left-by-a-killed-writer").mkdir()
    store.upsert(documents(["payment"]))
    assert snapshots(tmp_path / "s") == ["snap-00000002"]
    assert not (tmp_path / "s" / ".tmp-left-by-a-killed-writer").exists()
    assert json.loads((tmp_path / "s" / CURRENT).read_text()) == {"snapshot": "snap-00000002"}
    store.upsert([])
    store.delete(["unknown"])
    assert snapshots(tmp_path / "s") == ["snap-00000002"]  # writes that change nothing publish nothing


def test_a_second_store_object_sees_writes_made_through_the_first(tmp_path):
    first, second = open_store(tmp_path / "s"), open_store(tmp_path / "s")
    assert second.count() == 0
    first.upsert(documents(["refunds", "payment"]))
    assert second.count() == 2
    second.delete(["refunds"])
    assert first.ids() == ["payment"]


def test_reindex_switches_between_exact_and_approximate(tmp_path):
    store = open_store(tmp_path / "s")
    store.upsert(documents())
    before = [h.doc_id for h in store.search("order", k=5, mode="dense")]
    store.reindex(APPROXIMATE)
    assert store.index_kind == APPROXIMATE
    assert [h.doc_id for h in store.search("order", k=5, mode="dense")] == before  # few lists, all probed: exact
    store.reindex(FLAT)
    assert store.index_kind == FLAT and store.count() == len(PASSAGES)


def test_approximate_index_retrains_its_lists_as_the_store_grows(tmp_path):
    store = open_store(tmp_path / "s", index="approximate")
    vectors = clustered(800)
    store.upsert([Document(id=f"v{i}", text=f"vector {i}", embedding=vectors[i]) for i in range(40)])
    assert store.manifest["index"]["trained_on"] == 40
    store.upsert([Document(id=f"v{i}", text=f"vector {i}", embedding=vectors[i]) for i in range(40, 100)])
    assert store.manifest["index"]["trained_on"] == 40  # 100 < 4 x 40: lists kept, vectors added
    store.upsert([Document(id=f"v{i}", text=f"vector {i}", embedding=vectors[i]) for i in range(100, 800)])
    index = store.manifest["index"]
    assert index["trained_on"] == 800 and index["nlist"] == ivf_lists(800) > ivf_lists(40)
    assert index["nprobe"] == ivf_nprobe(index["nlist"], 800)
    assert store._snapshot().index.ntotal == 800 == store.count()


def test_approximate_index_recall_against_exact_search():
    vectors = clustered(4000, clusters=40, seed=1)
    queries = clustered(100, clusters=40, seed=2)
    ids = np.arange(4000)
    exact, exact_config = build_index(FLAT, vectors, ids)
    approximate, config = build_index(APPROXIMATE, vectors, ids, nprobe=16)
    assert config.nlist == ivf_lists(4000) and config.nprobe == 16 < config.nlist
    _, truth = search_index(exact, exact_config, queries, 10)
    _, found = search_index(approximate, config, queries, 10)
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found)])
    assert recall >= 0.9


def test_filtered_search_on_the_approximate_index_is_exact_for_narrow_filters(tmp_path):
    store = open_store(tmp_path / "s", index="approximate")
    vectors = clustered(600, seed=3)
    store.upsert(
        [Document(id=f"v{i}", text=f"vector {i}", embedding=vectors[i], metadata={"group": i % 50}) for i in range(600)]
    )
    hits = store.search("vector", k=20, mode="dense", filters={"group": 7})
    assert sorted(int(h.doc_id[1:]) for h in hits) == list(range(7, 600, 50))


def test_searches_from_other_threads_during_writes_see_whole_snapshots(tmp_path):
    store = open_store(tmp_path / "s")
    store.upsert(documents(["payment"]))
    failures: list[BaseException] = []
    seen: set[int] = set()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                hits = store.search("PayPal Visa", k=50, mode="bm25")
                seen.add(len(store.ids()))
                assert hits[0].doc_id.endswith("payment")
            except BaseException as exc:  # collected and re-raised in the main thread
                failures.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for round_ in range(3):
        store.upsert(documents(["payment", "refunds"], prefix=f"r{round_}-"))
    stop.set()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert seen <= {1, 3, 5, 7} and store.count() == 7


def test_loaded_snapshots_are_shared_per_folder(tmp_path):
    open_store(tmp_path / "s").upsert(documents(["refunds"]))
    a, b = FaissStore(tmp_path / "s"), FaissStore(tmp_path / "s")
    assert a._snapshot() is b._snapshot() is _snapshots[_key(tmp_path / "s")]


def test_repeated_queries_reuse_their_embedding(tmp_path):
    store = open_store(tmp_path / "s")
    store.upsert(documents(["refunds", "payment"]))
    embedder = store._get_embedder(store._snapshot())
    first = store.search("can I pay with PayPal", k=1, mode="dense")
    cached = embedder._recent["can I pay with PayPal"]
    again = store.search("can I pay with PayPal", k=1, mode="hybrid")
    assert embedder._recent["can I pay with PayPal"] is cached
    assert first[0].doc_id == again[0].doc_id == "payment"
    np.testing.assert_allclose(cached, embedder.embed(["can I pay with PayPal"]), atol=1e-5)
