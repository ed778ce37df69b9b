"""Evaluation metrics: scikit-learn for classification, the official SQuAD normalisation for QA."""

from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np

CLASSIFICATION_METRICS = ("accuracy", "macro_f1")
QA_METRICS = ("exact_match", "f1")


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str], top_confused: int = 10) -> dict:
    """Accuracy, macro-F1, a per-label report and the most-confused (true → predicted) pairs."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
    from sklearn.metrics import classification_report as sk_report

    ids = list(range(len(labels)))
    matrix = confusion_matrix(y_true, y_pred, labels=ids)
    off_diagonal = matrix.copy()
    np.fill_diagonal(off_diagonal, 0)
    pairs = np.argwhere(off_diagonal > 0)
    confused = sorted(
        ({"true": labels[t], "predicted": labels[p], "count": int(off_diagonal[t, p])} for t, p in pairs),
        key=lambda item: (-item["count"], item["true"], item["predicted"]),
    )[:top_confused]
    per_label = sk_report(y_true, y_pred, labels=ids, target_names=labels, output_dict=True, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "per_label": {label: per_label[label] for label in labels},
        "most_confused": confused,
        "confusion_matrix": matrix.tolist(),
    }


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def answer_scores(prediction: str, gold_answers: list[str]) -> tuple[float, float]:
    """SQuAD exact match and token F1 of one prediction, best over the gold answers ("" = no answer)."""
    golds = gold_answers or [""]
    best_em = best_f1 = 0.0
    predicted_tokens = normalize_answer(prediction).split()
    for gold in golds:
        gold_tokens = normalize_answer(gold).split()
        best_em = max(best_em, float(predicted_tokens == gold_tokens))
        if not predicted_tokens or not gold_tokens:
            best_f1 = max(best_f1, float(predicted_tokens == gold_tokens))
            continue
        common = sum((Counter(predicted_tokens) & Counter(gold_tokens)).values())
        if common:
            precision, recall = common / len(predicted_tokens), common / len(gold_tokens)
            best_f1 = max(best_f1, 2 * precision * recall / (precision + recall))
    return best_em, best_f1
