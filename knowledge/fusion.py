"""Reciprocal rank fusion (Cormack et al., 2009): merges rankings by rank, not by score, so a
cosine similarity and a BM25 score never have to be put on the same scale."""

from __future__ import annotations

from typing import Hashable, Iterable

#: The constant from the paper; damps the weight of the very first ranks.
RRF_K = 60


def reciprocal_rank_fusion(rankings: Iterable[list[Hashable]], k: int = RRF_K) -> list[tuple[Hashable, float]]:
    """Items of all rankings with score Σ 1/(k + rank), best first (ties keep first-seen order)."""
    scores: dict[Hashable, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: pair[1], reverse=True)
