"""Extractive question answering: find answer spans in passages, with character offsets and scores.

Long passages are split into overlapping windows (``max_length`` tokens, ``doc_stride`` tokens
of overlap). In each window the model gives start and end logits; after dividing by the fitted
temperature, a softmax over the window's context tokens plus [CLS] turns them into
probabilities, and a span's score is ``p(start) * p(end)`` (0..1). [CLS] stands for "no answer
here": a window whose no-answer score beats its best span contributes nothing, so when the model
prefers no answer everywhere, ``extract`` returns ``[]``. BERT's QA head reads token states
directly, so the unused [CLS] pooler of the base model plays no part here. An answer never
crosses a line break or a table cell (``|``): such spans are not candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from assistant.errors import ModelCorruptedError
from assistant.models.base import CalibratedModel, quiet_transformers
from assistant.models.known_answers import KnownAnswers
from assistant.models.quantization import load_quantized, quantize_int8, save_quantized
from assistant.models.registry import Manifest

QA_TASK = "extractive-qa"


@dataclass
class AnswerSpan:
    passage_index: int
    #: Character offsets into ``passages[passage_index]``; ``text`` equals that slice.
    start: int
    end: int
    text: str
    #: Calibrated probability of this span (0..1), comparable with ``AnswerExtractor.abstain_threshold``.
    score: float


@dataclass
class WindowSpans:
    """Candidate spans of one window (score, char start, char end) and its no-answer score."""

    spans: list[tuple[float, int, int]]
    null_score: float

    @property
    def prefers_answer(self) -> bool:
        return bool(self.spans) and self.spans[0][0] > self.null_score


def encode_windows(tokenizer, questions: list[str], contexts: list[str], max_length: int, doc_stride: int):
    """Tokenize (question, context) pairs into overlapping windows of the context.

    Returns the tokenizer output plus, per window, the source pair index and the character
    offsets of its context tokens (``None`` for question, special and padding tokens).
    """
    encoded = tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    sources = list(encoded.pop("overflow_to_sample_mapping"))
    offsets = []
    for i, window in enumerate(encoded.pop("offset_mapping")):
        ids = encoded.sequence_ids(i)
        offsets.append([tuple(o) if ids[k] == 1 else None for k, o in enumerate(window)])
    return encoded, sources, offsets


def _probabilities(logits: np.ndarray, valid: np.ndarray, temperature: float) -> np.ndarray:
    scaled = np.where(valid, logits / temperature, -np.inf)
    scaled = scaled - scaled[valid].max()
    exp = np.exp(scaled)
    return exp / exp.sum()


#: Characters an answer span never contains: it stays inside one line and one table cell.
SPAN_BREAKS = ("\n", "|")


def window_spans(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: list[tuple[int, int] | None],
    temperature: float = 1.0,
    n_best: int = 20,
    max_answer_tokens: int = 30,
    text: str | None = None,
) -> WindowSpans:
    """Best spans of one window, highest score first, with the window's no-answer score.

    With the passage ``text``, spans crossing a line break or a table cell are left out."""
    length = len(offsets)
    start_logits = np.asarray(start_logits[:length], dtype=np.float64)
    end_logits = np.asarray(end_logits[:length], dtype=np.float64)
    context = np.array([o is not None for o in offsets])
    valid = context.copy()
    valid[0] = True  # [CLS] carries the no-answer score
    p_start = _probabilities(start_logits, valid, temperature)
    p_end = _probabilities(end_logits, valid, temperature)
    positions = np.flatnonzero(context)
    if positions.size == 0:
        return WindowSpans([], float(p_start[0] * p_end[0]))
    starts = positions[np.argsort(-p_start[positions])[:n_best]]
    ends = positions[np.argsort(-p_end[positions])[:n_best]]
    spans = []
    for s in starts:
        for e in ends:
            if e < s or e - s + 1 > max_answer_tokens:
                continue
            if text is not None and any(mark in text[offsets[s][0] : offsets[e][1]] for mark in SPAN_BREAKS):
                continue
            spans.append((float(p_start[s] * p_end[e]), offsets[s][0], offsets[e][1]))
    spans.sort(key=lambda span: -span[0])
    return WindowSpans(spans, float(p_start[0] * p_end[0]))


def best_answers(
    contexts: list[str],
    sources: list[int],
    offsets: list[list[tuple[int, int] | None]],
    starts,
    ends,
    temperature: float = 1.0,
    max_answer_tokens: int = 30,
    allow_no_answer: bool = True,
) -> list[AnswerSpan | None]:
    """The best span of each context over all its windows; None where every window prefers no answer.

    With ``allow_no_answer=False`` (SQuAD v1.1 scoring, where every question has an answer) the best
    span is kept even where [CLS] scores higher; its low score is left for the abstain threshold to judge.
    """
    best: list[AnswerSpan | None] = [None] * len(contexts)
    for source, window_offsets, start, end in zip(sources, offsets, starts, ends):
        found = window_spans(start, end, window_offsets, temperature, max_answer_tokens=max_answer_tokens, text=contexts[source])
        current = best[source]
        usable = found.prefers_answer or (not allow_no_answer and bool(found.spans))
        if usable and (current is None or found.spans[0][0] > current.score):
            score, s, e = found.spans[0]
            best[source] = AnswerSpan(passage_index=source, start=s, end=e, text=contexts[source][s:e], score=score)
    return best


class AnswerExtractor(CalibratedModel):
    """A saved extractive-QA version; build it with ``AnswerExtractor.load``."""

    default_max_length = 384

    def __init__(self, model, tokenizer, manifest, path, known_answers: KnownAnswers | None = None):
        super().__init__(model, tokenizer, manifest, path)
        #: The questions it was trained on with their answers, when its spec kept them (see known_answers).
        self.known_answers = known_answers

    @classmethod
    def load(cls, version_path) -> "AnswerExtractor":
        from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoTokenizer

        path = Path(version_path)
        manifest = Manifest.load(path)
        if manifest.task != QA_TASK:
            raise ModelCorruptedError(manifest.plugin, str(path), f"it holds a '{manifest.task}' model, not an answer extractor")
        try:
            with quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(str(path))
                if manifest.quantized:
                    skeleton = AutoModelForQuestionAnswering.from_config(AutoConfig.from_pretrained(str(path)))
                    model = load_quantized(skeleton, path)
                else:
                    model = AutoModelForQuestionAnswering.from_pretrained(str(path))
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise ModelCorruptedError(manifest.plugin, str(path), f"its weights do not load: {exc}") from exc
        return cls(model, tokenizer, manifest, path, KnownAnswers.load(path, manifest.plugin))

    @property
    def doc_stride(self) -> int:
        return int(self.manifest.training.get("doc_stride", 128))

    @property
    def max_answer_tokens(self) -> int:
        return int(self.manifest.training.get("max_answer_tokens", 30))

    def quantized(self) -> "AnswerExtractor":
        """An int8 copy (same tokenizer and calibration) for faster CPU inference."""
        return AnswerExtractor(
            quantize_int8(self.model), self.tokenizer, replace(self.manifest, quantized=True), self.path, self.known_answers
        )

    def save_weights(self, folder: Path) -> None:
        """Write this extractor's weights, tokenizer and known answers (the caller writes the manifest)."""
        self.tokenizer.save_pretrained(folder)
        if self.known_answers is not None:
            self.known_answers.save(folder)
        if self.manifest.quantized:
            self.model.config.save_pretrained(folder)
            save_quantized(self.model, folder)
        else:
            self.model.save_pretrained(folder)

    def window_logits(self, encoded, batch_size: int = 16) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Start and end logits of every window of an ``encode_windows`` output."""
        starts, ends = [], []
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded]
        with torch.inference_mode():
            for first in range(0, len(encoded["input_ids"]), batch_size):
                batch = {k: encoded[k][first : first + batch_size] for k in keys}
                padded = self.tokenizer.pad(batch, return_tensors="pt").to(self.device)
                output = self.model(**padded)
                start_logits, end_logits = output.start_logits.float().cpu().numpy(), output.end_logits.float().cpu().numpy()
                for row, ids in enumerate(batch["input_ids"]):
                    starts.append(start_logits[row, : len(ids)])
                    ends.append(end_logits[row, : len(ids)])
        return starts, ends

    def answer_each(
        self, questions: list[str], contexts: list[str], batch_size: int = 16, allow_no_answer: bool = True
    ) -> list[AnswerSpan | None]:
        """The best span for each (question, context) pair, or None where the model prefers no answer
        (unless ``allow_no_answer`` is False; see ``best_answers``)."""
        encoded, sources, offsets = encode_windows(self.tokenizer, questions, contexts, self.max_length, self.doc_stride)
        starts, ends = self.window_logits(encoded, batch_size)
        return best_answers(contexts, sources, offsets, starts, ends, self.temperature, self.max_answer_tokens, allow_no_answer)

    def extract(self, question: str, passages: list[str], top_k: int = 3) -> list[AnswerSpan]:
        """The ``top_k`` best answer spans over all passages; ``[]`` when the model prefers no answer."""
        if not passages or not question.strip():
            return []
        encoded, sources, offsets = encode_windows(
            self.tokenizer, [question] * len(passages), passages, self.max_length, self.doc_stride
        )
        starts, ends = self.window_logits(encoded)
        best: dict[tuple[int, int, int], float] = {}
        for source, window_offsets, start, end in zip(sources, offsets, starts, ends):
            found = window_spans(
                start, end, window_offsets, self.temperature, max_answer_tokens=self.max_answer_tokens, text=passages[source]
            )
            if not found.prefers_answer:
                continue
            for score, char_start, char_end in found.spans:
                if score <= found.null_score:
                    break
                key = (source, char_start, char_end)
                best[key] = max(score, best.get(key, 0.0))
        ranked = sorted(best.items(), key=lambda item: -item[1])[:top_k]
        return [
            AnswerSpan(passage_index=p, start=s, end=e, text=passages[p][s:e], score=score) for (p, s, e), score in ranked
        ]
