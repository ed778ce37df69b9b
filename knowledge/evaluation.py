"""Retrieval quality of a store: recall@k and MRR for dense, BM25 and hybrid search side by side.

Queries file: JSON Lines, one object per line::

    {"query": "how long do refunds take", "relevant": ["refunds.md"]}
    {"query": "can I change my address", "relevant": ["change-delivery-address.md", "faq.csv#12"]}

``relevant`` lists what a correct answer may come from. Each entry is matched against a hit as
(1) its source name, as ``assistant ingest`` records it (the path relative to the ingested
folder; a trailing part such as ``"refunds.md"`` also matches ``"policies/refunds.md"``), or
(2) an exact document id (ingested passages are ``"<source>#<chunk number>"``; useful for
documents you upserted yourself). Source names are what users know, so prefer them.
An optional ``"filters"`` object is passed on to ``search``.

Metrics, averaged over queries: ``recall@k`` is the share of a query's relevant entries found in
the top k hits; ``mrr`` is the mean reciprocal rank of the first relevant hit within the top
``max(ks)`` (0 when none is found there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from assistant.errors import DataFormatError
from knowledge.documents import Hit
from knowledge.protocol import SEARCH_MODES, KnowledgeStore


@dataclass
class RetrievalQuery:
    query: str
    relevant: list[str]
    filters: dict[str, Any] | None = None


def load_queries(path: Path) -> list[RetrievalQuery]:
    """Parse a queries file; DataFormatError names the line and what is wrong with it."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise DataFormatError(str(path), "file not found; pass a JSONL file of {\"query\", \"relevant\"} objects") from exc
    except UnicodeDecodeError as exc:
        raise DataFormatError(str(path), "not UTF-8 text; re-save it as UTF-8") from exc
    queries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise DataFormatError(str(path), f"not valid JSON ({exc})", number) from exc
        if not isinstance(item, dict) or not isinstance(item.get("query"), str) or not item["query"].strip():
            raise DataFormatError(str(path), 'each line needs a non-empty "query" string', number)
        relevant = item.get("relevant")
        if isinstance(relevant, str):
            relevant = [relevant]
        if not isinstance(relevant, list) or not relevant or not all(isinstance(entry, str) and entry for entry in relevant):
            raise DataFormatError(str(path), '"relevant" must be a non-empty list of source names or document ids', number)
        filters = item.get("filters")
        if filters is not None and not isinstance(filters, dict):
            raise DataFormatError(str(path), '"filters" must be an object of metadata key -> value', number)
        queries.append(RetrievalQuery(query=item["query"], relevant=list(dict.fromkeys(relevant)), filters=filters))
    if not queries:
        raise DataFormatError(str(path), "no queries found; add one JSON object per line")
    return queries


def matches(hit: Hit, entry: str) -> bool:
    """Whether ``hit`` comes from the relevant ``entry`` (a source name, its trailing path, or a document id)."""
    if entry in (hit.doc_id, hit.source):
        return True
    wanted = PurePosixPath(entry).parts
    return len(wanted) > 0 and PurePosixPath(hit.source).parts[-len(wanted) :] == wanted


def evaluate_retrieval(store: KnowledgeStore, queries_path: Path, ks: tuple[int, ...] = (1, 3, 5, 10)) -> dict[str, dict[str, float]]:
    """mode -> {"recall@k": ..., "mrr": ...} for every search mode, on the queries in ``queries_path``."""
    queries = load_queries(queries_path)
    ks = tuple(sorted(set(ks)))
    depth = ks[-1]
    result: dict[str, dict[str, float]] = {}
    for mode in SEARCH_MODES:
        recall = dict.fromkeys(ks, 0.0)
        reciprocal_ranks = 0.0
        for item in queries:
            hits = store.search(item.query, k=depth, mode=mode, filters=item.filters)
            first_rank: dict[str, int] = {}
            for rank, hit in enumerate(hits, start=1):
                for entry in item.relevant:
                    if entry not in first_rank and matches(hit, entry):
                        first_rank[entry] = rank
            for k in ks:
                recall[k] += sum(rank <= k for rank in first_rank.values()) / len(item.relevant)
            if first_rank:
                reciprocal_ranks += 1.0 / min(first_rank.values())
        metrics = {f"recall@{k}": recall[k] / len(queries) for k in ks}
        metrics["mrr"] = reciprocal_ranks / len(queries)
        result[mode] = metrics
    return result


def format_retrieval_report(result: dict[str, dict[str, float]]) -> str:
    """A plain-text table: one row per search mode, one column per metric."""
    if not result:
        return "No results."
    metrics = list(next(iter(result.values())))
    width = max(len(name) for name in [*metrics, "0.000"]) + 2
    mode_width = max(len(mode) for mode in [*result, "mode"]) + 2
    lines = ["mode".ljust(mode_width) + "".join(name.rjust(width) for name in metrics)]
    for mode, values in result.items():
        lines.append(mode.ljust(mode_width) + "".join(f"{values[name]:.3f}".rjust(width) for name in metrics))
    return "\n".join(lines)
