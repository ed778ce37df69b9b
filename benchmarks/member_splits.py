"""What the frozen-embedding member adds, on each trained version's own validation split.

For every classifier version trained with ``embedding_member`` under the given data folders, the
validation split is drawn again exactly as ``assistant finetune`` drew it (the manifest records the
data file, its sha256, the seed, the fraction and the out-of-scope label), and scored three ways:
the fine-tuned model alone (its temperature only), the member alone, and both averaged (what the
plugin uses). Nothing is trained here; train the versions first, one seed each:

    assistant finetune --plugin customer_service --model intent --seed S --force --data-dir DIR

    python benchmarks/member_splits.py --data-dir /tmp/cs-e --data-dir /tmp/cs-cv2 --model intent \\
        --out /tmp/member_splits.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.models.classifier import TextClassifier, softmax  # noqa: E402
from assistant.training.data import file_sha256, load_labelled_texts, split_labelled  # noqa: E402


def score_version(path: Path) -> dict | None:
    classifier = TextClassifier.load(path)
    training = classifier.manifest.training
    if classifier.member is None or classifier.manifest.quantized:
        return None
    data = Path(training["data"]["path"])
    if not data.is_absolute():
        data = Path(__file__).resolve().parents[1] / data
    if file_sha256(data) != training["data"]["sha256"]:
        print(f"skipped {path}: {data} changed since it was trained", file=sys.stderr)
        return None
    _, validation = split_labelled(
        load_labelled_texts(data), training["validation_fraction"], training["seed"], training.get("out_of_scope_label")
    )
    scored = [e for e in validation if e.label in classifier.labels]
    texts = [e.text for e in scored]
    gold = np.array([classifier.labels.index(e.label) for e in scored])
    fine_tuned = softmax(classifier.logits(texts), classifier.temperature)
    member = classifier.member.probabilities(texts)
    both = classifier.blend(fine_tuned, texts)
    return {
        "version": str(path),
        "seed": training["seed"],
        "validation": len(scored),
        "member_C": training.get("embedding_member_C"),
        "ensemble_temperature": classifier.manifest.calibration.get("ensemble_temperature"),
        **{name: float((probs.argmax(axis=1) == gold).mean()) for name, probs in
           (("fine_tuned", fine_tuned), ("member", member), ("averaged", both))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, action="append", required=True, help="a data folder (repeatable)")
    parser.add_argument("--plugin", default="customer_service")
    parser.add_argument("--model", default="intent")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = []
    for folder in args.data_dir:
        versions = folder / "models" / args.plugin / args.model / "versions"
        for path in sorted(versions.iterdir()) if versions.is_dir() else []:
            row = score_version(path)
            if row:
                rows.append(row)
                print(f"{path}: seed {row['seed']}, {row['validation']} rows: fine-tuned {100 * row['fine_tuned']:.2f} %, "
                      f"member {100 * row['member']:.2f} %, averaged {100 * row['averaged']:.2f} %", flush=True)
    if not rows:
        sys.exit("no version with an embedding member was found under the given --data-dir folders")
    mean = {name: float(np.mean([r[name] for r in rows])) for name in ("fine_tuned", "member", "averaged")}
    print("mean: " + ", ".join(f"{name} {100 * value:.2f} %" for name, value in mean.items()))
    args.out.write_text(json.dumps({"versions": rows, "mean": mean}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
