"""``assistant eval --plugin NAME --data PATH``: score the active version on a labelled file and
write the report as text (report.txt), JSON (report.json) and, for classifiers, a confusion-matrix PNG."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from assistant.contract import Plugin
from assistant.models.classifier import TextClassifier
from assistant.models.qa import AnswerExtractor
from assistant.models.registry import ModelRegistry
from assistant.training.data import file_sha256, load_labelled_texts, load_squad
from assistant.training.evaluation import evaluate_classifier, evaluate_extractor
from assistant.training.finetune import select_specs


@dataclass
class EvalOutcome:
    report: dict
    folder: Path
    files: list[Path]
    text: str


def evaluate_active(plugin: Plugin, settings, data: Path, model: str | None = None, out: Path | None = None) -> EvalOutcome:
    """Evaluate the active version of ``model`` (default: the model matching ``data``'s format) on ``data``."""
    data = Path(data).expanduser()
    spec = select_specs(plugin, model, data)[0]
    version = ModelRegistry(settings.models_dir).active(plugin.name, spec.name)
    manifest = version.manifest()
    if spec.task == "extractive-qa":
        report = evaluate_extractor(AnswerExtractor.load(version.path), load_squad(data))
    else:
        examples = load_labelled_texts(data, pairs=spec.task == "pair-classification")
        report = evaluate_classifier(TextClassifier.load(version.path), examples, manifest.training.get("out_of_scope_label"))
    report["model"] = {"plugin": plugin.name, "model": spec.name, "version": version.version, "task": spec.task,
                       "quantized": manifest.quantized, "path": str(version.path)}
    report["data"] = {"path": str(data), "sha256": file_sha256(data)}
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(out).expanduser() if out else settings.data_dir / "reports" / plugin.name / spec.name / stamp
    folder.mkdir(parents=True, exist_ok=True)
    text = format_report(report)
    files = [folder / "report.txt", folder / "report.json"]
    files[0].write_text(text, encoding="utf-8")
    files[1].write_text(json.dumps(report, indent=2, sort_keys=True, default=float), encoding="utf-8")
    if "confusion_matrix" in report:
        files.append(plot_confusion_matrix(report, folder / "confusion_matrix.png"))
    return EvalOutcome(report, folder, files, text)


def _pct(value: float) -> str:
    return f"{100 * value:6.2f}%"


def format_report(report: dict) -> str:
    """The human-readable report: headline metrics, abstention, per-label table, confusions or QA errors."""
    m = report["model"]
    lines = [
        f"Evaluation of {m['plugin']}/{m['model']} {m['version']}{' (int8)' if m['quantized'] else ''} ({m['task']})",
        f"data: {report['data']['path']} ({report['examples']} examples)",
        "",
    ]
    if m["task"] == "extractive-qa":
        lines += [
            f"exact match       {_pct(report['exact_match'])}",
            f"F1                {_pct(report['f1'])}",
            *(
                [f"  first answer only: exact match {_pct(report['exact_match_first_answer'])}, F1 {_pct(report['f1_first_answer'])}"]
                if "f1_first_answer" in report else []
            ),
            f"F1 with abstain   {_pct(report['f1_with_abstain'])}  (threshold {report['abstain_threshold']:.3f})",
            f"answered          {_pct(report['answered_rate'])}",
        ]
        if "no_answer_recall" in report:
            lines.append(f"no-answer recall  {_pct(report['no_answer_recall'])}")
        if report["sample_errors"]:
            lines += ["", "Sample errors (question | gold | predicted):"]
            lines += [f"  {e['question']} | {' / '.join(e['gold']) or '(no answer)'} | {e['predicted'] or '(no answer)'}" for e in report["sample_errors"]]
        return "\n".join(lines) + "\n"
    if "accuracy" in report:
        lines += [
            f"accuracy               {_pct(report['accuracy'])}  ({report['in_scope_examples']} in-scope examples)",
            f"macro-F1               {_pct(report['macro_f1'])}",
            f"accuracy with abstain  {_pct(report['accuracy_with_abstain'])}  (abstain below {report['abstain_threshold']:.3f}; "
            f"abstained on {_pct(report['abstain_rate']).strip()} of in-scope)",
        ]
    if "out_of_scope_recall" in report:
        lines.append(f"out-of-scope recall    {_pct(report['out_of_scope_recall'])}  ({report['out_of_scope_examples']} examples)")
    if report.get("unknown_labels"):
        lines.append(f"labels the model does not know (counted as errors): {', '.join(report['unknown_labels'])}")
    if report.get("per_label"):
        width = max(len(label) for label in report["per_label"])
        lines += ["", f"{'label':<{width}}  precision  recall      F1  support"]
        for label, stats in sorted(report["per_label"].items()):
            lines.append(
                f"{label:<{width}}  {_pct(stats['precision'])}  {_pct(stats['recall'])}  {_pct(stats['f1-score'])}  {int(stats['support']):>7}"
            )
    if report.get("most_confused"):
        lines += ["", "Most confused (true -> predicted: count):"]
        lines += [f"  {c['true']} -> {c['predicted']}: {c['count']}" for c in report["most_confused"]]
    return "\n".join(lines) + "\n"


def plot_confusion_matrix(report: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay

    labels = list(report["per_label"])
    matrix = np.array(report["confusion_matrix"])
    size = max(6.0, 0.16 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay(matrix, display_labels=labels).plot(
        ax=ax, include_values=len(labels) <= 20, xticks_rotation="vertical", colorbar=False, cmap="Blues"
    )
    font = 9 if len(labels) <= 30 else 5
    ax.tick_params(labelsize=font)
    m = report["model"]
    ax.set_title(f"{m['plugin']}/{m['model']} {m['version']}: accuracy {report['accuracy']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
