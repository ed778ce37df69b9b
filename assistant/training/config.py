"""Fine-tuning hyper-parameters: task defaults, overridden by a ModelSpec's ``defaults``, overridden by CLI flags."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from assistant.errors import TrainingSettingError
from assistant.models.classifier import POOLINGS
from assistant.training.data import QA_HOLDOUTS
from assistant.training.metrics import CLASSIFICATION_METRICS, QA_METRICS


@dataclass(frozen=True)
class TrainConfig:
    epochs: float
    lr: float
    batch_size: int
    max_length: int
    seed: int = 42
    weight_decay: float = 0.01
    #: Fraction of the training steps spent warming the learning rate up.
    warmup_ratio: float = 0.1
    label_smoothing: float = 0.0
    #: The new output head learns at ``lr`` times this (see ``runner.Trainer``).
    head_lr_multiplier: float = 1.0
    #: Evaluations without improvement of the primary metric before training stops (0 = never stop early).
    patience: int = 2
    validation_fraction: float = 0.1
    #: "mean" or "cls"; see assistant.models.classifier for why mean is the default.
    pooling: str = "mean"
    #: Label of out-of-scope rows (e.g. CLINC150's "oos"): not a class; used to pick the abstain threshold.
    out_of_scope_label: str | None = None
    #: With out-of-scope rows: pick the threshold catching the most of them while validation in-scope
    #: accuracy (abstain = wrong) stays at least this (None: maximise the sum of both).
    min_in_scope_accuracy: float | None = None
    #: With out-of-scope rows: pick the threshold keeping the most in-scope accuracy while validation
    #: out-of-scope recall stays at least this (exclusive with ``min_in_scope_accuracy``).
    min_out_of_scope_recall: float | None = None
    #: QA: token overlap between the windows a long context is split into.
    doc_stride: int = 128
    #: QA: longest answer, in tokens.
    max_answer_tokens: int = 30
    #: QA: what validation holds out, "contexts" (unseen passages) or "questions" (see training.data.QA_HOLDOUTS).
    qa_holdout: str = "contexts"
    lr_scheduler: str = "linear"
    #: Batch examples of similar length together (less padding, faster on CPU); order stays random.
    group_by_length: bool = True
    #: "auto" (bf16 mixed precision where the hardware runs it natively, else fp32), "bf16" or "fp32".
    precision: str = "auto"
    #: Attention-probability dropout while fine-tuning (None: the base model's, 0.1 for BERT). At 0 PyTorch
    #: uses its fused attention kernel, which trains about 1.5x faster on CPU.
    attention_dropout: float | None = 0.0
    #: Dropout on the hidden states while fine-tuning (None: the base model's, 0.1 for BERT).
    hidden_dropout: float | None = None
    #: The embeddings and this many of the lowest transformer layers keep the base model's weights
    #: (0: train everything). No gradients are computed below the first trained layer, so steps are cheaper.
    freeze_layers: int = 0
    #: QA: this fraction of the training questions is also paired with a similar passage that does not
    #: answer it, labelled "no answer" (see training.qa.no_answer_passages).
    no_answer_passages: float = 0.0
    #: QA: keep the training questions and their answers, embedded, with the model, for a caller to
    #: weigh spans by what similar known questions were answered (see assistant.models.known_answers).
    known_answers: bool = False
    #: Single-text classification: also fit a logistic regression on the frozen base model's embeddings and
    #: average its probabilities with the fine-tuned model's (see assistant.models.embedding_member).
    embedding_member: bool = False
    #: Longest the training loop may take, in seconds (None: no limit). The first steps are timed and the
    #: epochs cut to what fits (see training.runner.fit_time_limit); a faster machine trains the full schedule.
    time_limit_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "sequence-classification": {"epochs": 5, "lr": 5e-5, "batch_size": 32, "max_length": 128},
    "pair-classification": {"epochs": 3, "lr": 3e-5, "batch_size": 16, "max_length": 256},
    "extractive-qa": {"epochs": 3, "lr": 5e-5, "batch_size": 16, "max_length": 384},
}

TASK_METRICS = {
    "sequence-classification": CLASSIFICATION_METRICS,
    "pair-classification": CLASSIFICATION_METRICS,
    "extractive-qa": QA_METRICS,
}

SCHEDULERS = ("linear", "cosine", "constant_with_warmup")
PRECISIONS = ("auto", "bf16", "fp32")

NUMERIC = {
    "epochs": float, "lr": float, "batch_size": int, "max_length": int, "seed": int, "weight_decay": float,
    "warmup_ratio": float, "label_smoothing": float, "head_lr_multiplier": float, "patience": int, "validation_fraction": float,
    "doc_stride": int, "max_answer_tokens": int, "min_in_scope_accuracy": float, "min_out_of_scope_recall": float,
    "attention_dropout": float, "hidden_dropout": float, "freeze_layers": int,
    "no_answer_passages": float, "time_limit_s": float,
}
#: Settings whose default is None ("not set"); a None value stays None.
OPTIONAL = ("out_of_scope_label", "min_in_scope_accuracy", "min_out_of_scope_recall", "attention_dropout", "hidden_dropout",
            "time_limit_s")


def build_config(model: str, task: str, spec_defaults: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    """Task defaults < ``spec_defaults`` < ``overrides`` (``None`` values are ignored); validated."""
    known = {f.name: f for f in fields(TrainConfig)}
    unknown = sorted(set(spec_defaults) - set(known))
    if unknown:
        raise TrainingSettingError(
            model, f"unknown training default(s) {', '.join(unknown)}", f"use only {', '.join(sorted(known))} in ModelSpec.defaults"
        )
    values = {**TASK_DEFAULTS[task], **spec_defaults, **{k: v for k, v in overrides.items() if v is not None}}
    for name, kind in NUMERIC.items():
        if name not in values or (values[name] is None and name in OPTIONAL):
            continue  # not set: TrainConfig's default
        try:
            values[name] = kind(values[name])
        except (TypeError, ValueError):
            raise TrainingSettingError(model, f"{name}={values[name]!r} is not a number", f"set {name} to a {kind.__name__}") from None
    if values.get("time_limit_s") == 0:
        values["time_limit_s"] = None  # 0 lifts a spec's limit (``--time-limit 0``)
    config = TrainConfig(**{k: v for k, v in values.items() if v is not None or k in OPTIONAL})
    checks = [
        ("epochs", config.epochs > 0, "a positive number"),
        ("lr", 0 < config.lr < 1, "a positive learning rate such as 5e-5"),
        ("batch_size", config.batch_size >= 1, "at least 1"),
        ("max_length", 8 <= config.max_length <= 8192, "between 8 and the base model's limit (512 for BERT)"),
        ("warmup_ratio", 0 <= config.warmup_ratio < 1, "between 0 and 1"),
        ("label_smoothing", 0 <= config.label_smoothing < 1 and (task != "extractive-qa" or config.label_smoothing == 0),
         "between 0 and 1 (0 for extractive-qa, whose start/end outputs Trainer's label smoother cannot read)"),
        ("head_lr_multiplier", 0 < config.head_lr_multiplier <= 1000, "a positive factor such as 10"),
        ("patience", config.patience >= 0, "0 (no early stopping) or more"),
        ("validation_fraction", 0 < config.validation_fraction <= 0.5, "between 0 and 0.5"),
        ("pooling", config.pooling in POOLINGS, f"one of {', '.join(POOLINGS)}"),
        ("doc_stride", task != "extractive-qa" or 0 <= config.doc_stride < config.max_length // 2, "smaller than half of max_length"),
        ("max_answer_tokens", config.max_answer_tokens >= 1, "at least 1"),
        ("lr_scheduler", config.lr_scheduler in SCHEDULERS, f"one of {', '.join(SCHEDULERS)}"),
        ("attention_dropout", config.attention_dropout is None or 0 <= config.attention_dropout < 1, "between 0 and 1, or None for the base model's"),
        ("freeze_layers", config.freeze_layers >= 0, "0 (train every layer) or the number of lowest layers to keep frozen"),
        ("no_answer_passages", 0 <= config.no_answer_passages <= 1 and (task == "extractive-qa" or config.no_answer_passages == 0),
         "a fraction between 0 and 1 of the questions (extractive-qa only)"),
        ("known_answers", isinstance(config.known_answers, bool) and (task == "extractive-qa" or not config.known_answers),
         "true or false (true for extractive-qa only)"),
        ("embedding_member", isinstance(config.embedding_member, bool) and (task == "sequence-classification" or not config.embedding_member),
         "true or false (true for sequence-classification only: the member embeds single texts)"),
        ("hidden_dropout", config.hidden_dropout is None or 0 <= config.hidden_dropout < 1, "between 0 and 1, or None for the base model's"),
        ("time_limit_s", config.time_limit_s is None or config.time_limit_s > 0, "a number of seconds, or 0 for no limit"),
        ("precision", config.precision in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
        ("qa_holdout", config.qa_holdout in QA_HOLDOUTS, f"one of {', '.join(QA_HOLDOUTS)}"),
        ("min_in_scope_accuracy", config.min_in_scope_accuracy is None or 0 < config.min_in_scope_accuracy <= 1, "a fraction such as 0.96"),
        ("min_out_of_scope_recall", config.min_out_of_scope_recall is None or 0 < config.min_out_of_scope_recall <= 1, "a fraction such as 0.8"),
        ("min_out_of_scope_recall", config.min_out_of_scope_recall is None or config.min_in_scope_accuracy is None,
         "None, or leave min_in_scope_accuracy unset: a threshold can meet only one of the two"),
    ]
    for name, ok, wanted in checks:
        if not ok:
            raise TrainingSettingError(model, f"{name}={getattr(config, name)!r} is out of range", f"set {name} to {wanted}")
    return config


def check_primary_metric(model: str, task: str, metric: str) -> None:
    allowed = TASK_METRICS[task]
    if metric not in allowed:
        raise TrainingSettingError(
            model, f"primary_metric '{metric}' is not computed for {task}", f"set ModelSpec.primary_metric to one of {', '.join(allowed)}"
        )
