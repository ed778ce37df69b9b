"""The questions a reader was trained on, with their answers, kept beside it as a memory.

Users ask the same things in other words. When a question is close to questions the reader was
trained on, a candidate span that agrees with their answers is likelier right than an equally
scored one that does not: the reader ranks candidates badly (its 30 best spans nearly always
hold the answer; its first is right half of the time), and the memory is the evidence it lacks.
``agreement`` measures that evidence for each candidate; the caller weighs spans with it (see
``plugins.customer_service.answers``). The reader's own scores, and its calibrated threshold, are
left as they are. ``votes`` does the same for retrieved passages: the closest known questions point
at the passages that hold their answers, which the caller fuses with the retriever's own ranking.

Saved in a reader's version folder as ``known_answers.json`` (questions, answers and the name of
the sentence-transformers model that embedded them) and ``known_answers.npy`` (the vectors), so
that loading costs no embedding pass; asked with another embedding model, the questions are
embedded again with it, once.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from assistant.errors import ModelCorruptedError

FILE = "known_answers.json"
VECTORS = "known_answers.npy"
#: How many of the closest known questions vote.
NEIGHBOURS = 10
#: A known question counts exp((cosine - 1) / TEMPERATURE): 0.37 at cosine 0.9, 0.05 at 0.7, so
#: questions that are not paraphrases hardly count, however many there are.
TEMPERATURE = 0.1


class KnownAnswers:
    def __init__(self, questions: list[str], answers: list[list[str]], vectors: np.ndarray, embedding_model: str):
        if len(questions) != len(answers) or len(questions) != len(vectors):
            raise ValueError(f"{len(questions)} questions, {len(answers)} answer lists and {len(vectors)} vectors do not match")
        self.questions = questions
        self.answers = answers
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.embedding_model = embedding_model
        self._other_vectors: dict[str, np.ndarray] = {}

    @classmethod
    def build(cls, examples, embedder) -> "KnownAnswers":
        """From answerable ``QAExample``s, embedded with a ``knowledge.embedding.Embedder``."""
        kept = [e for e in examples if e.answers and not e.is_impossible]
        questions = [e.question for e in kept]
        answers = [list(dict.fromkeys(a["text"] for a in e.answers)) for e in kept]
        return cls(questions, answers, embedder.embed(questions), embedder.name)

    def __len__(self) -> int:
        return len(self.questions)

    def save(self, folder: Path) -> None:
        """Write both files into a version's staging folder (the registry renames the folder whole)."""
        folder = Path(folder)
        record = {"embedding_model": self.embedding_model, "questions": self.questions, "answers": self.answers}
        (folder / FILE).write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        np.save(folder / VECTORS, self.vectors)

    @classmethod
    def load(cls, folder: Path, plugin: str = "?") -> "KnownAnswers | None":
        """The memory saved in ``folder``, or None for a version trained without one."""
        folder = Path(folder)
        if not (folder / FILE).exists():
            return None
        try:
            record = json.loads((folder / FILE).read_text(encoding="utf-8"))
            vectors = np.load(folder / VECTORS)
            return cls(record["questions"], record["answers"], vectors, record["embedding_model"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelCorruptedError(plugin, str(folder), f"{FILE} or {VECTORS} is unreadable: {exc}") from exc

    def _vectors_for(self, embedder) -> np.ndarray:
        if embedder.name == self.embedding_model:
            return self.vectors
        if embedder.name not in self._other_vectors:
            self._other_vectors[embedder.name] = embedder.embed(self.questions)
        return self._other_vectors[embedder.name]

    def _closest(self, question: str, embedder) -> tuple[np.ndarray, np.ndarray]:
        """The ``NEIGHBOURS`` closest known questions and their weights, exp((cosine - 1) / TEMPERATURE)."""
        cosine = self._vectors_for(embedder) @ embedder.embed_query(question)[0]
        closest = np.argsort(-cosine)[:NEIGHBOURS]
        return closest, np.exp((cosine[closest] - 1.0) / TEMPERATURE)

    def agreement(self, question: str, spans: list[str], embedder) -> np.ndarray:
        """Per span, how much the closest known questions' answers agree with it: the sum over the
        ``NEIGHBOURS`` closest of their weight times the span's best SQuAD F1 against that
        question's answers. 0 when no known question is close or none agrees."""
        from assistant.training.metrics import answer_scores  # the package imports the models

        if not spans or not self.questions:
            return np.zeros(len(spans))
        closest, weights = self._closest(question, embedder)
        overlap = np.array([[answer_scores(span, self.answers[j])[1] for j in closest] for span in spans])
        return overlap @ weights

    def votes(self, question: str, passages: list[str], embedder) -> np.ndarray:
        """Per passage, how strongly the closest known questions point at it: the sum of the weights
        of the ``NEIGHBOURS`` closest whose answer it contains. 0 when none is close or none is in it."""
        if not passages or not self.questions:
            return np.zeros(len(passages))
        closest, weights = self._closest(question, embedder)
        holds = np.array([[any(answer in passage for answer in self.answers[j]) for j in closest] for passage in passages])
        return holds.astype(float) @ weights
