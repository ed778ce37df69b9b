"""Add the frozen-embedding kNN member to a finished ``finetune_bench.py`` run and score its ensembles, without fine-tuning again.

The run's ``--out`` JSON records its command; this script draws the same splits from it (checking the
gold labels against the run's ``.npz``), embeds them with the run's base model, fits the kNN member
(``finetune_bench.knn_member``) and scores the rows a run with ``--knn`` would add: the kNN alone,
the equal-weight mean of the fine-tuned seeds, frozen LR and TF-IDF LR, and the same with the kNN.
The other members' probabilities come from the ``.npz``, so every row uses the run's own models.
Writes the completed run (JSON and ``.npz``) to ``--out``, so ``rescore_thresholds.py`` can read it.

Usage::

    python benchmarks/rescore_members.py /tmp/finetune_bench_b77_confirm.json --data-dir ../shared/data \\
        --out /tmp/finetune_bench_b77_confirm_knn.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_bench import build_parser, dataset_splits, fit_threshold, frozen_embeddings, knn_member, markdown, score  # noqa: E402
from rescore_thresholds import rebuilt_rows  # noqa: E402

SPLITS = ("validation", "test")


def add_knn(name: str, result: dict, arrays: dict, run_args, base_model: str) -> None:
    """Fit the kNN member on the run's splits; add its probabilities to ``arrays`` and its rows to ``result``."""
    train, validation, test = dataset_splits(name, run_args)
    labels = [str(label) for label in arrays[f"{name}/labels"]]
    for split, rows in zip(SPLITS, (validation, test)):
        if [e.label for e in rows] != [str(g) for g in arrays[f"{name}/gold/{split}"]]:
            raise SystemExit(f"{name}: the {split} split drawn from the run's command differs from the run's; check --data-dir")
    if "tfidf_lr" not in result:
        raise SystemExit(f"{name}: the run has no TF-IDF member; run finetune_bench.py with --seeds N --tfidf first")
    vectors, embed_seconds = frozen_embeddings(base_model, train, validation, test)
    result["knn"], probs = knn_member(vectors, embed_seconds, train, validation, test, labels)
    for split in SPLITS:
        arrays[f"{name}/knn/{split}"] = probs[split]
    rows = rebuilt_rows(result, arrays, name)
    seconds = result["seeds_lr_tfidf_ensemble"]["wall_time_s"]
    for key, total in (("seeds_lr_tfidf_equal", seconds), ("seeds_lr_tfidf_knn_equal", seconds + result["knn"]["wall_time_s"])):
        threshold = fit_threshold(rows[key]["validation"], labels, validation)
        result[key] = {**score(rows[key]["test"], labels, test, threshold), "seeds": result["seeds_ensemble"]["seeds"],
                       "wall_time_s": round(total, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="the --out JSON of a finetune_bench.py run with --seeds N --tfidf (its .npz beside it)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the data sets are now (default: the run's --data-dir)")
    parser.add_argument("--out", type=Path, required=True, help="JSON for the completed run (an .npz is written beside it)")
    args = parser.parse_args(argv)
    run = json.loads(args.run.read_text(encoding="utf-8"))
    run_args = build_parser().parse_args(shlex.split(run["command"])[2:])
    if args.data_dir is not None:
        run_args.data_dir = args.data_dir
    arrays = dict(np.load(args.run.with_suffix(".npz")))
    for name, result in run["datasets"].items():
        add_knn(name, result, arrays, run_args, run["base_model"])
    run["rescored_by"] = "python benchmarks/rescore_members.py " + " ".join(argv if argv is not None else sys.argv[1:])
    np.savez_compressed(args.out.with_suffix(".npz"), **arrays)
    args.out.write_text(json.dumps(run, indent=2, default=float), encoding="utf-8")
    print(markdown(run))


if __name__ == "__main__":
    main()
