"""What every task shares around transformers' ``Trainer``: arguments, progress events and resuming.

transformers 5.x API relied on (checked against 5.23): ``TrainingArguments(eval_strategy=...,
save_strategy=..., load_best_model_at_end=True, metric_for_best_model=..., warmup_steps=<float
< 1 = ratio>, train_sampling_strategy="group_by_length",
restore_callback_states_from_checkpoint=True, report_to="none")``; ``Trainer(processing_class=tokenizer, ...)`` (``tokenizer=`` is gone);
``EarlyStoppingCallback``; ``trainer_utils.get_last_checkpoint``; ``Trainer.train(resume_from_checkpoint=...)``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Callable

import torch
import transformers
from torch.utils.data import SequentialSampler
from transformers import EarlyStoppingCallback, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_utils import get_last_checkpoint

from assistant.errors import TrainingSettingError
from assistant.training.config import TrainConfig

Progress = Callable[[dict], None]


#: Names of the freshly initialised output layers: the QA head and the pooled classifier's head.
HEAD_PREFIXES = ("qa_outputs.", "classifier.")


class Trainer(transformers.Trainer):
    """``Trainer`` that evaluates in dataset order and can train the new head faster than the body.

    transformers 5 applies ``train_sampling_strategy="group_by_length"`` to evaluation too, which
    shuffles the predictions handed to ``compute_metrics``; the QA metric maps windows back to
    their questions by position, so it needs them in order.

    ``head_lr_multiplier``: the randomly initialised head starts from nothing while the body only
    adapts, so with few training steps the head gets ``lr * head_lr_multiplier`` (its own optimizer
    groups, scheduled like the rest).
    """

    def __init__(self, *args, head_lr_multiplier: float = 1.0, **kwargs):
        self.head_lr_multiplier = head_lr_multiplier
        super().__init__(*args, **kwargs)

    def _get_eval_sampler(self, eval_dataset):
        return SequentialSampler(eval_dataset) if eval_dataset is not None else None

    def create_optimizer(self, model=None):
        fresh = self.optimizer is None
        optimizer = super().create_optimizer(model)
        if fresh and self.head_lr_multiplier != 1.0:
            model = self.model if model is None else model
            head = {id(p) for name, p in model.named_parameters() if name.startswith(HEAD_PREFIXES)}
            for group in list(optimizer.param_groups):
                moved = [p for p in group["params"] if id(p) in head]
                if moved:
                    group["params"] = [p for p in group["params"] if id(p) not in head]
                    settings = {k: v for k, v in group.items() if k != "params"}
                    optimizer.add_param_group({**settings, "params": moved, "lr": group["lr"] * self.head_lr_multiplier})
        return optimizer


def freeze_lowest_layers(encoder: torch.nn.Module, layers: int, model: str) -> None:
    """Keep ``encoder``'s embeddings and its ``layers`` lowest transformer layers at the base model's weights.

    Their gradients are then never computed, which saves most of their share of the backward pass;
    the lowest layers' features are the most general ones, so they need adapting least.
    """
    if layers == 0:
        return
    blocks = next(
        (m for m in encoder.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == encoder.config.num_hidden_layers),
        None,
    )
    embeddings = getattr(encoder, "embeddings", None)
    if blocks is None or embeddings is None:
        raise TrainingSettingError(
            model, f"freeze_layers={layers} needs an encoder with an 'embeddings' module and a list of layers, which "
            f"{type(encoder).__name__} lacks", "set freeze_layers to 0 for this base model"
        )
    if layers >= len(blocks):
        raise TrainingSettingError(
            model, f"freeze_layers={layers} would freeze all {len(blocks)} layers of the base model",
            f"set freeze_layers below {len(blocks)}"
        )
    for module in [embeddings, *blocks[:layers]]:
        module.requires_grad_(False)


def emit(on_progress: Progress | None, model: str, stage: str, step: int, total: int, message: str) -> None:
    if on_progress is not None:
        on_progress({"model": model, "stage": stage, "step": int(step), "total": int(total), "message": message})


class ProgressReporter(TrainerCallback):
    """Turns Trainer events into ``on_progress`` dicts (the CLI bar and the UI's Models tab read them)."""

    def __init__(self, model: str, on_progress: Progress | None):
        self.model = model
        self.on_progress = on_progress
        self.last_loss: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        emit(self.on_progress, self.model, "train", state.global_step, state.max_steps, "training")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.last_loss = float(logs["loss"])

    def on_step_end(self, args, state, control, **kwargs):
        loss = f", loss {self.last_loss:.3f}" if self.last_loss is not None else ""
        emit(self.on_progress, self.model, "train", state.global_step, state.max_steps, f"epoch {state.epoch:.2f}{loss}")

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        shown = ", ".join(f"{k[5:]} {v:.4f}" for k, v in (metrics or {}).items() if k.startswith("eval_") and k[5:] in _SHOWN)
        emit(self.on_progress, self.model, "evaluate", state.global_step, state.max_steps, f"validation: {shown}")


_SHOWN = {"accuracy", "macro_f1", "exact_match", "f1", "loss"}


def native_bf16() -> bool:
    """Whether bf16 runs natively here: a CUDA GPU that supports it, or a CPU with AVX512-BF16 or AMX.

    On such CPUs bf16 autocast trains MiniLM up to 2x faster than fp32 (docs/benchmarks.md); other CPUs
    have no bf16 instructions to gain from, so "auto" keeps fp32 there."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check is not None and check() for check in checks)


def uses_bf16(config: TrainConfig) -> bool:
    return config.precision == "bf16" or (config.precision == "auto" and native_bf16())


def training_arguments(
    config: TrainConfig, run_dir: Path, metric: str, *, label_names: list[str], logging_steps: int
) -> TrainingArguments:
    """Evaluate and checkpoint every epoch; keep the best epoch by the primary metric."""
    bf16 = uses_bf16(config)
    return TrainingArguments(
        output_dir=str(run_dir),
        num_train_epochs=config.epochs,
        learning_rate=config.lr,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size * 2,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type=config.lr_scheduler,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=metric,
        greater_is_better=True,
        restore_callback_states_from_checkpoint=True,
        logging_strategy="steps",
        logging_steps=logging_steps,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        label_names=label_names,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        save_only_model=False,
        bf16=bf16,
        use_cpu=bf16 and not torch.cuda.is_available(),
    )


def callbacks(config: TrainConfig, model: str, on_progress: Progress | None) -> list[TrainerCallback]:
    found: list[TrainerCallback] = [ProgressReporter(model, on_progress)]
    if config.patience > 0:
        found.append(EarlyStoppingCallback(early_stopping_patience=config.patience))
    return found


def run_key(payload: dict[str, Any]) -> str:
    """Checkpoints of the same run (same data, base model and hyper-parameters) share a folder."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def train(trainer: Trainer, run_dir: Path, resume: bool) -> int | None:
    """Train, resuming from the run folder's last checkpoint when there is one; returns its step."""
    trainer.remove_callback(PrinterCallback)
    checkpoint = get_last_checkpoint(str(run_dir)) if resume and Path(run_dir).is_dir() else None
    if not resume and Path(run_dir).exists():
        shutil.rmtree(run_dir)
    trainer.train(resume_from_checkpoint=checkpoint)
    # Mixed precision wraps forward() in autocast; the trained model must predict (and quantize) in fp32.
    trainer.model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    return int(Path(checkpoint).name.rsplit("-", 1)[-1]) if checkpoint else None


def training_record(config: TrainConfig, trainer: Trainer, resumed_from: int | None, **counts: int) -> dict[str, Any]:
    """What the manifest records about a finished run: hyper-parameters, data sizes and how training went."""
    state = trainer.state
    checkpoint = state.best_model_checkpoint
    return {
        **config.as_dict(),
        **counts,
        "mixed_precision": "bf16" if trainer.args.bf16 else "fp32",
        "steps": state.global_step,
        "epochs_run": round(float(state.epoch or 0), 3),
        "best_step": int(Path(checkpoint).name.rsplit("-", 1)[-1]) if checkpoint else None,
        "resumed_from_step": resumed_from,
        "log_history": [entry for entry in state.log_history if "eval_loss" in entry],
    }
