"""``assistant finetune --plugin NAME``: train a plugin's models into new versions, gate them, ingest its documents.

For each ModelSpec: read and split the data, fine-tune with Trainer (checkpoints in
``<models>/<plugin>/<model>/runs/<run-key>/`` so an interrupted run resumes), calibrate on
validation, write the version (weights, manifest, README.md model card, evaluation.json) through
the registry, and activate it only if its primary metric is not worse than the active version's
(unless ``force``). With ``quantize`` an int8 copy is written as a further version and is the one
gated and activated; the result reports its metric change and measured speed-up.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from assistant.contract import ModelSpec, Plugin
from assistant.errors import AssistantError, DataFormatError, ModelCorruptedError, ModelNotFoundError, VersionGateError
from assistant.models.base import quiet_transformers, resolve_base_model
from assistant.models.registry import Manifest, ModelRegistry, ModelVersion
from assistant.training import runner
from assistant.training.card import write_model_card
from assistant.training.config import TrainConfig, build_config, check_primary_metric
from assistant.training.data import detect_task, file_sha256, load_labelled_texts, load_squad, split_labelled, split_squad
from assistant.training.evaluation import evaluate_classifier, evaluate_extractor, compare_speed, scalar_metrics

#: Longest validation sample used to time full vs int8 inference.
SPEED_SAMPLE = 256
#: Share of a command's time limit kept for what follows the last training loop: that model's
#: evaluation, calibration, known answers (a reader's) and saving, and ingesting the knowledge sources.
TIME_LIMIT_RESERVE = 0.1


@dataclass
class FinetuneResult:
    plugin: str
    model: str
    task: str
    #: The version written (the int8 one with ``quantize``), e.g. "v0003".
    version: str
    activated: bool
    #: Why it was or was not activated.
    reason: str
    metrics: dict
    primary_metric: str
    wall_time_s: float
    path: Path
    resumed_from_step: int | None = None
    #: With ``quantize``: full_version, metric_change, full_ms_per_text, int8_ms_per_text, speedup.
    quantization: dict | None = None
    #: Other versions this run wrote (the full-precision one when ``quantize``).
    extra_versions: list[str] = field(default_factory=list)


def select_specs(plugin: Plugin, model: str | None, data: Path | None) -> list[ModelSpec]:
    """The specs to train: ``model`` if named, else the one matching ``data``'s format, else all."""
    specs = plugin.model_specs()
    if not specs:
        raise AssistantError(f"Plugin '{plugin.name}' declares no models to fine-tune (its model_specs() is empty).")
    names = ", ".join(f"{s.name} ({s.task})" for s in specs)
    if model is not None:
        chosen = [s for s in specs if s.name == model]
        if not chosen:
            raise AssistantError(f"Plugin '{plugin.name}' has no model '{model}'. Its models: {names}.")
        if data is not None and detect_task(data) != chosen[0].task:
            raise DataFormatError(str(data), f"its format is for {detect_task(data)}, but model '{model}' is {chosen[0].task}")
        return chosen
    if data is not None:
        task = detect_task(data)
        matching = [s for s in specs if s.task == task]
        if not matching:
            raise DataFormatError(str(data), f"its format is for {task}, and plugin '{plugin.name}' has no such model (its models: {names})")
        return matching[:1]
    return specs


def finetune_plugin(
    plugin: Plugin,
    settings,
    *,
    data: Path | None = None,
    model: str | None = None,
    base_model: str | None = None,
    epochs=None,
    lr=None,
    batch_size=None,
    max_length=None,
    seed: int = 42,
    precision: str | None = None,
    time_limit: float | None = None,
    force: bool = False,
    quantize: bool = False,
    resume: bool = True,
    embedding_member: bool | None = None,
    on_progress: Callable[[dict], None] | None = None,
) -> list[FinetuneResult]:
    """Train the plugin's models (see the module docstring); then, when the whole plugin was trained
    from its bundled data, ingest its knowledge sources.

    ``time_limit`` bounds the whole command in seconds (default: the plugin's ``finetune_time_limit_s``
    when it trains everything from its bundled data; 0 lifts every limit, the specs' own included):
    each model's training loop gets what is left of it, less ``TIME_LIMIT_RESERVE``. ``embedding_member``
    (None: each spec's own setting) applies to the single-text classifiers only."""
    started = time.monotonic()
    data = Path(data).expanduser() if data is not None else None
    specs = select_specs(plugin, model, data)
    base = resolve_base_model(base_model, settings)
    registry = ModelRegistry(settings.models_dir)
    if time_limit is None and model is None and data is None:
        time_limit = plugin.finetune_time_limit_s
    if time_limit is not None and time_limit < 0:
        raise AssistantError(f"--time-limit {time_limit:g} is negative: give a number of seconds, or 0 for no limit.")
    overrides = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "max_length": max_length, "seed": seed,
                 "precision": precision, "time_limit_s": 0 if time_limit == 0 else None}
    configs = [
        build_config(spec.name, spec.task, spec.defaults,
                     {**overrides, "embedding_member": embedding_member if spec.task == "sequence-classification" else None})
        for spec in specs
    ]
    for spec in specs:  # every declaration is checked before any training time is spent
        check_primary_metric(spec.name, spec.task, spec.primary_metric)
    results = []
    for spec, config in zip(specs, configs):
        if time_limit:
            left = max(time_limit * (1 - TIME_LIMIT_RESERVE) - (time.monotonic() - started), 1e-3)  # at least a step
            config = replace(config, time_limit_s=round(min(config.time_limit_s or left, left), 3))
        with quiet_transformers():
            results.append(
                finetune_spec(plugin.name, spec, data or Path(spec.data), base, config, registry,
                              force=force, quantize=quantize, resume=resume, on_progress=on_progress)
            )
    if model is None and data is None:
        ingest_knowledge(plugin, settings, on_progress)
    return results


def finetune_spec(
    plugin: str,
    spec: ModelSpec,
    data: Path,
    base_model: str,
    config: TrainConfig,
    registry: ModelRegistry,
    *,
    force: bool = False,
    quantize: bool = False,
    resume: bool = True,
    on_progress: Callable[[dict], None] | None = None,
) -> FinetuneResult:
    """Train one model into a new version and gate it (see the module docstring)."""
    started = time.perf_counter()
    data = Path(data)
    data_info = {"path": str(data), "sha256": file_sha256(data) if data.is_file() else None}
    if spec.task == "extractive-qa":
        train, validation = split_squad(load_squad(data), config.validation_fraction, config.seed, str(data), config.qa_holdout)
    else:
        examples = load_labelled_texts(data, pairs=spec.task == "pair-classification")
        train, validation = split_labelled(examples, config.validation_fraction, config.seed, config.out_of_scope_label, str(data))
    # The time limit is left out: what remains of a command's limit differs when an interrupted run is resumed.
    run_dir = registry.root / plugin / spec.name / "runs" / runner.run_key(
        {"task": spec.task, "base": base_model, "data": data_info["sha256"], "config": config.as_dict() | {"time_limit_s": None}}
    )
    runner.emit(on_progress, spec.name, "train", 0, 0, f"{len(train)} training / {len(validation)} validation examples")
    if spec.task == "extractive-qa":
        from assistant.training.qa import train_extractor

        trained = train_extractor(
            train, validation, plugin=plugin, model_name=spec.name, base_model=base_model, config=config,
            primary_metric=spec.primary_metric, run_dir=run_dir, resume=resume, on_progress=on_progress,
        )
    else:
        from assistant.training.classification import train_classifier

        trained = train_classifier(
            train, validation, plugin=plugin, model_name=spec.name, task=spec.task, base_model=base_model, config=config,
            primary_metric=spec.primary_metric, run_dir=run_dir, resume=resume, on_progress=on_progress,
        )
    trained.manifest.training["data"] = data_info
    trained.manifest.training["wall_time_s"] = round(time.perf_counter() - started, 1)
    version = write_version(registry, trained.predictor, trained.manifest, trained.report, data_info)
    extra: list[str] = []
    quantization = None
    candidate = version
    if quantize:
        runner.emit(on_progress, spec.name, "evaluate", 0, 1, "quantizing to int8 and measuring accuracy and speed")
        candidate, quantization = write_quantized(registry, trained.predictor, validation, config, version, data_info)
        extra.append(version.version)
    activated, reason = gate(registry, candidate, force)
    shutil.rmtree(run_dir, ignore_errors=True)  # the version is safely written; checkpoints are no longer needed
    manifest = candidate.manifest()
    return FinetuneResult(
        plugin=plugin,
        model=spec.name,
        task=spec.task,
        version=candidate.version,
        activated=activated,
        reason=reason,
        metrics=manifest.metrics,
        primary_metric=spec.primary_metric,
        wall_time_s=round(time.perf_counter() - started, 1),
        path=candidate.path,
        resumed_from_step=trained.manifest.training.get("resumed_from_step"),
        quantization=quantization,
        extra_versions=extra,
    )


def write_version(registry: ModelRegistry, predictor, manifest: Manifest, report: dict, data_info: dict) -> ModelVersion:
    """Write weights, manifest and card into a staging folder and commit it; staging is removed on failure."""
    staging = registry.new_version_dir(manifest.plugin, manifest.model)
    try:
        predictor.save_weights(staging)
        manifest.save(staging)
        write_model_card(staging, manifest, report, data_info)
        return registry.commit(manifest.plugin, manifest.model, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_quantized(registry: ModelRegistry, predictor, validation: list, config: TrainConfig, full: ModelVersion, data_info: dict):
    """Quantize, score on the same validation split, time both models, write the int8 version."""
    quantized = predictor.quantized()
    full_metrics = predictor.manifest.metrics
    metric = predictor.manifest.primary_metric
    if predictor.manifest.task == "extractive-qa":
        report = evaluate_extractor(quantized, validation)
        sample = validation[:SPEED_SAMPLE]
        inputs = list(range(len(sample)))

        def timed(model):
            return lambda idx: model.answer_each([sample[i].question for i in idx], [sample[i].context for i in idx])
    else:
        report = evaluate_classifier(quantized, validation, config.out_of_scope_label)
        texts = [e.text for e in validation[:SPEED_SAMPLE]]
        inputs = texts

        def timed(model):
            return lambda batch: model.predict(batch)
    predictor.model.to("cpu")
    full_ms, int8_ms = compare_speed(timed(predictor), timed(quantized), inputs)
    summary = {
        "full_version": full.version,
        "metric": metric,
        "metric_change": float(report.get(metric, 0.0) - full_metrics.get(metric, 0.0)),
        "full_ms_per_text": full_ms,
        "int8_ms_per_text": int8_ms,
        "speedup": full_ms / int8_ms if int8_ms > 0 else float("nan"),
    }
    report["calibration"] = {"rule": f"temperature and threshold inherited from {full.version}"}
    quantized.manifest = replace(
        quantized.manifest,
        metrics=scalar_metrics(report),
        training={**predictor.manifest.training, "quantized_from": full.version, "quantization": summary},
    )
    return write_version(registry, quantized, quantized.manifest, report, data_info), summary


def gate(registry: ModelRegistry, version: ModelVersion, force: bool) -> tuple[bool, str]:
    """Activate ``version`` unless its primary metric is worse than the active version's (``force`` overrides)."""
    new = version.manifest()
    try:
        active = registry.active(version.plugin, version.model)
        current = active.manifest()
    except ModelNotFoundError:
        registry.activate(version.plugin, version.model, version.version)
        return True, "first version of this model"
    except ModelCorruptedError as exc:
        registry.activate(version.plugin, version.model, version.version)
        return True, f"replaced a broken active version ({exc})"
    old = current.primary_score if current.primary_metric == new.primary_metric else None
    score = new.primary_score
    if old is None or score is None or score >= old:
        registry.activate(version.plugin, version.model, version.version)
        detail = f"{new.primary_metric} {score:.4f} >= {old:.4f} of {active.version}" if old is not None and score is not None else "no comparable metric on the active version"
        return True, detail
    refusal = VersionGateError(version.plugin, version.model, new.primary_metric, score, old)
    if force:
        registry.activate(version.plugin, version.model, version.version)
        return True, f"activated by --force although {new.primary_metric} {score:.4f} < {old:.4f} of {active.version}"
    return False, str(refusal)


def ingest_knowledge(plugin: Plugin, settings, on_progress: Callable[[dict], None] | None) -> None:
    """Put the plugin's documents (``knowledge_sources()``) into its knowledge store."""
    sources = [Path(p) for p in plugin.knowledge_sources()]
    if not sources:
        return
    import knowledge

    store = knowledge.open_store(settings.stores_dir / plugin.name)
    for number, path in enumerate(sources, start=1):
        runner.emit(on_progress, "knowledge", "ingest", number - 1, len(sources), f"ingesting {path}")
        summary = knowledge.ingest_path(store, path, plugin=plugin.name, show_progress=on_progress is None)
        message = (
            f"{path.name}: {summary.added} files added, {summary.replaced} replaced, {summary.skipped} unchanged, "
            f"{summary.chunks} passages written" + (f"; skipped with errors: {'; '.join(summary.errors)}" if summary.errors else "")
        )
        runner.emit(on_progress, "knowledge", "ingest", number, len(sources), message)
