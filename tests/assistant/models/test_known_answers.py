"""Known answers: a reader's training questions with their answers, as evidence for its candidate spans."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.errors import ModelCorruptedError
from assistant.models.known_answers import FILE, VECTORS, KnownAnswers
from assistant.training.data import QAExample

RETURNS = "Returns are accepted within 30 days of delivery. Refunds reach your card in 5 business days."


class TopicEmbedder:
    """Unit vectors over a few topic words, so question similarities are known exactly."""

    TOPICS = ("return", "refund", "ship")

    def __init__(self, name="topics"):
        self.name = name
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        vectors = np.array([[float(topic in text.lower()) for topic in self.TOPICS] + [0.2] for text in texts])
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)

    def embed_query(self, text):
        return self.embed([text])


def example(qid, question, answers, context=RETURNS):
    return QAExample(qid, question, context, [{"text": a, "answer_start": context.index(a)} for a in answers])


EXAMPLES = [
    example("days", "how long do I have to return an item?", ["30 days", "within 30 days"]),
    example("refund", "when will my refund reach my card?", ["5 business days"]),
    QAExample("none", "do you sell pets?", RETURNS, [], is_impossible=True),
]


def test_a_span_agreeing_with_a_paraphrases_answer_outweighs_the_others():
    known = KnownAnswers.build(EXAMPLES, TopicEmbedder())
    assert known.questions == [EXAMPLES[0].question, EXAMPLES[1].question]  # unanswerable questions are left out
    agreement = known.agreement("what's the return window?", ["30 days", "within 30 days of delivery", "5 business days"], TopicEmbedder())
    assert agreement[0] == pytest.approx(1.0, abs=1e-3)  # one paraphrase at cosine 1, exact match
    assert 0.5 < agreement[1] < agreement[0]  # partly the same words
    # the refund question is no paraphrase, so its own answer only shares "days" with "30 days" (F1 0.4)
    assert agreement[2] == pytest.approx(0.4, abs=1e-3)


def test_questions_unlike_every_known_one_get_no_agreement():
    known = KnownAnswers.build(EXAMPLES, TopicEmbedder())
    assert known.agreement("do you ship abroad?", ["30 days", "5 business days"], TopicEmbedder()).max() < 0.01
    assert known.agreement("anything", [], TopicEmbedder()).shape == (0,)


def test_known_answers_load_back_from_a_version_folder(tmp_path):
    KnownAnswers.build(EXAMPLES, TopicEmbedder()).save(tmp_path)
    loaded = KnownAnswers.load(tmp_path)
    assert loaded.answers == [["30 days", "within 30 days"], ["5 business days"]] and loaded.embedding_model == "topics"
    assert loaded.vectors.shape == (2, 4) and loaded.vectors.dtype == np.float32
    assert KnownAnswers.load(tmp_path / "missing") is None  # a version trained without them


def test_unreadable_known_answers_name_the_version_folder(tmp_path):
    KnownAnswers.build(EXAMPLES, TopicEmbedder()).save(tmp_path)
    (tmp_path / VECTORS).write_bytes(b"not numpy")
    with pytest.raises(ModelCorruptedError, match=f"{FILE} or {VECTORS} is unreadable"):
        KnownAnswers.load(tmp_path, "customer_service")


def test_another_embedding_model_embeds_the_known_questions_again_once():
    known = KnownAnswers.build(EXAMPLES, TopicEmbedder("stored"))
    other = TopicEmbedder("the store's")
    for _ in range(3):
        assert known.agreement("return window?", ["30 days"], other)[0] == pytest.approx(1.0, abs=1e-3)
    assert other.calls == 1 + 3  # the known questions once, then one query per call


def test_known_questions_vote_for_the_passages_holding_their_answers():
    known = KnownAnswers.build(EXAMPLES, TopicEmbedder())
    passages = ["Refunds reach your card in 5 business days.", "Returns are accepted within 30 days of delivery.", "We ship to Canada."]
    votes = known.votes("what's the return window?", passages, TopicEmbedder())
    assert votes[1] == pytest.approx(1.0, abs=1e-3)  # the paraphrase at cosine 1 holds "30 days" there
    assert votes[0] < 0.1 * votes[1] and votes[2] == 0.0  # the refund question is far; nobody's answer is in the third
    assert known.votes("anything", [], TopicEmbedder()).shape == (0,)
