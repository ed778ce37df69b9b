"""Answer-extractor benchmark: a plugin's QA model trained and scored under both hold-out protocols.

One run fine-tunes the plugin's ``extractive-qa`` spec (its bundled SQuAD file and defaults, as
``assistant finetune`` would) twice, side by side:

* **held-out questions** (``qa_holdout="questions"``): 10% of the questions are held out, their
  passages are trained on through other questions. This is the bundled help center's case: the
  reader answers new customer questions about the pages it was trained on.
* **held-out pages** (``qa_holdout="contexts"``): 10% of the passages are held out with all their
  questions. This is the case of documents the model never saw, such as uploads.

Scores are SQuAD v1.1 exact match and F1 of the best span, plus ``f1_with_abstain`` (0 where the
span falls below the calibrated abstain threshold, as users see it) and fine-tuning wall time.
With ``--train-fractions``, each protocol trains once per share of its training questions (random
subsets; the validation questions stay the same): a learning curve, to see what more data would give.
With ``--data`` (another SQuAD file) and ``--validation-from`` (the file whose split picks the
held-out questions or pages), runs on a grown data file keep the earlier file's validation
questions, so data and schedule changes (``--epochs --batch-size --lr``) compare like for like.

Usage (the numbers in docs/benchmarks.md come from the command written there)::

    python benchmarks/qa_bench.py --plugin customer_service --out /tmp/qa_bench.json
    python benchmarks/qa_bench.py --holdouts questions --train-fractions 0.25 0.5 1 --out /tmp/qa_curve.json
    python benchmarks/qa_bench.py --holdouts questions --data NEW.json --validation-from OLD.json --batch-size 8
    python benchmarks/qa_bench.py --holdouts questions --freeze-layers 2   # cheaper steps, frozen lower layers
    python benchmarks/qa_bench.py --holdouts questions --time-limit 388    # the reader as a slow machine trains it
    python benchmarks/qa_bench.py --epochs 1 --limit 120          # smoke test
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.models.base import default_base_model, quiet_transformers  # noqa: E402
from assistant.models.registry import library_versions  # noqa: E402
from assistant.training.config import build_config  # noqa: E402
from assistant.training.data import QA_HOLDOUTS, load_squad, split_squad  # noqa: E402
from assistant.training.qa import train_extractor  # noqa: E402

TITLES = {"questions": "held-out questions (trained pages)", "contexts": "held-out pages (unseen passages)"}


def qa_spec(plugin_name: str, data_dir: Path):
    from assistant.config import load_settings
    from assistant.contract import PluginContext
    from assistant.discovery import load_plugin
    from assistant.models.registry import ModelRegistry

    settings = load_settings(data_dir)
    plugin = load_plugin(plugin_name, PluginContext(settings=settings, models=ModelRegistry(settings.models_dir)))
    specs = [s for s in plugin.model_specs() if s.task == "extractive-qa"]
    if not specs:
        raise SystemExit(f"plugin '{plugin_name}' declares no extractive-qa model")
    return specs[0]


def run(holdout: str, examples, spec, overrides: dict, base_model: str, work: Path, fraction: float = 1.0,
        validation_from: list | None = None) -> dict:
    config = build_config(spec.name, spec.task, {**spec.defaults, "qa_holdout": holdout}, overrides)
    if validation_from is not None:
        _, held = split_squad(validation_from, config.validation_fraction, config.seed, "--validation-from", holdout)
        held_ids = {e.id for e in held}
        # Held-out pages stay unseen: no question on them is trained on, even one the other file lacks.
        held_contexts = {e.context for e in held} if holdout == "contexts" else set()
        train = [e for e in examples if e.id not in held_ids and e.context not in held_contexts]
        validation = [e for e in examples if e.id in held_ids]
    else:
        train, validation = split_squad(examples, config.validation_fraction, config.seed, str(spec.data), holdout)
    if fraction < 1:
        train = random.Random(config.seed).sample(train, max(1, round(fraction * len(train))))
    print(f"{holdout}: {len(train)} train / {len(validation)} validation questions", flush=True)
    started = time.perf_counter()
    with quiet_transformers():
        trained = train_extractor(
            train, validation, plugin="benchmark", model_name=f"qa-{holdout}", base_model=base_model, config=config,
            primary_metric=spec.primary_metric, run_dir=work / f"{holdout}-{fraction:g}", resume=False,
            on_progress=lambda event: print(f"  [{holdout}] {event['stage']} {event['step']}/{event['total']} {event['message']}", flush=True)
            if event["stage"] != "train" or not event["total"] or event["step"] == event["total"] else None,
        )
    report = trained.report
    return {
        "holdout": holdout,
        "train_fraction": fraction,
        "train_questions": len(train),
        "validation_questions": len(validation),
        "exact_match": report["exact_match"],
        "f1": report["f1"],
        "f1_with_abstain": report["f1_with_abstain"],
        **{key: report[key] for key in ("exact_match_first_answer", "f1_first_answer") if key in report},
        "answered_rate": report["answered_rate"],
        "wall_time_s": round(time.perf_counter() - started, 1),
        "epochs_run": trained.manifest.training["epochs_run"],
        "best_step": trained.manifest.training["best_step"],
        "time_plan": trained.manifest.training.get("time_plan"),
        "config": config.as_dict(),
        "sample_errors": report["sample_errors"][:5],
    }


def markdown(results: dict) -> str:
    lines = ["| hold-out | training questions | validation questions | exact match | F1 | F1, first answer only | F1, abstentions as 0 | answered | fine-tune time |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in results["runs"].values():
        first = f"{100 * row['f1_first_answer']:.1f}" if "f1_first_answer" in row else "-"
        lines.append(
            f"| {TITLES[row['holdout']]} | {row['train_questions']} | {row['validation_questions']} | {100 * row['exact_match']:.1f} | "
            f"**{100 * row['f1']:.1f}** | {first} | {100 * row['f1_with_abstain']:.1f} | {100 * row['answered_rate']:.0f}% | "
            f"{row['wall_time_s'] / 60:.1f} min |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plugin", default="customer_service")
    parser.add_argument("--holdouts", nargs="+", default=["questions", "contexts"], choices=QA_HOLDOUTS)
    parser.add_argument("--base-model", default=None, help="local HF folder (default: bundled all-MiniLM-L6-v2)")
    parser.add_argument("--epochs", type=float, default=None, help="override the spec's epochs")
    parser.add_argument("--batch-size", type=int, default=None, help="override the spec's batch size")
    parser.add_argument("--lr", type=float, default=None, help="override the spec's learning rate")
    parser.add_argument("--hidden-dropout", type=float, default=None, help="override the spec's hidden_dropout")
    parser.add_argument("--freeze-layers", type=int, default=None,
                        help="override the spec's freeze_layers (embeddings + this many lowest layers kept frozen)")
    parser.add_argument("--no-answer-passages", type=float, default=None,
                        help="override the spec's no_answer_passages (share of training questions also paired with a passage that does not answer them)")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="the reader's training time limit in seconds (as `assistant finetune` gives it what is left of its own)")
    parser.add_argument("--data", type=Path, default=None, help="SQuAD file to train and score on (default: the spec's)")
    parser.add_argument("--validation-from", type=Path, default=None,
                        help="hold out the questions this SQuAD file's split holds out (they must be in --data too)")
    parser.add_argument("--limit", type=int, default=None, help="use this many questions (smoke tests)")
    parser.add_argument("--train-fractions", nargs="+", type=float, default=[1.0],
                        help="train once on each of these shares of the training questions (a learning curve; default: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "qa_bench.json")
    args = parser.parse_args(argv)
    if any(not 0 < fraction <= 1 for fraction in args.train_fractions):
        parser.error("--train-fractions takes shares in (0, 1]")
    if args.validation_from and args.limit:
        parser.error("--validation-from keeps another file's held-out questions: use it without --limit")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    spec = qa_spec(args.plugin, Path(tempfile.mkdtemp(prefix="qa-bench-data-")))
    examples = load_squad(args.data or Path(spec.data))
    validation_from = load_squad(args.validation_from) if args.validation_from else None
    if validation_from is not None and not {e.id for e in validation_from} <= {e.id for e in examples}:
        parser.error("--validation-from has questions that --data lacks")
    if args.limit:
        examples = random.Random(0).sample(examples, min(args.limit, len(examples)))
    base_model = args.base_model or default_base_model()
    results = {
        "command": "python benchmarks/qa_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform()},
        "libraries": library_versions(),
        "base_model": base_model,
        "data": {"path": str(args.data or spec.data), "questions": len(examples),
                 "validation_from": str(args.validation_from) if args.validation_from else None},
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as work:
        for holdout in args.holdouts:
            for fraction in sorted(args.train_fractions):
                key = holdout if fraction == 1 else f"{holdout} {fraction:g}"
                overrides = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                             "freeze_layers": args.freeze_layers, "hidden_dropout": args.hidden_dropout,
                             "no_answer_passages": args.no_answer_passages, "time_limit_s": args.time_limit}
                results["runs"][key] = run(holdout, examples, spec, overrides, base_model, Path(work), fraction, validation_from)
                args.out.write_text(json.dumps(results, indent=2, default=float), encoding="utf-8")
    print(json.dumps(results, indent=2, default=float))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
