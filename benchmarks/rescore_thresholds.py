"""Re-score a finished ``finetune_bench.py`` run at other abstain-threshold targets, without training again.

``finetune_bench.py`` saves every member's validation and test probabilities next to its ``--out``
JSON (same name, ``.npz``). This script rebuilds the run's rows from them (the ensembles with the
weights the run recorded), checks that each rebuilt row gives the run's own argmax accuracy, and
reports the test scores at thresholds chosen on validation for the given targets.

Usage::

    python benchmarks/rescore_thresholds.py /tmp/finetune_bench_clinc_seeds.json --min-oos-recall 0.76
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_bench import OOS, ROWS, LabelledText, operating_point_rows, operating_points, score  # noqa: E402


def rebuilt_rows(result: dict, arrays, name: str) -> dict:
    """Each row's {"validation": probs, "test": probs}, combined as finetune_bench combined them."""

    def member(key: str) -> dict:
        return {split: arrays[f"{name}/{key}/{split}"] for split in ("validation", "test")}

    def mix(parts: list[tuple[float, dict]]) -> dict:
        return {split: sum(w * p[split] for w, p in parts) for split in ("validation", "test")}

    present = {key.split("/")[1] for key in arrays.keys() if key.startswith(f"{name}/")}
    rows = {key: member(key) for key in ("fine_tuned", "frozen_lr", "tfidf_lr", "knn") if key in present}
    seeds = [member(key) for key in sorted(present) if key.startswith("fine_tuned_seed_")]
    w = result.get("ensemble", {}).get("weight", 0.5)
    if "frozen_lr" in rows:
        rows["ensemble"] = mix([(w, rows["fine_tuned"]), (1 - w, rows["frozen_lr"])])
    if seeds:
        mean = mix([(1 / (len(seeds) + 1), m) for m in [rows["fine_tuned"], *seeds]])
        rows["seeds_ensemble"] = mean
        if "frozen_lr" in rows:
            rows["seeds_lr_ensemble"] = mix([(w, mean), (1 - w, rows["frozen_lr"])])
        if "tfidf_lr" in rows:
            weights = result["seeds_lr_tfidf_ensemble"]["weights"]
            rows["seeds_lr_tfidf_ensemble"] = mix(
                [(weights["fine_tuned_mean"], mean), (weights["tfidf_lr"], rows["tfidf_lr"]), (weights["frozen_lr"], rows["frozen_lr"])]
            )
            equal = [mean, rows["tfidf_lr"], rows["frozen_lr"]]
            rows["seeds_lr_tfidf_equal"] = mix([(1 / 3, m) for m in equal])
            if "knn" in rows:
                rows["seeds_lr_tfidf_knn_equal"] = mix([(1 / 4, m) for m in [*equal, rows["knn"]]])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="the --out JSON of a finetune_bench.py run (its .npz must lie beside it)")
    parser.add_argument("--min-in-scope-accuracy", type=float, default=None)
    parser.add_argument("--min-oos-recall", type=float, default=None)
    args = parser.parse_args(argv)
    run = json.loads(args.run.read_text(encoding="utf-8"))
    arrays = np.load(args.run.with_suffix(".npz"))
    targets = {"floor": args.min_in_scope_accuracy, "recall": args.min_oos_recall}
    print("| data set | model | threshold rule | in-scope accuracy, abstain = wrong | out-of-scope recall | threshold |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, result in run["datasets"].items():
        labels = [str(label) for label in arrays[f"{name}/labels"]]
        validation, test = ([LabelledText(text="", label=str(g)) for g in arrays[f"{name}/gold/{split}"]] for split in ("validation", "test"))
        if not any(e.label == OOS for e in test):
            print(f"{name}: no out-of-scope test rows, so no threshold to re-score", file=sys.stderr)
            continue
        rows = rebuilt_rows(result, arrays, name)
        for key, title in ROWS:
            probs = rows.get(key)
            if probs is None or key not in result:
                continue
            rebuilt = score(probs["test"], labels, test, 1.0)["accuracy"]
            if abs(rebuilt - result[key]["accuracy"]) > 1e-9:
                raise SystemExit(f"{name} {key}: rebuilt accuracy {rebuilt:.4f} differs from the run's {result[key]['accuracy']:.4f}")
            points = operating_points(probs, labels, validation, test, targets)
            title = title.format(seeds=result[key].get("seeds"))
            for line in operating_point_rows(name, title, points, args.min_in_scope_accuracy, args.min_oos_recall):
                print(line)


if __name__ == "__main__":
    main()
