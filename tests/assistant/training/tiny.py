"""Tiny labelled data sets and a test plugin for fine-tuning tests (written to tmp_path, never shared data)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from assistant.contract import ModelSpec, Plugin, PluginContext, Reply, RoutingScore
from assistant.models.registry import ModelRegistry

#: Three intents whose utterances share distinctive words, so a 2-layer model learns them in a few steps.
TEMPLATES = {
    "card_arrival": ["where is my card", "my card has not arrived", "card still not delivered", "when will the card arrive"],
    "exchange_rate": ["what is the exchange rate", "exchange rate for euros", "how much is the dollar rate", "currency rate today"],
    "top_up": ["top up my account", "how do i top up", "top up failed", "add money top up"],
}
SUFFIXES = ["", " please", " now", " today?", " thanks", " asap", " quickly", " again", " help", " ?"]


def intent_rows(seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = [(t + s, label) for label, templates in TEMPLATES.items() for t in templates for s in SUFFIXES]
    rng.shuffle(rows)
    return rows


def write_intents_csv(path: Path, label_column: str = "category") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", label_column])
        writer.writerows(intent_rows())
    return path


CONTEXTS = [
    ("Returns are accepted within {n} days of delivery. Refunds go back to the original card.", "How many days do I have to return an item?", "{n} days"),
    ("Standard shipping takes {n} business days. Express shipping arrives the next day.", "How long does standard shipping take?", "{n} business days"),
    ("Gift cards never expire and can be used {n} times. They cannot be exchanged for cash.", "How many times can a gift card be used?", "{n} times"),
]


def write_squad(path: Path, copies: int = 6) -> Path:
    """SQuAD JSON: each context template filled with different numbers, one question each."""
    paragraphs = []
    for c in range(copies):
        for k, (context, question, answer) in enumerate(CONTEXTS):
            n = str(3 + c * 7 + k)
            text, answer_text = context.format(n=n), answer.format(n=n)
            paragraphs.append({
                "context": text,
                "qas": [{"id": f"q{c}-{k}", "question": question, "answers": [{"text": answer_text, "answer_start": text.index(answer_text)}]}],
            })
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "help", "paragraphs": paragraphs}]}, indent=1), encoding="utf-8")
    return path


class TinyPlugin(Plugin):
    """A plugin whose model specs are set per test."""

    name = "tiny"
    description = "test plugin for fine-tuning"

    def __init__(self, context: PluginContext, specs: list[ModelSpec], sources: list[Path] | None = None):
        super().__init__(context)
        self._specs = specs
        self._sources = sources or []

    def model_specs(self) -> list[ModelSpec]:
        return self._specs

    def knowledge_sources(self) -> list[Path]:
        return self._sources

    def route(self, turn, session):
        return RoutingScore(confidence=0.0)

    def respond(self, turn, session):
        return Reply(text="", plugin=self.name)


def make_plugin(settings, specs: list[ModelSpec], sources: list[Path] | None = None) -> TinyPlugin:
    return TinyPlugin(PluginContext(settings=settings, models=ModelRegistry(settings.models_dir)), specs, sources)


#: Hyper-parameters that make a tiny-BERT run take seconds.
FAST = {"epochs": 2, "lr": 1e-3, "batch_size": 16, "max_length": 24, "patience": 0, "validation_fraction": 0.25}
FAST_QA = {"epochs": 2, "lr": 1e-3, "batch_size": 8, "max_length": 48, "doc_stride": 16, "patience": 0, "validation_fraction": 0.34}
