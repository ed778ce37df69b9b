"""End-to-end answers benchmark: customer_service answers from its help pages, on the reader's held-out questions.

Each ``--data-dir`` is a data folder where ``assistant finetune --plugin customer_service`` ran. Its
active reader's held-out questions (the split its manifest records: file, fraction, seed, hold-out)
are asked the way the plugin answers a question no template covers: hybrid retrieval from the
store, then ``DocumentAnswerer.answer``. Side by side, per data folder:

* **reader alone**: F1 of the reader's best span in the question's own passage (what fine-tuning reports);
* **end to end**: F1 of the quoted span (0 when the plugin quotes nothing: "not sure", or a passage
  shown as not an exact answer), without an intent and with the intent model's label;
* **gold first / retrieved**: how often the question's own passage is the first of the hits, or among them;
* for a reader that keeps its **known answers** (its training questions with their answers), the reader
  alone, retrieval and end to end again with passages re-ranked and spans weighed by them, as
  ``DocumentAnswerer`` does, beside the same without them (the reader's 30 best spans in the
  question's own passage, for the reader alone).

Usage (the numbers in docs/benchmarks.md come from the command written there)::

    python benchmarks/answers_bench.py --data-dir ~/.assistant --data-dir /tmp/other --out /tmp/answers_bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.training.data import file_sha256, load_squad, split_squad  # noqa: E402
from assistant.training.metrics import answer_scores  # noqa: E402

PLUGIN = "customer_service"


def held_out_questions(manifest) -> list:
    """The reader's validation questions, re-drawn from the split its manifest records."""
    training = manifest.training
    path = Path(training["data"]["path"])
    if not path.is_file() or file_sha256(path) != training["data"]["sha256"]:
        raise SystemExit(f"{path} is missing or changed since the reader was trained: its held-out questions cannot be re-drawn")
    _, validation = split_squad(load_squad(path), training["validation_fraction"], training["seed"], str(path), training["qa_holdout"])
    return validation


def gold_rank(hits: list, example) -> int | None:
    """Index of the first hit that is (part of) the question's passage and holds an answer."""
    answers = [a["text"] for a in example.answers]
    for rank, hit in enumerate(hits):
        same_passage = hit.text in example.context or example.context[:80] in hit.text or hit.text[:80] in example.context
        if same_passage and any(a in hit.text for a in answers):
            return rank
    return None


def quoted_f1(answer, references: list[str]) -> tuple[str, float]:
    if answer is None:
        return "not sure", 0.0
    if not answer.exact:
        return "passage", 0.0
    return "quoted", answer_scores(answer.evidence[0].answer, references)[1]


def with_known_answers(reader, embedder, question: str, context: str, fallback) -> str:
    """The reader's best span in ``context`` once its 30 best are weighed by the known answers."""
    from plugins.customer_service.answers import known_answer_weight

    spans = reader.extract(question, [context], top_k=30)
    if not spans:
        return fallback.text if fallback else ""
    agreement = reader.known_answers.agreement(question, [s.text for s in spans], embedder)
    weights = np.array([s.score for s in spans]) * known_answer_weight(agreement)
    return spans[int(np.argmax(weights))].text


def score_data_dir(data_dir: Path) -> dict:
    from assistant.config import load_settings
    from assistant.contract import PluginContext
    from assistant.discovery import load_plugin
    from assistant.models.registry import ModelRegistry

    settings = load_settings(data_dir)
    plugin = load_plugin(PLUGIN, PluginContext(settings=settings, models=ModelRegistry(settings.models_dir)))
    plugin.warm_up()
    reader, intents = plugin.reader.get(), plugin.intent_model.get()
    examples = held_out_questions(reader.manifest)
    started = time.perf_counter()
    alone = reader.answer_each([e.question for e in examples], [e.context for e in examples], allow_no_answer=False)
    predicted = intents.predict([e.question for e in examples])
    answerer, known = plugin.answerer, reader.known_answers is not None
    rows = []
    for example, span, intent in zip(examples, alone, predicted):
        references = [a["text"] for a in example.answers]
        label = None if intent.abstain else intent.label
        row = {"alone": answer_scores(span.text if span else "", references)[1]}
        for suffix, use_known in (("", known), ("_without_known", False)):
            answerer.use_known_answers = use_known
            retrieval = answerer.retrieve(example.question)  # the known questions also re-rank the passages
            row["gold_rank" + suffix] = gold_rank(retrieval.hits, example)
            kind, row["end_to_end" + suffix] = quoted_f1(answerer.answer(example.question, None, retrieval), references)
            _, row["end_to_end_intent" + suffix] = quoted_f1(answerer.answer(example.question, label, retrieval), references)
            row["kind" + suffix] = kind
        answerer.use_known_answers = True
        row["alone_known"] = answer_scores(
            with_known_answers(reader, answerer.embedder, example.question, example.context, span), references
        )[1] if known else row["alone"]
        rows.append(row)
    seconds = time.perf_counter() - started
    training = reader.manifest.training
    return {
        "data_dir": str(data_dir),
        "reader": {"path": str(reader.path), "version": Path(reader.path).name,
                   "no_answer_examples": training.get("no_answer_examples", 0), "wall_time_s": training.get("wall_time_s")},
        "questions": len(rows),
        "known_answers": len(reader.known_answers) if known else 0,
        "reader_alone_f1": float(np.mean([r["alone"] for r in rows])),
        "reader_alone_f1_known": float(np.mean([r["alone_known"] for r in rows])),
        "end_to_end_f1": float(np.mean([r["end_to_end"] for r in rows])),
        "end_to_end_f1_with_intent": float(np.mean([r["end_to_end_intent"] for r in rows])),
        "end_to_end_f1_without_known": float(np.mean([r["end_to_end_without_known"] for r in rows])),
        "end_to_end_f1_with_intent_without_known": float(np.mean([r["end_to_end_intent_without_known"] for r in rows])),
        "quoted": float(np.mean([r["kind"] == "quoted" for r in rows])),
        "gold_first": float(np.mean([r["gold_rank"] == 0 for r in rows])),
        "gold_retrieved": float(np.mean([r["gold_rank"] is not None for r in rows])),
        "gold_first_without_known": float(np.mean([r["gold_rank_without_known"] == 0 for r in rows])),
        "gold_retrieved_without_known": float(np.mean([r["gold_rank_without_known"] is not None for r in rows])),
        "seconds_per_question": seconds / max(1, len(rows)),
    }


def markdown(results: dict) -> str:
    lines = ["| data folder | reader version (no-answer examples, known answers) | questions | reader alone F1 (+ known answers) "
             "| end-to-end F1 (without known answers) | with intent (without) | quoted a span | gold passage first / retrieved (without) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in results["runs"]:
        reader = row["reader"]
        lines.append(
            f"| {row['data_dir']} | {reader['version']} ({reader['no_answer_examples']}, {row['known_answers']}) | {row['questions']} | "
            f"{100 * row['reader_alone_f1']:.1f} ({100 * row['reader_alone_f1_known']:.1f}) | "
            f"**{100 * row['end_to_end_f1']:.1f}** ({100 * row['end_to_end_f1_without_known']:.1f}) | "
            f"{100 * row['end_to_end_f1_with_intent']:.1f} ({100 * row['end_to_end_f1_with_intent_without_known']:.1f}) | "
            f"{100 * row['quoted']:.0f}% | {100 * row['gold_first']:.0f}% / {100 * row['gold_retrieved']:.0f}% "
            f"({100 * row['gold_first_without_known']:.0f}% / {100 * row['gold_retrieved_without_known']:.0f}%) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, action="append", required=True,
                        help="a data folder where `assistant finetune --plugin customer_service` ran (repeat to compare)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "answers_bench.json")
    args = parser.parse_args(argv)
    results = {"command": "python benchmarks/answers_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]), "runs": []}
    for data_dir in args.data_dir:
        results["runs"].append(score_data_dir(data_dir.expanduser()))
        args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results, indent=2))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
