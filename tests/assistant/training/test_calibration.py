"""Temperature scaling and the abstain threshold pick what they promise on constructed validation data."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.models.classifier import softmax
from assistant.training.calibration import choose_threshold, fit_temperature
from assistant.training.metrics import answer_scores, classification_report


def test_fit_temperature_recovers_the_overconfidence_factor():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, size=(6000, 5))
    labels = np.array([rng.choice(5, p=p) for p in softmax(true_logits)])
    overconfident = true_logits * 3.0  # a model three times too sure of itself
    assert fit_temperature(overconfident, labels) == pytest.approx(3.0, rel=0.08)
    assert fit_temperature(true_logits, labels) == pytest.approx(1.0, rel=0.08)


def test_fit_temperature_ignores_impossible_positions():
    logits = np.array([[2.0, 0.0, -np.inf], [0.0, 2.0, -np.inf], [2.0, 0.0, -np.inf], [0.0, 2.0, -np.inf]])
    targets = np.array([0, 1, 1, 0])  # right half the time: the best temperature flattens to 50/50
    assert fit_temperature(logits, targets) > 10


def test_threshold_with_out_of_scope_examples_separates_them():
    confidences = np.array([0.95, 0.9, 0.85, 0.8, 0.75, 0.3, 0.25, 0.2, 0.6])
    correct = np.array([True, True, True, True, True, False, False, False, False])
    oos = np.array([False] * 5 + [True, True, True, False])
    choice = choose_threshold(confidences, correct, oos)
    assert 0.3 < choice["abstain_threshold"] <= 0.75
    assert choice["validation_out_of_scope_recall"] == 1.0
    assert choice["validation_in_scope_accuracy_with_abstain"] == pytest.approx(5 / 6)


def test_threshold_with_an_in_scope_floor_catches_the_most_out_of_scope_rows_above_the_floor():
    confidences = np.array([0.95, 0.9, 0.85, 0.8, 0.55, 0.7, 0.6, 0.5, 0.3])
    correct = np.array([True, True, True, True, True, False, False, False, False])
    oos = np.array([False] * 5 + [True, True, True, True])
    balanced = choose_threshold(confidences, correct, oos)
    assert balanced["abstain_threshold"] == 0.8  # gives up one in-scope row (0.55) to catch every out-of-scope one
    floored = choose_threshold(confidences, correct, oos, min_in_scope_accuracy=1.0)
    assert floored["abstain_threshold"] == 0.55 and floored["validation_in_scope_accuracy_with_abstain"] == 1.0
    assert floored["validation_out_of_scope_recall"] == 0.5  # 0.5 and 0.3 are caught, 0.7 and 0.6 are not
    unreachable = choose_threshold(confidences, np.zeros(9, dtype=bool), oos, min_in_scope_accuracy=0.9)
    assert unreachable["abstain_threshold"] == 0.0


def test_threshold_with_an_out_of_scope_recall_floor_keeps_the_most_in_scope_rows_above_it():
    confidences = np.array([0.95, 0.9, 0.85, 0.8, 0.55, 0.7, 0.6, 0.5, 0.3])
    correct = np.array([True, True, True, True, True, False, False, False, False])
    oos = np.array([False] * 5 + [True, True, True, True])
    half = choose_threshold(confidences, correct, oos, min_out_of_scope_recall=0.5)
    assert half["abstain_threshold"] == 0.55  # catches 0.5 and 0.3 and keeps every in-scope row
    assert half["validation_out_of_scope_recall"] == 0.5 and half["validation_in_scope_accuracy_with_abstain"] == 1.0
    most = choose_threshold(confidences, correct, oos, min_out_of_scope_recall=0.75)
    assert most["abstain_threshold"] == 0.7 and most["validation_out_of_scope_recall"] == 0.75  # gives up 0.55
    assert most["validation_in_scope_accuracy_with_abstain"] == pytest.approx(4 / 5)
    top = np.array([0.5, 0.4, 0.99])  # the out-of-scope row is the most confident: full recall is unreachable
    unreachable = choose_threshold(top, np.array([True, True, False]), np.array([False, False, True]), min_out_of_scope_recall=1.0)
    assert unreachable["abstain_threshold"] == 0.0 and unreachable["validation_out_of_scope_recall"] == 0.0
    with pytest.raises(ValueError, match="not both"):
        choose_threshold(confidences, correct, oos, min_in_scope_accuracy=0.9, min_out_of_scope_recall=0.5)


def test_threshold_without_out_of_scope_abstains_where_wrong_outnumbers_right():
    confidences = np.array([0.99, 0.97, 0.95, 0.9, 0.5, 0.45, 0.4, 0.35])
    correct = np.array([True, True, True, True, False, False, True, False])
    choice = choose_threshold(confidences, correct, np.zeros(8, dtype=bool))
    assert choice["abstain_threshold"] == pytest.approx(0.9)
    assert choice["validation_abstain_rate_in_scope"] == pytest.approx(0.5)
    everything_right = choose_threshold(np.array([0.4, 0.9]), np.array([True, True]), np.zeros(2, dtype=bool))
    assert everything_right["abstain_threshold"] == 0.0


def test_classification_report_lists_most_confused_pairs():
    labels = ["a", "b", "c"]
    report = classification_report(np.array([0, 0, 0, 1, 1, 2]), np.array([0, 1, 1, 0, 1, 2]), labels)
    assert report["accuracy"] == pytest.approx(3 / 6)
    assert report["most_confused"][0] == {"true": "a", "predicted": "b", "count": 2}
    assert report["per_label"]["c"]["f1-score"] == 1.0


def test_squad_exact_match_and_f1():
    assert answer_scores("The 30 days.", ["30 days"]) == (1.0, 1.0)
    em, f1 = answer_scores("within 30 days", ["30 days of delivery"])
    assert em == 0.0 and f1 == pytest.approx(2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4))
    assert answer_scores("", []) == (1.0, 1.0)
    assert answer_scores("something", []) == (0.0, 0.0)
