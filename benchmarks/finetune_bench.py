"""Fine-tuning benchmarks on real data: Banking77 and CLINC150, side by side with a frozen-embedding baseline.

For each data set, in one run:

* **fine-tuned**: the bundled all-MiniLM-L6-v2 fine-tuned by the same code as ``assistant finetune``
  (``assistant.training.classification.train_classifier``: Trainer, mean pooling, early stopping on
  validation accuracy, temperature scaling and abstain threshold fitted on validation);
* **frozen + LR**: the same model's sentence embeddings (sentence-transformers, not trained) and a
  scikit-learn logistic regression, C chosen on the same validation split;
* **ensemble**: the average of both models' calibrated probabilities, threshold re-chosen on validation.
* with ``--seeds N`` (N > 1), N - 1 more fine-tunings with other seeds (same split): "N fine-tuned
  seeds" averages their probabilities, and "N fine-tuned seeds + frozen LR" adds the baseline
  (weight ``--ensemble-weight`` for the fine-tuned mean); their time is the sum of all fine-tunings.
  With ``--tfidf`` too, a third member: word and character n-gram TF-IDF with logistic regression
  (scikit-learn; lexical, so its errors differ from the encoders'), and the member weights of
  "N seeds + frozen LR + TF-IDF LR" are chosen on validation accuracy from a small grid; the same three
  members are also averaged with equal weights.
  With ``--knn`` too, a fourth member: the frozen embeddings' k nearest training texts (scikit-learn,
  cosine, softmax-weighted votes), and "N seeds + frozen LR + TF-IDF LR + kNN" averages all four equally.
  With ``--tuned-knn`` too, a fifth member: the same kNN in each fine-tuned seed's own (mean-pooled)
  embedding space, averaged over the seeds, and the five members' equal-weight mean.
  With ``--snapshots``, each seed's logits are also read at every epoch's evaluation, and its
  checkpoint ensemble (the calibrated probabilities of the epoch before the best through the last one
  evaluated, averaged) replaces the seed's best epoch in "N seeds, snapshots" and, with ``--knn``, in
  the four-member equal-weight mean.
  With ``--cross-fit``, each extra seed draws its own validation split (same size) from the training
  rows and trains on the shared validation rows instead, so the seeds together use every non-test row;
  test accuracy is unaffected, but the ensembles' abstain thresholds, fitted on the shared validation
  rows that most seeds trained on, are optimistic.
* with ``--contrastive-epochs N``, SetFit-style contrastive pre-steps first: the sentence encoder is
  trained with sentence-transformers (``MultipleNegativesRankingLoss`` on pairs of training texts
  that share a label, in-batch negatives), then both the frozen + LR baseline and a second
  fine-tuning start from it ("contrastive + LR", "contrastive + fine-tuned", and their ensemble),
  side by side with the plain rows.
* with ``--intermediate-epochs N``, an intermediate task first: the base model is fine-tuned on
  CLINC150's in-scope intents (from ``--data-dir``) and every fine-tuned seed starts from that
  encoder; the frozen LR, TF-IDF and kNN members keep the base model. Its time counts in the seeds'.

Splits. Banking77 (only ``train.csv`` is available): a stratified ``--test-fraction`` is held out as the
test set; the rest trains, minus the validation fraction. CLINC150: train on ``train`` (minus the
validation fraction); ``oos_train`` is *not* a training class: its 100 queries join the validation
split, where they choose the abstain threshold; the test set is ``val`` + ``oos_val``. In-scope
accuracy counts an abstention as an error; out-of-scope recall is the share of ``oos_val`` abstained on.

Thresholds. Each row's own threshold uses the default rule (in-scope accuracy + out-of-scope recall,
on validation). With out-of-scope test rows, two more operating points are chosen on validation and
scored on test: ``--min-in-scope-accuracy`` (the floor on in-scope accuracy) and ``--min-oos-recall``
(the floor on out-of-scope recall), and a trade-off curve is read on test (what any threshold could
give there; nothing reported is chosen from it). Every member's probabilities are saved next to
``--out`` (``.npz``), so ensembles and thresholds can be re-scored without training again.

Usage (reference numbers in docs/benchmarks.md come from the command written there)::

    python benchmarks/finetune_bench.py --data-dir ../shared/data --out /tmp/finetune_bench.json
    python benchmarks/finetune_bench.py --limit 300 --epochs 1          # smoke test, minutes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from transformers import TrainerCallback

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.models.base import default_base_model, quiet_transformers  # noqa: E402
from assistant.models.classifier import batched_order, softmax  # noqa: E402
from assistant.models.registry import library_versions  # noqa: E402
from assistant.training.calibration import choose_threshold, fit_temperature  # noqa: E402
from assistant.training.classification import train_classifier  # noqa: E402
from assistant.training.config import build_config  # noqa: E402
from assistant.training.data import LabelledText, load_labelled_texts, split_labelled  # noqa: E402
from assistant.training.evaluation import compare_speed, evaluate_classifier  # noqa: E402

OOS = "oos"


def load_banking77(data_dir: Path, test_fraction: float, seed: int) -> dict:
    from sklearn.model_selection import train_test_split

    examples = load_labelled_texts(data_dir / "banking77" / "train.csv")
    train, test = train_test_split(examples, test_size=test_fraction, random_state=seed, stratify=[e.label for e in examples])
    return {"train": list(train), "calibration_extra": [], "test": list(test)}


def load_clinc150(data_dir: Path) -> dict:
    raw = json.loads((data_dir / "clinc150" / "data_full_trainval.json").read_text(encoding="utf-8"))

    def rows(name: str) -> list[LabelledText]:
        return [LabelledText(text=text, label=label) for text, label in raw[name]]

    return {"train": rows("train"), "calibration_extra": rows("oos_train"), "test": rows("val") + rows("oos_val")}


def limited(rows: list[LabelledText], limit: int | None, seed: int) -> list[LabelledText]:
    if limit is None or len(rows) <= limit:
        return rows
    return random.Random(seed).sample(rows, limit)


def score(probs: np.ndarray, labels: list[str], examples: list[LabelledText], threshold: float) -> dict:
    """In-scope accuracy (argmax and with abstention) and out-of-scope recall of given probabilities."""
    gold = np.array([e.label for e in examples])
    oos = gold == OOS
    predicted = np.array(labels)[probs.argmax(axis=1)]
    abstain = probs.max(axis=1) < threshold
    correct = (predicted == gold) & ~oos
    result = {
        "accuracy": float(correct[~oos].mean()),
        "accuracy_with_abstain": float((correct & ~abstain)[~oos].mean()),
        "abstain_threshold": float(threshold),
    }
    if oos.any():
        result["out_of_scope_recall"] = float(abstain[oos].mean())
    return result


def fit_threshold(
    probs: np.ndarray, labels: list[str], validation: list[LabelledText], min_in_scope: float | None = None, min_recall: float | None = None
) -> float:
    gold = np.array([e.label for e in validation])
    predicted = np.array(labels)[probs.argmax(axis=1)]
    return choose_threshold(probs.max(axis=1), predicted == gold, gold == OOS, min_in_scope, min_recall)["abstain_threshold"]


def operating_points(probs: dict, labels: list[str], validation, test, targets: dict) -> dict:
    """Test scores at thresholds chosen on validation for each target, plus the test trade-off curve.

    ``at_floor``: validation in-scope accuracy (abstain = wrong) >= the floor; ``at_recall``: validation
    out-of-scope recall >= the target. ``test_tradeoff`` is read on the test set itself, to show what
    any threshold could give there; no reported threshold is chosen from it.
    """
    points = {}
    if targets.get("floor") is not None:
        points["at_floor"] = score(probs["test"], labels, test, fit_threshold(probs["validation"], labels, validation, targets["floor"]))
    if targets.get("recall") is not None:
        points["at_recall"] = score(
            probs["test"], labels, test, fit_threshold(probs["validation"], labels, validation, min_recall=targets["recall"])
        )
    if targets:
        points["test_tradeoff"] = tradeoff(probs["test"], labels, test)
    return points


def tradeoff(probs: np.ndarray, labels: list[str], examples: list[LabelledText], recalls=(0.7, 0.75, 0.8, 0.85, 0.9)) -> list[dict]:
    """For each out-of-scope recall, the best in-scope accuracy (abstain = wrong) any threshold reaches on these rows."""
    gold = np.array([e.label for e in examples])
    predicted = np.array(labels)[probs.argmax(axis=1)]
    choice = [choose_threshold(probs.max(axis=1), predicted == gold, gold == OOS, min_out_of_scope_recall=r) for r in recalls]
    return [{"out_of_scope_recall": c["validation_out_of_scope_recall"], "accuracy_with_abstain": c["validation_in_scope_accuracy_with_abstain"],
             "abstain_threshold": c["abstain_threshold"]} for c in choice]


def fitted_logistic(make_model, cs, x_train, x_val, x_test, train, validation, test, labels: list[str], started: float):
    """Fit ``make_model(C)`` for each C, keep the best by in-scope validation accuracy; its result row and probabilities."""
    y_train = [r.label for r in train]
    y_val = np.array([r.label for r in validation])
    in_scope = np.isin(y_val, labels)
    best = None
    for c in cs:
        model = make_model(c).fit(x_train, y_train)
        accuracy = float((model.predict(x_val)[in_scope] == y_val[in_scope]).mean())
        if best is None or accuracy > best[0]:
            best = (accuracy, c, model)
    _, c, model = best
    assert list(model.classes_) == labels
    probs = {"validation": model.predict_proba(x_val), "test": model.predict_proba(x_test)}
    threshold = fit_threshold(probs["validation"], labels, validation)
    result = {**score(probs["test"], labels, test, threshold), "C": c, "wall_time_s": round(time.perf_counter() - started, 1)}
    return result, probs


def frozen_embeddings(base_model: str, train, validation, test) -> tuple[dict, float]:
    """The base model's normalized sentence embeddings (sentence-transformers, not trained) of each split, and seconds taken."""
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    with quiet_transformers():
        encoder = SentenceTransformer(base_model, device="cpu")
    vectors = {split: encoder.encode([r.text for r in rows], batch_size=64, normalize_embeddings=True, show_progress_bar=False)
               for split, rows in (("train", train), ("validation", validation), ("test", test))}
    return vectors, time.perf_counter() - started


def logistic_baseline(vectors: dict, embed_seconds: float, train, validation, test, labels: list[str]) -> tuple[dict, dict]:
    """Frozen sentence embeddings + logistic regression (C chosen on validation accuracy)."""
    from sklearn.linear_model import LogisticRegression

    return fitted_logistic(lambda c: LogisticRegression(C=c, max_iter=3000), (1.0, 10.0, 100.0),
                           vectors["train"], vectors["validation"], vectors["test"], train, validation, test, labels,
                           time.perf_counter() - embed_seconds)


KNN_NEIGHBOURS, KNN_TEMPERATURE = 20, 0.05


def knn_member(vectors: dict, embed_seconds: float, train, validation, test, labels: list[str]) -> tuple[dict, dict]:
    """Frozen sentence embeddings + k nearest training texts by cosine, each voting exp(similarity / temperature).

    A memory of the training texts rather than a decision boundary, so its errors differ from the LR's."""
    from sklearn.neighbors import KNeighborsClassifier

    started = time.perf_counter()
    model = KNeighborsClassifier(n_neighbors=KNN_NEIGHBOURS, metric="cosine",
                                 weights=lambda distances: np.exp((1.0 - distances) / KNN_TEMPERATURE))
    model.fit(vectors["train"], [r.label for r in train])
    assert list(model.classes_) == labels
    probs = {split: model.predict_proba(vectors[split]) for split in ("validation", "test")}
    threshold = fit_threshold(probs["validation"], labels, validation)
    seconds = time.perf_counter() - started
    result = {**score(probs["test"], labels, test, threshold), "neighbours": KNN_NEIGHBOURS, "temperature": KNN_TEMPERATURE,
              "wall_time_s": round(seconds, 1), "with_embedding_s": round(seconds + embed_seconds, 1)}
    return result, probs


def tfidf_baseline(train, validation, test, labels: list[str]) -> tuple[dict, dict]:
    """Word (1-2) and character (2-5, within word bounds) n-gram TF-IDF + logistic regression, C chosen on validation."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    def make_model(c):
        features = make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                              TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True))
        return make_pipeline(features, LogisticRegression(C=c, max_iter=3000))

    def texts(rows):
        return [r.text for r in rows]

    return fitted_logistic(make_model, (10.0, 30.0, 100.0), texts(train), texts(validation), texts(test),
                           train, validation, test, labels, time.perf_counter())


def contrastive_encoder(base_model: str, train: list[LabelledText], out: Path, epochs: float, seed: int) -> tuple[str, float]:
    """SetFit-style contrastive pre-steps: pull texts of one label together, push the batch's others
    apart (``MultipleNegativesRankingLoss``). Returns the saved encoder folder and its training seconds."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    started = time.perf_counter()
    rng = random.Random(seed)
    by_label: dict[str, list[str]] = {}
    for row in train:
        by_label.setdefault(row.label, []).append(row.text)
    anchors, positives = [], []
    for row in train:
        others = [t for t in by_label[row.label] if t != row.text]
        if others:
            anchors.append(row.text)
            positives.append(rng.choice(others))
    with quiet_transformers():
        encoder = SentenceTransformer(base_model, device="cpu")
    arguments = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"), num_train_epochs=epochs, per_device_train_batch_size=64, learning_rate=5e-5,
        warmup_steps=0.1, batch_sampler=BatchSamplers.NO_DUPLICATES, save_strategy="no", report_to="none", seed=seed,
        logging_steps=50, disable_tqdm=True,
    )
    trainer = SentenceTransformerTrainer(
        model=encoder, args=arguments, train_dataset=Dataset.from_dict({"anchor": anchors, "positive": positives}),
        loss=MultipleNegativesRankingLoss(encoder),
    )
    trainer.train()
    encoder.save(str(out / "encoder"))
    return str(out / "encoder"), time.perf_counter() - started


def intermediate_encoder(base_model: str, data_dir: Path, out: Path, epochs: float, seed: int, config) -> tuple[str, float]:
    """An intermediate task before the target one: fine-tune on CLINC150's 150 in-scope intents (its own
    ``val`` rows to pick the epoch) and keep the encoder, so every seed of the target starts from a
    model that already separates intents. Returns the encoder folder and its training seconds."""
    started = time.perf_counter()
    clinc = load_clinc150(data_dir)
    validation = [row for row in clinc["test"] if row.label != OOS]
    trained = train_classifier(
        clinc["train"], validation, plugin="benchmark", model_name="clinc150-intermediate", task="sequence-classification",
        base_model=base_model, config=replace(config, epochs=epochs, seed=seed, out_of_scope_label=None),
        primary_metric="accuracy", run_dir=out / "run", resume=False, on_progress=progress_printer("clinc150 (intermediate)"),
    )
    folder = out / "encoder"
    trained.predictor.save_weights(folder)
    print(f"  intermediate: validation accuracy {trained.manifest.metrics['accuracy']:.4f}", flush=True)
    return str(folder), time.perf_counter() - started


def progress_printer(name: str):
    last = {"step": -1}

    def show(event: dict) -> None:
        if event["stage"] != "train" or not event["total"]:
            print(f"  [{name}] {event['stage']}: {event['message']}", flush=True)
        elif event["step"] - last["step"] >= max(1, event["total"] // 20) or event["step"] == event["total"]:
            last["step"] = event["step"]
            print(f"  [{name}] step {event['step']}/{event['total']} {event['message']}", flush=True)

    return show


def dataset_splits(name: str, args) -> tuple[list[LabelledText], list[LabelledText], list[LabelledText]]:
    """Train, validation and test rows of a data set, as ``args`` (seed, fractions, limit) draw them."""
    if name == "banking77":
        data = load_banking77(args.data_dir, args.test_fraction, args.seed)
    else:
        data = load_clinc150(args.data_dir)
    train_rows = limited(data["train"], args.limit, args.seed)
    test = limited(data["test"], args.limit, args.seed)
    train, validation = split_labelled(train_rows + data["calibration_extra"], args.validation_fraction, args.seed, OOS, name)
    return train, validation, test


def run_dataset(name: str, splits: tuple, args, base_model: str, work: Path) -> dict:
    overrides = {k: getattr(args, k) for k in ("epochs", "lr", "batch_size", "max_length", "seed", "precision", "attention_dropout")}
    defaults = {"pooling": args.pooling, "head_lr_multiplier": args.head_lr_multiplier, "label_smoothing": args.label_smoothing, "lr_scheduler": args.lr_scheduler,
                "patience": args.patience, "warmup_ratio": args.warmup_ratio, "group_by_length": not args.no_group_by_length, "validation_fraction": args.validation_fraction,
                "out_of_scope_label": OOS}
    config = build_config(name, "sequence-classification", defaults, overrides)
    train, validation, test = splits
    print(f"{name}: {len(train)} train / {len(validation)} validation / {len(test)} test", flush=True)

    result = {"sizes": {"train": len(train), "validation": len(validation), "test": len(test)}, "config": config.as_dict(),
              "gold": {"validation": [e.label for e in validation], "test": [e.label for e in test]}}
    # (row prefix, encoder the fine-tuning starts from, its pre-training seconds, encoder the cheap members read)
    bodies = [("", base_model, 0.0, base_model)]
    if args.intermediate_epochs:
        print(f"{name}: intermediate task, CLINC150 ({args.intermediate_epochs} epochs)", flush=True)
        encoder, seconds = intermediate_encoder(base_model, args.data_dir, work / f"{name}-intermediate", args.intermediate_epochs,
                                                args.seed, config)
        bodies = [("", encoder, seconds, base_model)]
    if args.contrastive_epochs:
        print(f"{name}: contrastive pre-steps ({args.contrastive_epochs} epochs)", flush=True)
        encoder, seconds = contrastive_encoder(base_model, train, work / f"{name}-contrastive", args.contrastive_epochs, args.seed)
        bodies.append(("contrastive_", encoder, seconds, encoder))
    for prefix, body, pre_seconds, frozen_body in bodies:
        classifier, row, test_report, snapshot = fine_tune(name + (f" ({prefix.strip('_')})" if prefix else ""), body, train, validation, test,
                                                           config, work, snapshots=args.snapshots and not prefix)
        row["wall_time_s"] = round(row["wall_time_s"] + pre_seconds, 1)
        if pre_seconds:
            row["contrastive_wall_time_s" if prefix else "intermediate_wall_time_s"] = round(pre_seconds, 1)
        result[prefix + "fine_tuned"] = row
        labels = classifier.labels
        tuned = split_probabilities(classifier, validation, test)
        targets = {"floor": args.min_in_scope_accuracy, "recall": args.min_oos_recall} if any(e.label == OOS for e in test) else {}
        row.update(operating_points(tuned, labels, validation, test, targets))
        result.setdefault("probabilities", {})[prefix + "fine_tuned"] = tuned
        if snapshot is not None:
            result["probabilities"]["fine_tuned_snapshots"] = snapshot
        result["labels"] = labels
        if not args.skip_baseline:
            vectors, embed_seconds = frozen_embeddings(frozen_body, train, validation, test)
            baseline, baseline_probs = logistic_baseline(vectors, embed_seconds, train, validation, test, labels)
            result[prefix + "frozen_lr"] = baseline
            w = args.ensemble_weight
            ensemble = {split: w * tuned[split] + (1 - w) * baseline_probs[split] for split in ("validation", "test")}
            result[prefix + "ensemble"] = {
                **score(ensemble["test"], labels, test, fit_threshold(ensemble["validation"], labels, validation)), "weight": w
            }
            baseline.update(operating_points(baseline_probs, labels, validation, test, targets))
            result[prefix + "ensemble"].update(operating_points(ensemble, labels, validation, test, targets))
            result["probabilities"][prefix + "frozen_lr"] = baseline_probs
        if prefix == "" and args.seeds > 1:
            seed_ensembles(name, body, train, validation, test, config, work, args, classifier, tuned, snapshot, row, labels,
                           None if args.skip_baseline else baseline_probs, None if args.skip_baseline else (vectors, embed_seconds),
                           result, targets)

    if args.quantize:  # the last fine-tuned model of the run
        quantized = classifier.quantized()
        int8_report = evaluate_classifier(quantized, test, OOS)
        texts = [e.text for e in test[:512]]
        full_ms, int8_ms = compare_speed(lambda t: classifier.predict(t), lambda t: quantized.predict(t), texts)
        result["int8"] = {
            "accuracy": int8_report["accuracy"],
            "accuracy_change": int8_report["accuracy"] - test_report["accuracy"],
            "full_ms_per_text": full_ms,
            "int8_ms_per_text": int8_ms,
            "speedup": full_ms / int8_ms,
        }
    return result


def split_probabilities(classifier, validation, test) -> dict:
    return {"validation": classifier.probabilities([e.text for e in validation]), "test": classifier.probabilities([e.text for e in test])}


def seed_ensembles(name, body, train, validation, test, config, work, args, first, tuned, first_snapshot, row, labels, baseline_probs,
                   frozen, result, targets):
    """Fine-tune ``args.seeds - 1`` more seeds; score the mean of all seeds, alone and with the other members.

    Besides weights chosen on validation, the members are also averaged with equal weights: with a small
    validation split, chosen weights fit its noise (on Banking77's 400 validation rows they did worse on test)."""
    members, seconds = [tuned], row["wall_time_s"]
    classifiers, snapshots = [first], [first_snapshot]
    for offset in range(1, args.seeds):
        seeded = replace(config, seed=config.seed + offset)
        own_train, own_validation = cross_fit_split(train, validation, seeded.seed, name) if args.cross_fit else (train, validation)
        classifier, seed_row, _, snapshot = fine_tune(f"{name} (seed {seeded.seed})", body, own_train, own_validation, test, seeded, work,
                                                      snapshots=args.snapshots)
        assert classifier.labels == labels
        classifiers.append(classifier)
        snapshots.append(snapshot)
        members.append(split_probabilities(classifier, validation, test))
        result["probabilities"][f"fine_tuned_seed_{seeded.seed}"] = members[-1]
        if snapshot is not None:
            result["probabilities"][f"fine_tuned_seed_{seeded.seed}_snapshots"] = snapshot
        seconds += seed_row["wall_time_s"]
        result.setdefault("seed_rows", []).append(seed_row)
    mean = {split: np.mean([m[split] for m in members], axis=0) for split in ("validation", "test")}
    combos = [("seeds_ensemble", mean, seconds)]
    if args.snapshots:
        snapshot_mean = {split: np.mean([m[split] for m in snapshots], axis=0) for split in ("validation", "test")}
        combos.append(("snapshot_seeds_ensemble", snapshot_mean, seconds))
    if baseline_probs is not None:
        w = args.ensemble_weight
        combos.append(("seeds_lr_ensemble", {s: w * mean[s] + (1 - w) * baseline_probs[s] for s in mean},
                       seconds + result["frozen_lr"]["wall_time_s"]))
        if args.tfidf:
            lexical, lexical_probs = tfidf_baseline(train, validation, test, labels)
            result["tfidf_lr"] = lexical
            result["probabilities"]["tfidf_lr"] = lexical_probs
            gold = np.array([e.label for e in validation])
            in_scope = np.isin(gold, labels)

            def mixed(weights, split):
                a, b = weights
                return a * mean[split] + b * lexical_probs[split] + (1 - a - b) * baseline_probs[split]

            def validation_accuracy(weights):
                predicted = np.array(labels)[mixed(weights, "validation").argmax(axis=1)]
                return float((predicted == gold)[in_scope].mean())

            grid = [(a, b) for a in (0.4, 0.5, 0.6) for b in (0.0, 0.1, 0.2, 0.3)]
            chosen = max(grid, key=validation_accuracy)
            lexical_seconds = seconds + result["frozen_lr"]["wall_time_s"] + lexical["wall_time_s"]
            combos.append(("seeds_lr_tfidf_ensemble", {s: mixed(chosen, s) for s in mean}, lexical_seconds))
            combos.append(("seeds_lr_tfidf_equal", {s: (mean[s] + lexical_probs[s] + baseline_probs[s]) / 3 for s in mean}, lexical_seconds))
            if args.knn:
                neighbours, neighbour_probs = knn_member(*frozen, train, validation, test, labels)
                result["knn"] = neighbours
                result["probabilities"]["knn"] = neighbour_probs
                combos.append(("seeds_lr_tfidf_knn_equal",
                               {s: (mean[s] + lexical_probs[s] + baseline_probs[s] + neighbour_probs[s]) / 4 for s in mean},
                               lexical_seconds + neighbours["wall_time_s"]))
                if args.snapshots:
                    combos.append(("snapshot_seeds_lr_tfidf_knn_equal",
                                   {s: (snapshot_mean[s] + lexical_probs[s] + baseline_probs[s] + neighbour_probs[s]) / 4 for s in mean},
                                   lexical_seconds + neighbours["wall_time_s"]))
                if args.tuned_knn:
                    spaces = [knn_member(*tuned_vectors(c, train, validation, test), train, validation, test, labels) for c in classifiers]
                    tuned_knn = {s: np.mean([probs[s] for _, probs in spaces], axis=0) for s in mean}
                    tuned_knn_seconds = sum(member["with_embedding_s"] for member, _ in spaces)
                    result["tuned_knn"] = {**score(tuned_knn["test"], labels, test, fit_threshold(tuned_knn["validation"], labels, validation)),
                                           "wall_time_s": round(tuned_knn_seconds, 1)}
                    result["probabilities"]["tuned_knn"] = tuned_knn
                    combos.append(("seeds_lr_tfidf_knn_tuned_knn_equal",
                                   {s: (mean[s] + lexical_probs[s] + baseline_probs[s] + neighbour_probs[s] + tuned_knn[s]) / 5
                                    for s in mean},
                                   lexical_seconds + neighbours["wall_time_s"] + tuned_knn_seconds))
    for key, probs, total in combos:
        result[key] = {**score(probs["test"], labels, test, fit_threshold(probs["validation"], labels, validation)),
                       "seeds": args.seeds, "wall_time_s": round(total, 1)}
        if key == "seeds_lr_tfidf_ensemble":
            result[key]["weights"] = {"fine_tuned_mean": chosen[0], "tfidf_lr": chosen[1], "frozen_lr": round(1 - sum(chosen), 2)}
        result[key].update(operating_points(probs, labels, validation, test, targets))


def cross_fit_split(train, validation, seed: int, name: str) -> tuple[list[LabelledText], list[LabelledText]]:
    """Another validation split of the same size for one seed, and everything else to train on: across seeds,
    every non-test row trains most models, and each model stops early and is calibrated on rows it never saw.
    The shared ``validation`` rows then train this model, so ensembles' thresholds fitted there are optimistic;
    test rows are untouched."""
    in_scope = [e for e in validation if e.label != OOS]
    own_train, own_validation = split_labelled(train, len(in_scope) / len(train), seed, OOS, name)
    return own_train + in_scope, own_validation + [e for e in validation if e.label == OOS]


def tuned_vectors(classifier, train, validation, test, batch_size: int = 64) -> tuple[dict, float]:
    """Each split's normalized embeddings in ``classifier``'s fine-tuned space (its own pooling over the
    encoder's last states, before the head), and seconds taken: the space its head separates the labels in."""
    import torch

    started = time.perf_counter()
    model, tokenizer = classifier.model, classifier.tokenizer
    vectors = {}
    with torch.inference_mode():
        for split, rows in (("train", train), ("validation", validation), ("test", test)):
            texts, chunks = [r.text for r in rows], []
            for i in range(0, len(texts), batch_size):
                encoded = tokenizer(texts[i : i + batch_size], padding=True, truncation=True, max_length=classifier.max_length,
                                    return_tensors="pt")
                hidden = model.encoder(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).last_hidden_state
                chunks.append(torch.nn.functional.normalize(model.pool(hidden, encoded["attention_mask"]).float(), dim=-1).numpy())
            vectors[split] = np.concatenate(chunks)
    return vectors, time.perf_counter() - started


class EpochSnapshots(TrainerCallback):
    """Keeps every evaluated epoch's raw logits on validation and test with its validation
    accuracy: the members of a checkpoint ensemble, read while training so that no checkpoint has to be kept."""

    def __init__(self, body: str, max_length: int, validation, test):
        from transformers import AutoTokenizer

        with quiet_transformers():
            self.tokenizer = AutoTokenizer.from_pretrained(body)
        self.max_length = max_length
        self.texts = {"validation": [e.text for e in validation], "test": [e.text for e in test]}
        self.epochs: list[tuple[float, dict]] = []
        self.seconds = 0.0

    def on_evaluate(self, args, state, control, model=None, metrics=None, **kwargs):
        started, was_training = time.perf_counter(), model.training
        model.eval()
        self.epochs.append((metrics["eval_accuracy"], {split: self.logits(model, texts) for split, texts in self.texts.items()}))
        model.train(was_training)
        self.seconds += time.perf_counter() - started

    def logits(self, model, texts: list[str], batch_size: int = 64) -> np.ndarray:
        import torch

        rows: list = [None] * len(texts)
        with torch.inference_mode():
            for batch in batched_order(texts, batch_size):
                encoded = self.tokenizer([texts[i] for i in batch], padding=True, truncation=True, max_length=self.max_length,
                                         return_tensors="pt").to(next(model.parameters()).device)
                for i, row in zip(batch, model(**encoded).logits.float().cpu().numpy()):
                    rows[i] = row
        return np.stack(rows)

    def ensemble(self, labels: list[str], validation) -> tuple[dict, list[int]]:
        """Calibrated probabilities averaged over the epochs from the one before the best (the first best, as the
        Trainer keeps it) to the last evaluated, each with its own temperature fitted on validation; and those epochs."""
        best = int(np.argmax([accuracy for accuracy, _ in self.epochs]))
        chosen = list(range(max(0, best - 1), len(self.epochs)))
        index = {label: i for i, label in enumerate(labels)}
        known = np.array([e.label in index for e in validation])
        targets = np.array([index.get(e.label, 0) for e in validation])
        members = []
        for epoch in chosen:
            logits = self.epochs[epoch][1]
            temperature = fit_temperature(logits["validation"][known], targets[known])
            members.append({split: softmax(values, temperature) for split, values in logits.items()})
        return {split: np.mean([m[split] for m in members], axis=0) for split in ("validation", "test")}, [e + 1 for e in chosen]


def fine_tune(name: str, body: str, train, validation, test, config, work: Path, snapshots: bool = False):
    """Fine-tune from ``body`` by the code behind ``assistant finetune``; the classifier, its result row, its test
    report, and with ``snapshots`` its checkpoint ensemble's probabilities (else None)."""
    started = time.perf_counter()
    epochs = EpochSnapshots(body, config.max_length, validation, test) if snapshots else None
    trained = train_classifier(
        train, validation, plugin="benchmark", model_name=name, task="sequence-classification", base_model=body,
        config=config, primary_metric="accuracy", run_dir=work / name.replace(" ", "-"), resume=False,
        on_progress=progress_printer(name), extra_callbacks=[epochs] if epochs else None,
    )
    finetune_seconds = time.perf_counter() - started
    classifier = trained.predictor
    classifier.model.to("cpu")
    test_report = evaluate_classifier(classifier, test, OOS)
    row = {
        "accuracy": test_report["accuracy"],
        "accuracy_with_abstain": test_report["accuracy_with_abstain"],
        "macro_f1": test_report["macro_f1"],
        "abstain_threshold": classifier.abstain_threshold,
        "temperature": classifier.temperature,
        "wall_time_s": round(finetune_seconds, 1),
        "epochs_run": trained.manifest.training["epochs_run"],
        "best_step": trained.manifest.training["best_step"],
        "validation_accuracy": trained.manifest.metrics["accuracy"],
        "most_confused": test_report["most_confused"][:5],
    }
    if "out_of_scope_recall" in test_report:
        row["out_of_scope_recall"] = test_report["out_of_scope_recall"]
    snapshot = None
    if epochs:
        snapshot, chosen = epochs.ensemble(classifier.labels, validation)
        row["snapshot"] = {**score(snapshot["test"], classifier.labels, test, fit_threshold(snapshot["validation"], classifier.labels, validation)),
                           "epochs": chosen, "epoch_validation_accuracy": [a for a, _ in epochs.epochs],
                           "reading_s": round(epochs.seconds, 1)}
    return classifier, row, test_report, snapshot


ROWS = (
    ("fine_tuned", "fine-tuned MiniLM-L6"),
    ("frozen_lr", "frozen MiniLM-L6 + LR"),
    ("ensemble", "ensemble (fine-tuned + frozen LR)"),
    ("seeds_ensemble", "{seeds} fine-tuned seeds, averaged"),
    ("seeds_lr_ensemble", "{seeds} fine-tuned seeds + frozen LR"),
    ("tfidf_lr", "TF-IDF word + character n-grams + LR"),
    ("seeds_lr_tfidf_ensemble", "{seeds} fine-tuned seeds + frozen LR + TF-IDF LR (weights chosen on validation)"),
    ("seeds_lr_tfidf_equal", "{seeds} fine-tuned seeds + frozen LR + TF-IDF LR (equal weights)"),
    ("knn", "frozen MiniLM-L6 + k nearest neighbours"),
    ("seeds_lr_tfidf_knn_equal", "{seeds} fine-tuned seeds + frozen LR + TF-IDF LR + kNN (equal weights)"),
    ("snapshot_seeds_ensemble", "{seeds} fine-tuned seeds, each a checkpoint ensemble, averaged"),
    ("snapshot_seeds_lr_tfidf_knn_equal", "{seeds} fine-tuned seeds as checkpoint ensembles + frozen LR + TF-IDF LR + kNN (equal weights)"),
    ("tuned_knn", "k nearest neighbours in each fine-tuned seed's space, averaged"),
    ("seeds_lr_tfidf_knn_tuned_knn_equal", "{seeds} fine-tuned seeds + frozen LR + TF-IDF LR + kNN + fine-tuned kNN (equal weights)"),
    ("contrastive_fine_tuned", "contrastive pre-steps, then fine-tuned"),
    ("contrastive_frozen_lr", "contrastive pre-steps + LR (SetFit-style)"),
    ("contrastive_ensemble", "ensemble (both contrastive rows)"),
)


def operating_point_rows(name: str, title: str, points: dict, floor: float | None, recall: float | None) -> list[str]:
    """Markdown rows of the ``at_floor`` / ``at_recall`` operating points in ``points``."""
    rows = []
    for key, rule in (("at_floor", f"validation in-scope accuracy >= {floor:g}" if floor is not None else ""),
                      ("at_recall", f"validation out-of-scope recall >= {recall:g}" if recall is not None else "")):
        if key in points:
            point = points[key]
            rows.append(f"| {name} | {title} | {rule} | {100 * point['accuracy_with_abstain']:.2f}% | "
                        f"{100 * point['out_of_scope_recall']:.2f}% | {point['abstain_threshold']:.3f} |")
    return rows


def markdown(results: dict) -> str:
    lines = ["| data set | model | in-scope accuracy | with abstain | out-of-scope recall | fine-tune time |", "| --- | --- | --- | --- | --- | --- |"]
    floors, curves = [], []
    for name, result in results["datasets"].items():
        for key, title in ROWS:
            row = result.get(key)
            if row is None:
                continue
            title = title.format(seeds=row.get("seeds"))
            oos = f"{100 * row['out_of_scope_recall']:.2f}%" if "out_of_scope_recall" in row else "-"
            seconds = row.get("wall_time_s")
            lines.append(
                f"| {name} | {title} | {100 * row['accuracy']:.2f}% | {100 * row['accuracy_with_abstain']:.2f}% | {oos} | "
                + (f"{seconds / 60:.1f} min |" if seconds is not None and (key.endswith("fine_tuned") or key.startswith(("seeds", "snapshot"))) else "- |")
            )
            floors += operating_point_rows(name, title, row, results["min_in_scope_accuracy"], results["min_oos_recall"])
            if "test_tradeoff" in row:
                curves.append(f"| {name} | {title} | " + " | ".join(
                    f"{100 * p['accuracy_with_abstain']:.2f}% ({100 * p['out_of_scope_recall']:.0f}%)" for p in row["test_tradeoff"]) + " |")
    if floors:
        lines += ["", "Thresholds chosen on validation, scored on test:", "",
                  "| data set | model | threshold rule | in-scope accuracy, abstain = wrong | out-of-scope recall | threshold |",
                  "| --- | --- | --- | --- | --- | --- |", *floors]
    if curves:
        lines += ["", "Test trade-off (read on test, no threshold chosen from it): best in-scope accuracy (abstain = wrong) "
                  "at out-of-scope recall >= 70 / 75 / 80 / 85 / 90% (recall reached):", "",
                  "| data set | model | 70% | 75% | 80% | 85% | 90% |", "| --- | --- | --- | --- | --- | --- | --- |", *curves]
    return "\n".join(lines)


def probability_arrays(name: str, result: dict) -> dict:
    """Every member's validation and test probabilities, with label order and gold labels (popped from ``result``),
    to re-score ensembles and thresholds without training again."""
    arrays = {f"{name}/labels": np.array(result.pop("labels"))}
    for key, probs in result.pop("probabilities", {}).items():
        for split, values in probs.items():
            arrays[f"{name}/{key}/{split}"] = values
    for split, labels in result.pop("gold").items():
        arrays[f"{name}/gold/{split}"] = np.array(labels)
    return arrays


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--datasets", nargs="+", default=["banking77", "clinc150"], choices=["banking77", "clinc150"])
    parser.add_argument("--base-model", default=None, help="local HF folder (default: bundled all-MiniLM-L6-v2)")
    parser.add_argument("--limit", type=int, default=None, help="subsample train and test to this many rows (smoke tests)")
    parser.add_argument("--epochs", type=float, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seeds", type=int, default=1, help="fine-tune this many seeds and also report their ensembles")
    parser.add_argument("--tfidf", action="store_true", help="with --seeds: also a TF-IDF + LR member and its ensembles")
    parser.add_argument("--knn", action="store_true", help="with --seeds and --tfidf: also a frozen-embedding kNN member and its ensemble")
    parser.add_argument("--snapshots", action="store_true",
                        help="with --seeds: also each seed's checkpoint ensemble (its epochs' predictions, read while training)")
    parser.add_argument("--cross-fit", action="store_true",
                        help="with --seeds: each extra seed holds out its own validation rows and trains on the shared ones")
    parser.add_argument("--tuned-knn", action="store_true", help="with --knn: also the kNN in each fine-tuned seed's space and its ensemble")
    parser.add_argument("--precision", default=None, choices=["auto", "bf16", "fp32"], help="training precision (default: auto)")
    parser.add_argument("--attention-dropout", type=float, default=None, help="attention dropout while training (default: 0)")
    parser.add_argument("--pooling", default="mean", choices=["mean", "cls"])
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--head-lr-multiplier", type=float, default=1.0, help="the new classification head learns this many times faster")
    parser.add_argument("--lr-scheduler", default="linear", choices=["linear", "cosine", "constant_with_warmup"])
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--no-group-by-length", action="store_true", help="random batches instead of length-grouped ones")
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.2, help="Banking77 share held out as the test set")
    parser.add_argument("--min-in-scope-accuracy", type=float, default=0.96,
                        help="with out-of-scope test rows, also report the threshold keeping validation in-scope accuracy >= this")
    parser.add_argument("--min-oos-recall", type=float, default=0.8,
                        help="with out-of-scope test rows, also report the threshold keeping validation out-of-scope recall >= this")
    parser.add_argument("--ensemble-weight", type=float, default=0.5, help="weight of the fine-tuned model in the ensemble")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--contrastive-epochs", type=float, default=0.0,
                        help="SetFit-style contrastive pre-steps (needs the 'bench' extra: pip install -e '.[bench]')")
    parser.add_argument("--intermediate-epochs", type=float, default=0.0,
                        help="fine-tune on CLINC150's in-scope intents for this many epochs first; the fine-tuned seeds start from that encoder")
    parser.add_argument("--quantize", action="store_true", help="also score the int8 copy and time both")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "finetune_bench.json")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    base_model = args.base_model or default_base_model()
    results = {
        "command": "python benchmarks/finetune_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
                    "platform": platform.platform()},
        "libraries": library_versions(),
        "base_model": base_model,
        "min_in_scope_accuracy": args.min_in_scope_accuracy,
        "min_oos_recall": args.min_oos_recall,
        "datasets": {},
    }
    started = time.perf_counter()
    arrays, probabilities = {}, args.out.with_suffix(".npz")
    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as work:
        for name in args.datasets:
            result = run_dataset(name, dataset_splits(name, args), args, base_model, Path(work))
            arrays.update(probability_arrays(name, result))
            np.savez_compressed(probabilities, **arrays)
            results["datasets"][name] = result
            args.out.write_text(json.dumps(results, indent=2, default=float), encoding="utf-8")
    results["total_wall_time_s"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(results, indent=2, default=float), encoding="utf-8")
    print(f"probabilities of every member: {probabilities}")
    print(json.dumps(results, indent=2, default=float))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
