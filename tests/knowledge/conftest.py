"""Knowledge-store fixtures: one MiniLM shared by every test in the session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def shared_embedder(minilm_path):
    """Load the bundled MiniLM once; every store in the process reuses it (knowledge.embedding caches per folder)."""
    from knowledge.embedding import BUNDLED_MODEL, Embedder

    return Embedder(BUNDLED_MODEL)
