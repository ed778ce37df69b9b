"""Retrieval metrics: exact arithmetic on known rankings, and a real store end to end."""

from __future__ import annotations

import json
from contextlib import nullcontext

import pytest

from assistant.errors import DataFormatError
from knowledge import Hit, ingest_path, open_store
from knowledge.evaluation import evaluate_retrieval, format_retrieval_report, load_queries, matches
from knowledge.protocol import SEARCH_MODES
from tests.knowledge.conformance import PASSAGES, QUERIES


class RankedStore:
    """A store whose rankings are given per mode and query, to check the metric arithmetic."""

    def __init__(self, rankings: dict[str, dict[str, list[str]]]):
        self.rankings = rankings
        self.calls: list[tuple[str, int, str, dict | None]] = []

    def search(self, query, k=5, mode="hybrid", filters=None):
        self.calls.append((query, k, mode, filters))
        return [Hit(doc_id=f"{source}#0", text="", score=1.0, source=source, start=0, end=0) for source in self.rankings[mode][query][:k]]

    def count(self, filters=None):
        return 0

    def ids(self, filters=None):
        return []

    def upsert(self, documents):
        return 0

    def delete(self, ids):
        return 0

    def transaction(self):
        return nullcontext(self)


def write_queries(path, rows):
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    return path


def test_recall_and_mrr_are_computed_per_mode(tmp_path):
    queries = write_queries(
        tmp_path / "q.jsonl",
        [
            {"query": "a", "relevant": ["docs/a.md"]},
            {"query": "b", "relevant": ["b.md", "c.md"], "filters": {"plugin": "shop"}},
        ],
    )
    found_late = ["x.md", "y.md", "z.md", "docs/a.md"]
    store = RankedStore(
        {
            "dense": {"a": ["docs/a.md", "x.md"], "b": ["x.md", "c.md", "b.md"]},
            "bm25": {"a": found_late, "b": ["y.md"]},
            "hybrid": {"a": ["x.md", "docs/a.md"], "b": ["notes/b.md", "c.md"]},
        }
    )
    result = evaluate_retrieval(store, queries, ks=(1, 3))
    assert result["dense"] == {"recall@1": 0.5, "recall@3": 1.0, "mrr": pytest.approx((1 + 1 / 2) / 2)}
    assert result["bm25"] == {"recall@1": 0.0, "recall@3": 0.0, "mrr": 0.0}  # rank 4 is beyond max(ks)
    assert result["hybrid"] == {"recall@1": 0.25, "recall@3": 1.0, "mrr": pytest.approx((1 / 2 + 1) / 2)}
    assert {call[1] for call in store.calls} == {3}
    assert ("b", 3, "bm25", {"plugin": "shop"}) in store.calls
    assert list(result) == list(SEARCH_MODES)


def test_relevant_entries_match_source_names_trailing_paths_and_document_ids():
    hit = Hit(doc_id="policies/refunds.md#2", text="", score=0.0, source="policies/refunds.md", start=0, end=0)
    assert matches(hit, "policies/refunds.md") and matches(hit, "refunds.md") and matches(hit, "policies/refunds.md#2")
    assert not matches(hit, "unds.md") and not matches(hit, "other/refunds.md") and not matches(hit, "policies/refunds.md#1")


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"query": "x", "relevant": ["a"]}\nnot json\n', "line 2: not valid JSON"),
        ('{"relevant": ["a"]}\n', 'line 1: each line needs a non-empty "query"'),
        ('{"query": "x", "relevant": []}\n', 'line 1: "relevant" must be a non-empty list'),
        ('{"query": "x", "relevant": ["a"], "filters": [1]}\n', 'line 1: "filters" must be an object'),
        ("\n\n", "no queries found"),
    ],
)
def test_malformed_queries_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "q.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        load_queries(path)


def test_missing_queries_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataFormatError, match="file not found"):
        load_queries(tmp_path / "absent.jsonl")


def test_a_single_relevant_string_is_accepted(tmp_path):
    path = write_queries(tmp_path / "q.jsonl", [{"query": "x", "relevant": "a.md"}])
    assert load_queries(path)[0].relevant == ["a.md"]


def test_evaluation_of_a_real_store_reports_all_modes_side_by_side(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in PASSAGES.items():
        (docs / f"{name}.txt").write_text(text, encoding="utf-8")
    store = open_store(tmp_path / "store")
    ingest_path(store, docs, "shop")
    queries = write_queries(tmp_path / "q.jsonl", [{"query": q, "relevant": [f"{name}.txt"]} for q, name in QUERIES.items()])
    result = evaluate_retrieval(store, queries)
    for mode in SEARCH_MODES:
        metrics = result[mode]
        assert list(metrics) == ["recall@1", "recall@3", "recall@5", "recall@10", "mrr"]
        assert metrics["recall@1"] == 1.0 and metrics["mrr"] == 1.0  # every query shares a keyword with its passage
    report = format_retrieval_report(result)
    lines = report.splitlines()
    assert lines[0].split() == ["mode", "recall@1", "recall@3", "recall@5", "recall@10", "mrr"]
    assert [line.split()[0] for line in lines[1:]] == list(SEARCH_MODES)
    assert lines[1].split()[1:] == ["1.000"] * 5
