"""The model card (README.md) written into every version folder, so a folder explains itself."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.models.registry import Manifest

POOLING_NOTE = (
    "The classifier pools token states itself instead of using BERT's [CLS] pooler. The bundled "
    "all-MiniLM-L6-v2 was trained as a sentence encoder with mean pooling; its file does contain "
    "`pooler.dense` weights, but that objective never trains them (the bias is all zeros), so a stock "
    "`AutoModelForSequenceClassification` would classify through an untrained layer. The head here is "
    "dropout + linear over the attention-masked mean of the last hidden states (`pooling=mean`, the "
    "representation the model was pre-trained to produce), or over the first token (`pooling=cls`) when "
    "chosen. The folder root is therefore a plain Hugging Face encoder (usable as `--base-model` or by "
    "sentence-transformers) and `classification_head.safetensors` holds the head."
)

QA_NOTE = (
    "`AutoModelForQuestionAnswering` reads start/end logits from the token states, so the unused [CLS] "
    "pooler plays no part. Long contexts are split into windows of `max_length` tokens overlapping by "
    "`doc_stride`; a window that does not contain the whole answer is trained to point at [CLS] (no answer). "
    "A span's score is p(start) x p(end) after temperature scaling, over the window's context tokens and [CLS]; "
    "windows whose no-answer score beats their best span return nothing."
)

TRANSFORMERS_NOTE = (
    "Trained with transformers' `Trainer` (5.x API): `Trainer(processing_class=tokenizer, ...)` (the old "
    "`tokenizer=` argument is gone), `TrainingArguments(eval_strategy=\"epoch\", save_strategy=\"epoch\", "
    "load_best_model_at_end=True, metric_for_best_model=<primary metric>, warmup_steps=<ratio as a float < 1>, "
    "train_sampling_strategy=\"group_by_length\", "
    "restore_callback_states_from_checkpoint=True, report_to=\"none\")`, "
    "with evaluation kept in dataset order (transformers 5 length-groups it too), label smoothing in the "
    "classifier's own loss (Trainer's label smoother needs a model `config`), "
    "`EarlyStoppingCallback`, and `get_last_checkpoint` + `train(resume_from_checkpoint=...)` for resuming."
)


QA_ONLY = {"doc_stride", "max_answer_tokens", "qa_holdout", "no_answer_passages", "no_answer_examples", "known_answers", "known_answer_questions"}
CLASSIFICATION_ONLY = {"pooling", "out_of_scope_label", "min_in_scope_accuracy", "min_out_of_scope_recall", "label_smoothing",
                       "embedding_member", "embedding_member_C"}


def _percent(value) -> str:
    return f"{100 * value:.2f}%" if isinstance(value, (int, float)) else "-"


def write_model_card(folder: Path, manifest: Manifest, report: dict, data: dict) -> None:
    """README.md: what the model is, how it was trained, how well it did on validation, how to load it."""
    training = manifest.training
    lines = [
        f"# {manifest.plugin} / {manifest.model}" + (" (int8)" if manifest.quantized else ""),
        "",
        f"- task: `{manifest.task}`",
        f"- base model: `{manifest.base_model}`",
        f"- created: {manifest.created}",
        f"- data: `{data.get('path')}` (sha256 `{str(data.get('sha256', ''))[:12]}`), "
        f"{training.get('train_examples')} training / {training.get('validation_examples')} validation examples",
        f"- primary metric: `{manifest.primary_metric}` = {_percent(manifest.metrics.get(manifest.primary_metric))}",
        "",
        "## Load",
        "",
        "```python",
        "from assistant.models." + ("qa import AnswerExtractor" if manifest.task == "extractive-qa" else "classifier import TextClassifier"),
        ("AnswerExtractor" if manifest.task == "extractive-qa" else "TextClassifier") + '.load("<this folder>")  # the manifest says the rest',
        "```",
        "",
        "## Training",
        "",
        "| setting | value |",
        "| --- | --- |",
    ]
    shown = (
        "epochs", "lr", "batch_size", "max_length", "seed", "weight_decay", "warmup_ratio", "label_smoothing",
        "patience", "lr_scheduler", "group_by_length", "pooling", "out_of_scope_label", "min_in_scope_accuracy", "min_out_of_scope_recall",
        "doc_stride", "max_answer_tokens", "qa_holdout", "no_answer_passages", "no_answer_examples", "known_answers", "known_answer_questions", "head_lr_multiplier",
        "embedding_member", "embedding_member_C", "precision", "mixed_precision", "attention_dropout", "hidden_dropout", "freeze_layers", "time_limit_s",
        "steps", "epochs_run", "best_step", "resumed_from_step", "wall_time_s", "quantized_from",
    )
    skipped = CLASSIFICATION_ONLY if manifest.task == "extractive-qa" else QA_ONLY
    lines += [f"| {key} | {training[key]} |" for key in shown if key in training and key not in skipped]
    plan = training.get("time_plan")
    if plan and plan["epochs"] < training["epochs"]:
        lines += ["", f"Shortened to fit time_limit_s={plan['time_limit_s']:g}: {training['epochs']:g} epochs would have taken "
                      f"about {plan['estimated_s']:.0f} s at {plan['seconds_per_step']:.2f} s a step, so {plan['epochs']:g} were planned."]
    if plan and plan.get("stopped_at_step"):
        lines += ["", f"Stopped at step {plan['stopped_at_step']} to stay within time_limit_s={plan['time_limit_s']:g} "
                      "(training ran slower than timed before it); that step was evaluated and kept."]
    lines += ["", "## Validation results", ""]
    lines += [f"- {key}: {_percent(value) if key != 'examples' else value}" for key, value in manifest.metrics.items()]
    calibration = report.get("calibration", {})
    lines += [
        "",
        "## Calibration",
        "",
        f"- temperature: {manifest.calibration.get('temperature', 1.0):.4f} (fitted on validation by minimising NLL)",
    ]
    if "ensemble_temperature" in manifest.calibration:
        lines.append(f"- embedding member (C={training.get('embedding_member_C')}) averaged in, then ensemble temperature "
                     f"{manifest.calibration['ensemble_temperature']:.4f} (fitted on validation after averaging)")
    lines += [
        f"- abstain threshold: {manifest.calibration.get('abstain_threshold', 0.0):.4f} on the calibrated confidence",
        f"- threshold rule: {calibration.get('rule', 'inherited from the full-precision version')}",
    ]
    if report.get("most_confused"):
        lines += ["", "## Most confused (true → predicted, count)", ""]
        lines += [f"- {c['true']} → {c['predicted']}: {c['count']}" for c in report["most_confused"]]
    if report.get("per_label"):
        worst = sorted(report["per_label"].items(), key=lambda item: item[1]["f1-score"])[:10]
        lines += ["", "## Weakest labels (F1)", ""]
        lines += [f"- {label}: {_percent(stats['f1-score'])} ({int(stats['support'])} examples)" for label, stats in worst]
    if "quantization" in training:
        q = training["quantization"]
        lines += [
            "",
            "## Int8 quantization",
            "",
            f"Dynamic int8 quantization of every `nn.Linear` (torch.ao.quantization.quantize_dynamic). On the validation split: "
            f"{manifest.primary_metric} change {q['metric_change']:+.4f}; {q['full_ms_per_text']:.2f} ms → "
            f"{q['int8_ms_per_text']:.2f} ms per input, speed-up x{q['speedup']:.2f} (measured on this machine at training time).",
        ]
    lines += ["", "## Design notes", "", QA_NOTE if manifest.task == "extractive-qa" else POOLING_NOTE, "", TRANSFORMERS_NOTE, ""]
    lines += ["Full validation report: `evaluation.json` beside this file.", ""]
    (folder / "README.md").write_text("\n".join(lines), encoding="utf-8")
    (folder / "evaluation.json").write_text(json.dumps(report, indent=2, sort_keys=True, default=float), encoding="utf-8")
