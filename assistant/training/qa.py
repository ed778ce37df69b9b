"""Fine-tuning an extractive QA model (``AutoModelForQuestionAnswering``) with Trainer, then calibrating it.

Each context is split into overlapping windows (``max_length`` / ``doc_stride``); a window whose
context does not hold the whole answer is labelled with [CLS] (position 0), which teaches the
model its "no answer here" score. With ``no_answer_passages`` some questions are also paired with a
similar passage that does not answer them (see ``no_answer_passages``).
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
from transformers import AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, set_seed

from assistant.models.base import model_config, quiet_transformers
from assistant.models.known_answers import KnownAnswers
from assistant.models.qa import AnswerExtractor, best_answers, encode_windows
from assistant.models.registry import Manifest
from assistant.training import runner
from assistant.training.calibration import choose_threshold, fit_temperature
from assistant.training.classification import FeatureDataset, TrainedModel
from assistant.training.config import TrainConfig
from assistant.training.data import QAExample
from assistant.training.evaluation import evaluate_extractor, has_impossible, scalar_metrics
from assistant.training.metrics import answer_scores


class Windows:
    """The tokenized windows of some examples with their answer positions (token indices, 0 = no answer)."""

    def __init__(self, tokenizer, examples: list[QAExample], config: TrainConfig):
        self.examples = examples
        encoded, self.sources, self.offsets = encode_windows(
            tokenizer, [e.question for e in examples], [e.context for e in examples], config.max_length, config.doc_stride
        )
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded]
        self.encoded = {k: encoded[k] for k in keys}
        self.starts, self.ends = [], []
        for source, offsets in zip(self.sources, self.offsets):
            start, end = answer_tokens(examples[source], offsets)
            self.starts.append(start)
            self.ends.append(end)

    def dataset(self) -> FeatureDataset:
        return FeatureDataset(
            [
                {**{k: v[i] for k, v in self.encoded.items()}, "start_positions": self.starts[i], "end_positions": self.ends[i]}
                for i in range(len(self.sources))
            ]
        )


def answer_tokens(example: QAExample, offsets: list[tuple[int, int] | None]) -> tuple[int, int]:
    """Token positions of the first gold answer inside one window, or (0, 0) when it is not wholly inside."""
    if example.is_impossible or not example.answers:
        return 0, 0
    first_char = example.answers[0]["answer_start"]
    last_char = first_char + len(example.answers[0]["text"])
    context = [i for i, o in enumerate(offsets) if o is not None]
    if not context or offsets[context[0]][0] > first_char or offsets[context[-1]][1] < last_char:
        return 0, 0
    start = max(i for i in context if offsets[i][0] <= first_char)
    end = min(i for i in context if offsets[i][1] >= last_char)
    return start, end


def no_answer_passages(examples: list[QAExample], share: float, seed: int) -> list[QAExample]:
    """For ``share`` of the answerable questions, the passage BM25 ranks highest for the question
    among the other passages, unless it contains the answer text, as a copy labelled "no answer".

    A reader trained on each question's own passage only learns to find the best span in a passage
    that has one; its scores then rank a plausible span in a wrong retrieved passage as high as the
    right one. Hard negatives (as in DPR) teach it that a passage on the same topic can hold no answer.
    """
    answerable = [e for e in examples if e.answers and not e.is_impossible]
    contexts = sorted({e.context for e in examples})
    if share <= 0 or not answerable or len(contexts) < 2:
        return []
    from knowledge.lexical import Bm25Index

    index = Bm25Index.build(np.arange(len(contexts)), contexts)
    negatives = []
    for example in random.Random(seed).sample(answerable, round(share * len(answerable))):
        answers = [a["text"].lower() for a in example.answers]
        for row, _ in index.search(example.question, k=10):
            passage = contexts[row]
            if passage != example.context and not any(a in passage.lower() for a in answers):
                negatives.append(replace(example, id=f"{example.id}-no-answer", context=passage, answers=[], is_impossible=True))
                break
    return negatives


def _qa_metrics(windows: Windows, config: TrainConfig):
    contexts = [e.context for e in windows.examples]

    def compute(prediction) -> dict:
        start_logits, end_logits = prediction.predictions[:2]
        answers = best_answers(
            contexts, windows.sources, windows.offsets, start_logits, end_logits, 1.0, config.max_answer_tokens,
            has_impossible(windows.examples),
        )
        scores = [
            answer_scores(a.text if a else "", [g["text"] for g in e.answers] if not e.is_impossible else [])
            for e, a in zip(windows.examples, answers)
        ]
        return {"exact_match": float(np.mean([s[0] for s in scores])), "f1": float(np.mean([s[1] for s in scores]))}

    return compute


def train_extractor(
    train: list[QAExample],
    validation: list[QAExample],
    *,
    plugin: str,
    model_name: str,
    base_model: str,
    config: TrainConfig,
    primary_metric: str,
    run_dir: Path,
    resume: bool = True,
    on_progress: runner.Progress | None = None,
) -> TrainedModel:
    """Fine-tune, keep the best epoch by ``primary_metric``, fit temperature and abstain threshold on validation."""
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(base_model)
        set_seed(config.seed)
        model = AutoModelForQuestionAnswering.from_pretrained(
            base_model, config=model_config(base_model, config.attention_dropout, config.hidden_dropout)
        )
    runner.freeze_lowest_layers(model.base_model, config.freeze_layers, model_name)
    negatives = no_answer_passages(train, config.no_answer_passages, config.seed)
    train_windows = Windows(tokenizer, train + negatives, config)
    validation_windows = Windows(tokenizer, validation, config)
    steps_per_epoch = -(-len(train_windows.sources) // config.batch_size)
    trainer = runner.Trainer(
        model=model,
        args=runner.training_arguments(
            config,
            run_dir,
            primary_metric,
            label_names=["start_positions", "end_positions"],
            logging_steps=max(1, steps_per_epoch // 10),
        ),
        train_dataset=train_windows.dataset(),
        eval_dataset=validation_windows.dataset(),
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_qa_metrics(validation_windows, config),
        callbacks=runner.callbacks(config, model_name, on_progress),
        head_lr_multiplier=config.head_lr_multiplier,
    )
    resumed_from = runner.train(trainer, run_dir, resume, config, runner.announce_plan(on_progress, model_name, config))
    manifest = Manifest(
        plugin=plugin,
        model=model_name,
        task="extractive-qa",
        base_model=base_model,
        primary_metric=primary_metric,
        training=runner.training_record(
            config,
            trainer,
            resumed_from,
            train_examples=len(train),
            no_answer_examples=len(negatives),
            train_windows=len(train_windows.sources),
            validation_examples=len(validation),
        ),
    )
    extractor = AnswerExtractor(trainer.model, tokenizer, manifest, run_dir)
    runner.emit(on_progress, model_name, "calibrate", 0, 1, "fitting temperature and abstain threshold on validation")
    report = calibrate_extractor(extractor, validation_windows)
    runner.emit(on_progress, model_name, "calibrate", 1, 1, f"temperature {manifest.calibration['temperature']:.3f}")
    if config.known_answers:
        extractor.known_answers = known_answers(train, model_name, on_progress)
        manifest.training["known_answer_questions"] = len(extractor.known_answers)
    return TrainedModel(extractor, manifest, report)


def known_answers(train: list[QAExample], model_name: str, on_progress: runner.Progress | None) -> KnownAnswers:
    """The training questions with their answers, embedded with the bundled sentence encoder (the
    knowledge stores' default, so a store's searches and this memory usually share one model)."""
    from knowledge.embedding import BUNDLED_MODEL, Embedder

    runner.emit(on_progress, model_name, "evaluate", 0, 1, f"embedding {len(train)} training questions as known answers")
    memory = KnownAnswers.build(train, Embedder(BUNDLED_MODEL))
    runner.emit(on_progress, model_name, "evaluate", 1, 1, f"{len(memory)} known answers")
    return memory


def calibrate_extractor(extractor: AnswerExtractor, windows: Windows) -> dict:
    """Temperature from the NLL of the gold start/end tokens; threshold from per-question correctness (F1 >= 0.5)."""
    starts, ends = extractor.window_logits(windows.encoded)
    width = max(len(s) for s in starts)
    rows = np.full((2 * len(starts), width), -np.inf)
    targets = np.zeros(2 * len(starts), dtype=np.int64)
    for i, (start, end, offsets) in enumerate(zip(starts, ends, windows.offsets)):
        valid = np.array([k == 0 or o is not None for k, o in enumerate(offsets)])
        rows[2 * i, : len(start)] = np.where(valid, start, -np.inf)
        rows[2 * i + 1, : len(end)] = np.where(valid, end, -np.inf)
        targets[2 * i], targets[2 * i + 1] = windows.starts[i], windows.ends[i]
    temperature = fit_temperature(rows, targets)
    contexts = [e.context for e in windows.examples]
    answers = best_answers(
        contexts, windows.sources, windows.offsets, starts, ends, temperature, extractor.max_answer_tokens,
        has_impossible(windows.examples),
    )
    confidences, correct, impossible = [], [], []
    for example, answer in zip(windows.examples, answers):
        gold = [g["text"] for g in example.answers] if not example.is_impossible else []
        confidences.append(answer.score if answer else 0.0)
        correct.append(answer is not None and answer_scores(answer.text, gold)[1] >= 0.5)
        impossible.append(example.is_impossible)
    choice = choose_threshold(np.array(confidences), np.array(correct), np.array(impossible))
    extractor.manifest.calibration = {"temperature": temperature, "abstain_threshold": choice["abstain_threshold"]}
    report = evaluate_extractor(extractor, windows.examples)
    report["calibration"] = {"temperature": temperature, **choice}
    extractor.manifest.metrics = scalar_metrics(report)
    return report
