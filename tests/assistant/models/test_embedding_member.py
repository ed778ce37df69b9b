"""The frozen-embedding member on the bundled MiniLM: it learns labels on its own and survives a save."""

from __future__ import annotations

import numpy as np

from assistant.models.embedding_member import EmbeddingMember
from tests.assistant.training.tiny import TEMPLATES, intent_rows

LABELS = sorted(TEMPLATES)


def test_the_member_learns_labels_from_frozen_embeddings_and_loads_back_the_same(minilm_path, tmp_path):
    rows = intent_rows()
    train, held_out = rows[:90], rows[90:]
    member = EmbeddingMember.fit(minilm_path, [t for t, _ in train], [LABELS.index(label) for _, label in train], len(LABELS),
                                 max_length=32, seed=0)
    texts = [t for t, _ in held_out]
    probabilities = member.probabilities(texts)
    assert probabilities.shape == (len(texts), 3) and np.allclose(probabilities.sum(axis=1), 1)
    assert np.mean([LABELS[i] == label for i, (_, label) in zip(probabilities.argmax(axis=1), held_out)]) > 0.9  # chance: 1/3
    member.save(tmp_path, quantized=False)
    again = EmbeddingMember.load(tmp_path, quantized=False)
    assert again.regularisation == member.regularisation and again.max_length == 32
    assert np.allclose(again.probabilities(texts), probabilities, atol=1e-5)


def test_two_labels_give_two_columns_that_match_the_regressions_sigmoid(minilm_path):
    rows = [(t, label) for t, label in intent_rows() if label in LABELS[:2]]
    member = EmbeddingMember.fit(minilm_path, [t for t, _ in rows], [LABELS.index(label) for _, label in rows], 2,
                                 max_length=32, seed=0)
    probabilities = member.probabilities([t for t, _ in rows])
    assert probabilities.shape == (len(rows), 2) and np.allclose(probabilities.sum(axis=1), 1)
    assert np.mean([LABELS[i] == label for i, (_, label) in zip(probabilities.argmax(axis=1), rows)]) > 0.9
