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
import math
import random
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
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
        #: With a time limit, how the schedule was fitted to it (see ``fit_time_limit``).
        self.time_plan: dict | None = None
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


#: Training batches timed before a time-limited run, of spread sizes (after one untimed warm-up pass).
PROBE_STEPS = 12
#: An evaluation batch (twice a training batch, forward only) costs about this share of a training step.
EVAL_STEP_SHARE = 0.7
TIME_PLAN = "time_plan.json"


def _optimizer_step_seconds(model: torch.nn.Module, trainer: Trainer) -> float:
    """Time of gradient clipping plus an AdamW step, on copies of the trainable weights."""
    weights = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    for weight in weights:
        weight.grad = torch.zeros_like(weight)
    fused = {"fused": True} if "fused" in trainer.args.optim.value else {}
    optimizer = torch.optim.AdamW(weights, lr=1e-5, **fused)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(weights, trainer.args.max_grad_norm)
        optimizer.step()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def time_epoch(trainer: Trainer, steps: int = PROBE_STEPS) -> tuple[float, float]:
    """Seconds one training epoch should take, and the mean seconds per step.

    A step's forward/backward time grows with its batch's padded size, which length grouping makes
    vary a lot (and puts the largest batch first), so batches of spread sizes are timed, a line
    time = a + b * tokens is fitted to them and summed over every batch of the epoch; the optimizer's
    step is timed apart. The weights do not change and the random state is restored, so a run that
    fits its limit trains exactly as it would without one."""
    model = trainer.model
    device = next(model.parameters()).device
    states = torch.get_rng_state(), random.getstate(), np.random.get_state()
    was_training = model.training
    model.train()
    try:
        batches = list(trainer.get_train_dataloader())
        sizes = np.array([batch["input_ids"].numel() for batch in batches], dtype=np.float64)
        order = np.argsort(sizes)
        chosen = [batches[i] for i in dict.fromkeys(order[np.linspace(0, len(order) - 1, num=min(steps, len(order))).round().astype(int)])]
        timed_sizes, times = [], []
        for number, batch in enumerate([chosen[0], *chosen]):
            batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
            size = batch["input_ids"].numel()
            started = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=trainer.args.bf16):
                loss = trainer.compute_loss(model, batch)
            loss.backward()
            model.zero_grad(set_to_none=True)
            if number:
                timed_sizes.append(size)
                times.append(time.perf_counter() - started)
        optimizer_s = _optimizer_step_seconds(model, trainer)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        torch.set_rng_state(states[0])
        random.setstate(states[1])
        np.random.set_state(states[2])
    if len(set(timed_sizes)) > 1:
        slope, intercept = np.polyfit(timed_sizes, times, 1)
        predicted = np.maximum(intercept + slope * sizes, min(times))
    else:
        predicted = np.full(len(sizes), float(np.mean(times)))
    epoch_s = float(predicted.sum()) + optimizer_s * len(sizes)
    return epoch_s, epoch_s / len(sizes)


def epochs_within(limit_s: float, epoch_s: float, eval_s: float, epochs: float, least: float) -> float:
    """Most epochs (in hundredths, at least ``least``) whose training plus an evaluation at each epoch's end fit the limit."""
    fitting = least
    for evaluations in range(1, math.ceil(epochs) + 1):
        trained = min(epochs, evaluations, (limit_s - evaluations * eval_s) / epoch_s)
        if trained > evaluations - 1:
            fitting = max(fitting, trained)
    return fitting if fitting == epochs else max(math.floor(100 * fitting) / 100, least)


def fit_time_limit(trainer: Trainer, config: TrainConfig, run_dir: Path) -> dict | None:
    """With ``config.time_limit_s``, shorten the run to the epochs that fit in it, timed before it starts.

    Fewer epochs rather than a stop at the deadline: the learning rate still decays to its end, and the
    last (partial) epoch is evaluated and kept like any other. Should the timing prove too hopeful, a
    ``DeadlineGuard`` stops the run in time. A resumed run reuses the plan it started with, since its
    checkpoint's schedule was built for it."""
    if config.time_limit_s is None:
        return None
    saved = Path(run_dir) / TIME_PLAN
    eval_batches = math.ceil(len(trainer.eval_dataset) / trainer.args.per_device_eval_batch_size)
    if saved.is_file():
        plan = json.loads(saved.read_text(encoding="utf-8"))
    else:
        train_s, per_step = time_epoch(trainer)
        steps_per_epoch = len(trainer.get_train_dataloader())
        eval_s = EVAL_STEP_SHARE * eval_batches * per_step
        plan = {
            "time_limit_s": config.time_limit_s,
            "seconds_per_step": round(per_step, 4),
            "estimated_s": round(config.epochs * train_s + math.ceil(config.epochs) * eval_s, 1),
            "epochs": epochs_within(config.time_limit_s, train_s, eval_s, config.epochs, 1 / steps_per_epoch),
        }
        saved.parent.mkdir(parents=True, exist_ok=True)
        staged = saved.with_suffix(".tmp")
        staged.write_text(json.dumps(plan), encoding="utf-8")
        staged.replace(saved)
    trainer.args.num_train_epochs = plan["epochs"]
    trainer.time_plan = plan
    trainer.add_callback(DeadlineGuard(config.time_limit_s, EVAL_STEP_SHARE * eval_batches * plan["seconds_per_step"], plan))
    return plan


class DeadlineGuard(TrainerCallback):
    """Stops a time-limited run, evaluating and keeping where it got to, when the timing before it was too hopeful.

    The steps measured so far give the pace; training stops when one more step and a final evaluation
    would end past the limit (the machine slowed down, or the timed batches were unrepresentative)."""

    def __init__(self, limit_s: float, eval_s: float, plan: dict):
        self.limit_s, self.eval_s, self.plan = limit_s, eval_s, plan
        self.started = self.last_step_end = self.evaluating_s = 0.0
        self.first_step: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started, self.first_step = time.monotonic(), state.global_step

    def on_step_end(self, args, state, control, **kwargs):
        now = self.last_step_end = time.monotonic()  # an evaluation, if due, starts after the step (or epoch) ends
        step_s = (now - self.started - self.evaluating_s) / max(state.global_step - self.first_step, 1)
        if state.global_step < state.max_steps and now - self.started + step_s + self.eval_s > self.limit_s:
            control.should_training_stop = control.should_evaluate = control.should_save = True
            self.plan["stopped_at_step"] = state.global_step

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.plan.get("stopped_at_step") == state.global_step:  # that step was just evaluated and saved
            control.should_evaluate = control.should_save = False

    def on_evaluate(self, args, state, control, **kwargs):
        self.eval_s = time.monotonic() - self.last_step_end  # evaluations cost what the last one did
        self.evaluating_s += self.eval_s  # they count against the limit, but not in the training pace


def train(trainer: Trainer, run_dir: Path, resume: bool, config: TrainConfig | None = None,
          on_plan: Callable[[dict], None] | None = None) -> int | None:
    """Train, resuming from the run folder's last checkpoint when there is one; returns its step.

    With a ``config`` holding a time limit the schedule is first fitted to it (``on_plan`` hears how)."""
    trainer.remove_callback(PrinterCallback)
    checkpoint = get_last_checkpoint(str(run_dir)) if resume and Path(run_dir).is_dir() else None
    if not resume and Path(run_dir).exists():
        shutil.rmtree(run_dir)
    plan = fit_time_limit(trainer, config, run_dir) if config is not None else None
    if plan is not None and on_plan is not None:
        on_plan(plan)
    trainer.train(resume_from_checkpoint=checkpoint)
    # Mixed precision wraps forward() in autocast; the trained model must predict (and quantize) in fp32.
    trainer.model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    return int(Path(checkpoint).name.rsplit("-", 1)[-1]) if checkpoint else None


def announce_plan(on_progress: Progress | None, model: str, config: TrainConfig) -> Callable[[dict], None]:
    """The progress message saying whether the run fits its time limit."""

    def on_plan(plan: dict) -> None:
        limit = f"time limit {plan['time_limit_s']:.0f} s"
        if plan["epochs"] < config.epochs:
            message = (f"{limit}: {config.epochs:g} epochs need about {plan['estimated_s']:.0f} s at "
                       f"{plan['seconds_per_step']:.2f} s a step; training {plan['epochs']:g} epochs")
        else:
            message = f"{limit}: {config.epochs:g} epochs fit (about {plan['estimated_s']:.0f} s)"
        emit(on_progress, model, "train", 0, 0, message)

    return on_plan


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
        "time_plan": trainer.time_plan,
        "log_history": [entry for entry in state.log_history if "eval_loss" in entry],
    }
