"""Evaluating a saved (or just-trained) model on labelled examples, as it behaves at inference.

The same functions score the validation split after training, the int8 copy, and
``assistant eval --plugin NAME --data PATH``, so every number comes from the code that serves users.
"""

from __future__ import annotations

import time

import numpy as np

from assistant.models.classifier import TextClassifier
from assistant.models.qa import AnswerExtractor
from assistant.training.data import LabelledText, QAExample
from assistant.training.metrics import answer_scores, classification_report


def evaluate_classifier(
    classifier: TextClassifier,
    examples: list[LabelledText],
    out_of_scope_label: str | None = None,
    batch_size: int = 64,
) -> dict:
    """Accuracy and macro-F1 of the argmax on in-scope rows, plus what the abstain threshold does.

    Gold labels the model does not know count as errors (they are listed in ``unknown_labels``);
    rows labelled ``out_of_scope_label`` are scored only by whether the model abstains on them.
    """
    labels = classifier.labels
    index = {label: i for i, label in enumerate(labels)}
    texts = [e.text for e in examples]
    pairs = [e.text_pair or "" for e in examples] if any(e.text_pair for e in examples) else None
    probs = classifier.probabilities(texts, pairs, batch_size)
    predicted = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    abstain = confidence < classifier.abstain_threshold
    oos = np.array([e.label == out_of_scope_label for e in examples], dtype=bool)
    unknown = sorted({e.label for e in examples if e.label not in index and e.label != out_of_scope_label})
    extended = labels + unknown
    extended_index = {label: i for i, label in enumerate(extended)}
    gold = np.array([extended_index.get(e.label, -1) for e in examples])
    in_scope = ~oos
    report: dict = {"examples": len(examples), "in_scope_examples": int(in_scope.sum()), "unknown_labels": unknown}
    if in_scope.any():
        report.update(classification_report(gold[in_scope], predicted[in_scope], extended))
        correct = (gold == predicted) & in_scope
        report["accuracy_with_abstain"] = float((correct & ~abstain).sum() / in_scope.sum())
        report["abstain_rate"] = float(abstain[in_scope].mean())
    if oos.any():
        report["out_of_scope_examples"] = int(oos.sum())
        report["out_of_scope_recall"] = float(abstain[oos].mean())
    report["abstain_threshold"] = classifier.abstain_threshold
    report["temperature"] = classifier.temperature
    return report


def evaluate_extractor(extractor: AnswerExtractor, examples: list[QAExample], samples: int = 10) -> dict:
    """SQuAD exact match and F1 of the best span per question.

    As in the official SQuAD scripts, v1.1 data (no impossible questions) is scored on the best span
    even where the model prefers no answer; with impossible questions, preferring no answer gives "".
    ``f1_with_abstain`` scores what users get: 0 wherever the span falls below the abstain threshold.
    Against several gold answers a span scores its best match (SQuAD's rule); such data also gets
    ``exact_match_first_answer`` / ``f1_first_answer``, scored against each question's first answer only.
    """
    answers = extractor.answer_each(
        [e.question for e in examples], [e.context for e in examples], allow_no_answer=has_impossible(examples)
    )
    threshold = extractor.abstain_threshold
    em, f1, first_em, first_f1, accepted_f1, errors = [], [], [], [], [], []
    answered = abstained_impossible = impossible = 0
    for example, answer in zip(examples, answers):
        text = answer.text if answer is not None else ""
        gold = [a["text"] for a in example.answers] if not example.is_impossible else []
        exact, overlap = answer_scores(text, gold)
        em.append(exact)
        f1.append(overlap)
        first_exact, first_overlap = answer_scores(text, gold[:1])
        first_em.append(first_exact)
        first_f1.append(first_overlap)
        accepted = answer is not None and answer.score >= threshold
        answered += accepted
        if example.is_impossible:
            impossible += 1
            abstained_impossible += not accepted
        else:
            accepted_f1.append(overlap if accepted else 0.0)
        if exact < 1 and len(errors) < samples:
            errors.append({"id": example.id, "question": example.question, "gold": gold, "predicted": text})
    report = {
        "examples": len(examples),
        "exact_match": float(np.mean(em)) if em else 0.0,
        "f1": float(np.mean(f1)) if f1 else 0.0,
        "f1_with_abstain": float(np.mean(accepted_f1)) if accepted_f1 else 0.0,
        "answered_rate": answered / max(len(examples), 1),
        "abstain_threshold": threshold,
        "temperature": extractor.temperature,
        "sample_errors": errors,
    }
    if any(len(e.answers) > 1 for e in examples):
        report["exact_match_first_answer"] = float(np.mean(first_em))
        report["f1_first_answer"] = float(np.mean(first_f1))
    if impossible:
        report["no_answer_recall"] = abstained_impossible / impossible
    return report


def has_impossible(examples: list[QAExample]) -> bool:
    """Whether the data is SQuAD 2.0-style (some questions have no answer), which makes "no answer" a prediction."""
    return any(e.is_impossible for e in examples)


def compare_speed(first, second, inputs: list, rounds: int = 3) -> tuple[float, float]:
    """Milliseconds per input of ``first(inputs)`` and ``second(inputs)``: both warmed up, then timed
    in alternating rounds and the fastest round kept, so a busy machine skews neither side."""
    best = [float("inf"), float("inf")]
    for predict in (first, second):
        predict(inputs[: min(8, len(inputs))])
    for _ in range(rounds):
        for index, predict in enumerate((first, second)):
            started = time.perf_counter()
            predict(inputs)
            best[index] = min(best[index], time.perf_counter() - started)
    return tuple(seconds * 1000 / max(len(inputs), 1) for seconds in best)


#: Scalar report entries copied into the manifest's metrics.
SCALAR_METRICS = (
    "accuracy",
    "macro_f1",
    "accuracy_with_abstain",
    "abstain_rate",
    "out_of_scope_recall",
    "exact_match",
    "f1",
    "exact_match_first_answer",
    "f1_first_answer",
    "f1_with_abstain",
    "answered_rate",
    "no_answer_recall",
    "examples",
)


def scalar_metrics(report: dict) -> dict:
    return {k: report[k] for k in SCALAR_METRICS if k in report}
