"""Training speed: seconds per Trainer step under each precision / attention-dropout setting, side by side.

For the customer_service reader (QA windows of ``qa.json``, 256 tokens, batch 16) and intent model
(``intents.csv``, 48 tokens, batch 32), the same batches are trained for ``--steps`` steps by the code
behind ``assistant finetune`` (``runner.training_arguments`` and ``runner.Trainer``) with:

* fp32, the base model's attention dropout (0.1): what training did before these settings existed;
* bf16 autocast, attention dropout 0.1;
* fp32, attention dropout 0;
* bf16 autocast, attention dropout 0: the defaults where bf16 runs natively ("auto").

Only bundled data is read. Step time excludes the first step (kernel set-up for new shapes).

Usage::

    python benchmarks/training_speed.py --steps 12
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from transformers import AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, TrainerCallback  # noqa: E402

from assistant.models.base import default_base_model, load_encoder, model_config, quiet_transformers  # noqa: E402
from assistant.models.classifier import PooledTextClassifier  # noqa: E402
from assistant.models.registry import library_versions  # noqa: E402
from assistant.training import runner  # noqa: E402
from assistant.training.classification import FeatureDataset  # noqa: E402
from assistant.training.config import build_config  # noqa: E402
from assistant.training.data import load_labelled_texts, load_squad  # noqa: E402
from assistant.training.qa import Windows  # noqa: E402

DATA = ROOT / "plugins" / "customer_service" / "data"
SETTINGS = (("fp32", None), ("bf16", None), ("fp32", 0.0), ("bf16", 0.0))


class StepTimer(TrainerCallback):
    def __init__(self):
        self.times: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter() - self.started)


def qa_setup(base: str, tokenizer, steps: int, config):
    examples = load_squad(DATA / "qa.json")[: steps * config.batch_size]
    windows = Windows(tokenizer, examples, config)
    model = AutoModelForQuestionAnswering.from_pretrained(base, config=model_config(base, config.attention_dropout))
    return model, windows.dataset(), ["start_positions", "end_positions"]


def intent_setup(base: str, tokenizer, steps: int, config):
    rows = load_labelled_texts(DATA / "intents.csv")[: steps * config.batch_size]
    labels = sorted({r.label for r in rows})
    encoded = tokenizer([r.text for r in rows], truncation=True, max_length=config.max_length)
    dataset = FeatureDataset(
        [{**{k: v[i] for k, v in encoded.items()}, "labels": labels.index(r.label)} for i, r in enumerate(rows)]
    )
    model = PooledTextClassifier(load_encoder(base, attention_dropout=config.attention_dropout), len(labels))
    return model, dataset, ["labels"]


TASKS = {
    "qa": ("extractive-qa", {"max_length": 256, "doc_stride": 96, "batch_size": 16}, qa_setup),
    "intent": ("sequence-classification", {"max_length": 48, "batch_size": 32}, intent_setup),
}


def seconds_per_step(task: str, precision: str, attention_dropout, base: str, steps: int, work: Path) -> float:
    kind, defaults, setup = TASKS[task]
    config = build_config(task, kind, {**defaults, "epochs": 1, "patience": 0, "precision": precision,
                                       "attention_dropout": attention_dropout}, {})
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(base)
        model, dataset, label_names = setup(base, tokenizer, steps, config)
    args = runner.training_arguments(config, work / f"{task}-{precision}-{attention_dropout}", "loss",
                                     label_names=label_names, logging_steps=steps)
    args.eval_strategy = args.save_strategy = "no"
    args.load_best_model_at_end = False
    timer = StepTimer()
    trainer = runner.Trainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                             data_collator=DataCollatorWithPadding(tokenizer), callbacks=[timer])
    trainer.train()
    assert trainer.args.bf16 == (precision == "bf16")
    return sum(timer.times[1:]) / len(timer.times[1:])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--base-model", default=None)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "training_speed.json")
    args = parser.parse_args(argv)
    import torch

    base = args.base_model or default_base_model()
    results = {
        "command": "python benchmarks/training_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
                    "native_bf16": runner.native_bf16()},
        "libraries": library_versions(),
        "rows": [],
    }
    with tempfile.TemporaryDirectory(prefix="training-speed-") as work:
        for task in TASKS:
            for precision, attention_dropout in SETTINGS:
                seconds = seconds_per_step(task, precision, attention_dropout, base, args.steps, Path(work))
                row = {"task": task, "precision": precision,
                       "attention_dropout": "base model's (0.1)" if attention_dropout is None else attention_dropout,
                       "seconds_per_step": round(seconds, 3)}
                results["rows"].append(row)
                print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print("| model | precision | attention dropout | s / step | speed-up |\n| --- | --- | --- | --- | --- |")
    for row in results["rows"]:
        reference = next(r for r in results["rows"] if r["task"] == row["task"])["seconds_per_step"]
        print(f"| {row['task']} | {row['precision']} | {row['attention_dropout']} | {row['seconds_per_step']:.2f} | "
              f"x{reference / row['seconds_per_step']:.2f} |")
    return results


if __name__ == "__main__":
    main()
