"""Confidence calibration fitted on the validation split.

* Temperature scaling (Guo et al., 2017): one scalar ``T`` dividing the logits, chosen to minimise
  the negative log-likelihood of the validation labels. It changes no prediction, only how far
  the confidences can be trusted.
* Abstain threshold on the calibrated confidence. When validation holds out-of-scope examples
  (CLINC150's ``oos``, SQuAD 2.0's impossible questions) the threshold maximises in-scope accuracy
  (abstaining counts as wrong) + out-of-scope recall; given ``min_in_scope_accuracy``, the
  out-of-scope recall among thresholds that keep in-scope accuracy at least that high; given
  ``min_out_of_scope_recall``, the in-scope accuracy among thresholds that catch at least that share
  of out-of-scope rows (the side to bound when validation in-scope rows are easier than real traffic,
  as CLINC150's are, while its out-of-scope rows are like the real ones). Without them it
  maximises (accepted correct - accepted wrong): abstain exactly where the model is more often wrong than right.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature minimising validation NLL; ``logits`` rows may hold ``-inf`` for impossible classes."""
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    if len(targets) == 0:
        return 1.0
    chosen = logits[np.arange(len(targets)), targets]

    def nll(log_t: float) -> float:
        t = np.exp(log_t)
        return float(np.mean(logsumexp(logits / t, axis=1) - chosen / t))

    found = minimize_scalar(nll, bounds=(np.log(0.01), np.log(100.0)), method="bounded")
    return float(np.exp(found.x)) if found.success else 1.0


def choose_threshold(
    confidences: np.ndarray,
    correct: np.ndarray,
    out_of_scope: np.ndarray,
    min_in_scope_accuracy: float | None = None,
    min_out_of_scope_recall: float | None = None,
) -> dict:
    """The abstain threshold and what it gives on validation.

    ``confidences``: calibrated confidence of each validation prediction; ``correct``: whether the
    prediction was right (ignored for out-of-scope rows); ``out_of_scope``: rows that should be abstained on.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    oos = np.asarray(out_of_scope, dtype=bool)
    right = np.sort(confidences[~oos & correct])
    wrong = np.sort(confidences[~oos & ~correct])
    outside = np.sort(confidences[oos])
    candidates = np.unique(np.concatenate([[0.0], confidences]))

    def accepted(values: np.ndarray) -> np.ndarray:  # how many of ``values`` are >= each candidate
        return len(values) - np.searchsorted(values, candidates, side="left")

    if min_in_scope_accuracy is not None and min_out_of_scope_recall is not None:
        raise ValueError("set min_in_scope_accuracy or min_out_of_scope_recall, not both")
    in_scope = max(len(right) + len(wrong), 1)
    kept = accepted(right) / in_scope  # in-scope accuracy, abstain = wrong, at each candidate
    recall = (len(outside) - accepted(outside)) / max(len(outside), 1)  # out-of-scope recall at each candidate
    if len(outside) and min_out_of_scope_recall is not None:
        rule = f"maximise in-scope accuracy (abstain = wrong) keeping out-of-scope recall >= {min_out_of_scope_recall:g}"
        catches = recall >= min_out_of_scope_recall
        objective = np.where(catches, kept, -1.0) if catches.any() else recall  # unreachable: catch the most
    elif len(outside) and min_in_scope_accuracy is not None:
        rule = f"maximise out-of-scope recall keeping in-scope accuracy (abstain = wrong) >= {min_in_scope_accuracy:g}"
        keeps = kept >= min_in_scope_accuracy
        objective = np.where(keeps, recall, -1.0) if keeps.any() else kept  # unreachable: lose the least
    elif len(outside):
        rule = "maximise in-scope accuracy (abstain = wrong) + out-of-scope recall"
        objective = kept + recall
    else:
        rule = "maximise accepted correct - accepted wrong"
        objective = accepted(right) - accepted(wrong)
    best = int(np.argmax(objective))  # first maximum = lowest threshold, so the fewest abstentions
    result = {
        "abstain_threshold": float(candidates[best]),
        "rule": rule,
        "validation_in_scope_accuracy_with_abstain": float(kept[best]),
        "validation_abstain_rate_in_scope": float(1 - (accepted(right)[best] + accepted(wrong)[best]) / in_scope),
    }
    if len(outside):
        result["validation_out_of_scope_recall"] = float(recall[best])
    return result
