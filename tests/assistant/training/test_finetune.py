"""Real (tiny) fine-tuning runs: loadable versions, calibration, gating, resuming, quantization, data errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from assistant.contract import ModelSpec
from assistant.errors import AssistantError, DataFormatError, TrainingSettingError
from assistant.models.classifier import TextClassifier, average_members, softmax
from assistant.models.qa import AnswerExtractor
from assistant.models.registry import ModelRegistry
from assistant.training import finetune_plugin
from assistant.training.data import load_squad
from assistant.training.evaluation import evaluate_extractor
from tests.assistant.training.tiny import FAST, FAST_QA, TEMPLATES, intent_rows, make_plugin, write_intents_csv, write_squad


def specs_in(folder: Path) -> list[ModelSpec]:
    return [
        ModelSpec("intent", "sequence-classification", write_intents_csv(folder / "intents.csv"), defaults=dict(FAST)),
        ModelSpec("answers", "extractive-qa", write_squad(folder / "qa.json"), primary_metric="f1",
                  defaults={**FAST_QA, "known_answers": True}),
    ]


@pytest.fixture(scope="module")
def quantized_run(tmp_path_factory, tiny_bert_path):
    """Both tiny models trained once with --quantize; the tests below inspect what it wrote."""
    root = tmp_path_factory.mktemp("finetune")
    settings = Settings(data_dir=root / "data")
    plugin = make_plugin(settings, specs_in(root))
    events: list[dict] = []
    results = finetune_plugin(plugin, settings, base_model=tiny_bert_path, quantize=True, on_progress=events.append)
    return settings, plugin, results, events


def test_run_writes_full_and_int8_versions_and_activates_the_int8_one(quantized_run):
    settings, _, results, _ = quantized_run
    registry = ModelRegistry(settings.models_dir)
    assert [(r.model, r.version, r.extra_versions, r.activated) for r in results] == [
        ("intent", "v0002", ["v0001"], True),
        ("answers", "v0002", ["v0001"], True),
    ]
    for result in results:
        assert registry.active_name("tiny", result.model) == "v0002"
        full, int8 = (v.manifest() for v in registry.versions("tiny", result.model))
        assert not full.quantized and int8.quantized and int8.training["quantized_from"] == "v0001"
        q = result.quantization
        assert q["full_version"] == "v0001" and q["full_ms_per_text"] > 0 and q["int8_ms_per_text"] > 0
        assert q["speedup"] == pytest.approx(q["full_ms_per_text"] / q["int8_ms_per_text"])
        assert q["metric_change"] == pytest.approx(int8.metrics[result.primary_metric] - full.metrics[result.primary_metric])
        for version in registry.versions("tiny", result.model):
            card = (version.path / "README.md").read_text()
            assert "## Calibration" in card and "processing_class" in card
            assert json.loads((version.path / "evaluation.json").read_text())["examples"] > 0
        assert not (settings.models_dir / "tiny" / result.model / "runs").exists() or not any(
            (settings.models_dir / "tiny" / result.model / "runs").iterdir()
        )


def test_classifier_versions_load_predict_and_use_their_calibration(quantized_run):
    settings, _, results, _ = quantized_run
    registry = ModelRegistry(settings.models_dir)
    texts = [text for text, _ in intent_rows()[:40]]
    gold = [label for _, label in intent_rows()[:40]]
    predictions = {}
    for version in registry.versions("tiny", "intent"):
        classifier = TextClassifier.load(version.path)
        calibration = classifier.manifest.calibration
        assert set(calibration) == {"temperature", "abstain_threshold"} and calibration["temperature"] > 0
        found = classifier.predict(texts)
        expected = softmax(classifier.logits(texts), calibration["temperature"])
        assert [p.confidence for p in found] == pytest.approx(expected.max(axis=1).tolist(), abs=1e-5)
        assert [p.abstain for p in found] == [p.confidence < calibration["abstain_threshold"] for p in found]
        assert classifier.labels == sorted(TEMPLATES)
        predictions[version.version] = [p.label for p in found]
    assert np.mean([p == g for p, g in zip(predictions["v0001"], gold)]) > 0.6  # chance is 1/3
    assert np.mean([a == b for a, b in zip(predictions["v0001"], predictions["v0002"])]) > 0.8
    assert "mean pooling" in (registry.versions("tiny", "intent")[0].path / "README.md").read_text()


def test_answer_extractor_versions_load_and_extract_valid_spans(quantized_run, tmp_path):
    settings, _, _, _ = quantized_run
    registry = ModelRegistry(settings.models_dir)
    examples = load_squad(write_squad(tmp_path / "qa.json"))
    for version in registry.versions("tiny", "answers"):
        extractor = AnswerExtractor.load(version.path)
        assert extractor.manifest.calibration["temperature"] > 0
        assert {"exact_match", "f1"} <= set(extractor.manifest.metrics)
        passages = [e.context for e in examples[:4]]
        spans = extractor.extract(examples[0].question, passages, top_k=3)
        assert len(spans) <= 3
        for span in spans:
            assert span.text == passages[span.passage_index][span.start : span.end]
            assert 0 <= span.score <= 1


def test_reader_versions_keep_their_training_questions_as_known_answers(quantized_run):
    from knowledge.embedding import BUNDLED_MODEL, Embedder

    settings, _, _, _ = quantized_run
    embedder = Embedder(BUNDLED_MODEL)
    for version in ModelRegistry(settings.models_dir).versions("tiny", "answers"):  # full and int8
        extractor = AnswerExtractor.load(version.path)
        known, training = extractor.known_answers, extractor.manifest.training
        assert known is not None and known.embedding_model == BUNDLED_MODEL
        assert len(known) == training["known_answer_questions"] == training["train_examples"]
        # the same question with other numbers is asked on other copies: "3 days" agrees in part with "10 days"
        question, answer = known.questions[0], known.answers[0][0]
        agreement = known.agreement(question, [answer, "the original card"], embedder)
        assert agreement[0] > 1.0 and agreement[1] == 0.0
        assert "| known_answers | True |" in (version.path / "README.md").read_text()


def test_extractor_scores_its_best_match_among_several_answers_and_the_first_answer_apart(quantized_run, tmp_path):
    settings, _, _, _ = quantized_run
    extractor = AnswerExtractor.load(ModelRegistry(settings.models_dir).versions("tiny", "answers")[0].path)
    examples = load_squad(write_squad(tmp_path / "qa.json"))[:8]
    single = evaluate_extractor(extractor, examples)
    assert "f1_first_answer" not in single
    predicted = extractor.answer_each([e.question for e in examples], [e.context for e in examples], allow_no_answer=False)
    # a second reference equal to each prediction: SQuAD scoring takes the best match, the first-answer score stays
    widened = [replace(e, answers=[*e.answers, {"text": a.text, "answer_start": a.start}]) for e, a in zip(examples, predicted)]
    several = evaluate_extractor(extractor, widened)
    assert several["exact_match"] == several["f1"] == 1.0
    assert several["f1_first_answer"] == pytest.approx(single["f1"])
    assert several["exact_match_first_answer"] == pytest.approx(single["exact_match"])


def test_progress_events_cover_every_stage(quantized_run):
    _, _, _, events = quantized_run
    assert {(e["model"], e["stage"]) for e in events} >= {
        ("intent", "train"), ("intent", "evaluate"), ("intent", "calibrate"), ("answers", "train"), ("answers", "calibrate")
    }
    steps = [e for e in events if e["model"] == "intent" and e["stage"] == "train" and e["total"]]
    assert steps[-1]["step"] == steps[-1]["total"] == 12
    assert all(isinstance(e["message"], str) for e in events)


def test_gate_refuses_a_worse_version_and_force_activates_it(settings, tiny_bert_path, tmp_path):
    plugin = make_plugin(settings, specs_in(tmp_path))
    registry = ModelRegistry(settings.models_dir)
    (first,) = finetune_plugin(plugin, settings, model="intent", base_model=tiny_bert_path)
    assert first.activated and first.reason == "first version of this model"
    # --data with a text,label file and no --model trains only the classification spec
    (worse,) = finetune_plugin(plugin, settings, data=tmp_path / "intents.csv", base_model=tiny_bert_path, lr=1e-7, epochs=1)
    assert worse.model == "intent" and worse.version == "v0002"
    assert worse.metrics["accuracy"] < first.metrics["accuracy"]
    assert not worse.activated and "worse than the active version" in worse.reason and "--force" in worse.reason
    assert registry.active_name("tiny", "intent") == "v0001"
    (forced,) = finetune_plugin(plugin, settings, model="intent", base_model=tiny_bert_path, lr=1e-7, epochs=1, force=True)
    assert forced.activated and "--force" in forced.reason
    assert registry.active_name("tiny", "intent") == "v0003"
    assert [v.version for v in registry.versions("tiny", "answers")] == []


def test_label_smoothing_trains_a_loadable_classifier(settings, tiny_bert_path, tmp_path):
    spec = ModelSpec("intent", "sequence-classification", write_intents_csv(tmp_path / "intents.csv"),
                     defaults={**FAST, "label_smoothing": 0.1})
    (result,) = finetune_plugin(make_plugin(settings, [spec]), settings, base_model=tiny_bert_path)
    classifier = TextClassifier.load(ModelRegistry(settings.models_dir).active("tiny", "intent").path)
    assert classifier.manifest.training["label_smoothing"] == 0.1
    assert result.metrics["accuracy"] > 0.5  # chance is 1/3


def test_an_embedding_member_is_saved_with_the_version_and_averaged_into_its_probabilities(settings, tiny_bert_path, tmp_path):
    spec = ModelSpec("intent", "sequence-classification", write_intents_csv(tmp_path / "intents.csv"), defaults=dict(FAST))
    finetune_plugin(make_plugin(settings, [spec]), settings, base_model=tiny_bert_path, embedding_member=True, quantize=True)
    texts = [text for text, _ in intent_rows()]
    for version in ModelRegistry(settings.models_dir).versions("tiny", "intent"):
        classifier = TextClassifier.load(version.path)
        assert (version.path / "embedding_member" / "logistic_regression.safetensors").is_file()
        assert classifier.member is not None and classifier.manifest.training["embedding_member_C"] > 0
        fine_tuned = softmax(classifier.logits(texts), classifier.temperature)
        member = classifier.member.probabilities(texts)
        assert member.shape == fine_tuned.shape and np.allclose(member.sum(axis=1), 1)
        assert not np.allclose(member, fine_tuned, atol=0.01)
        found = classifier.predict(texts)
        ensemble = average_members(fine_tuned, member, classifier.manifest.calibration["ensemble_temperature"])
        assert [p.confidence for p in found] == pytest.approx(ensemble.max(axis=1).tolist(), abs=1e-5)
        assert "embedding_member" in (version.path / "README.md").read_text()
    full, int8 = (TextClassifier.load(v.path) for v in ModelRegistry(settings.models_dir).versions("tiny", "intent"))
    assert not full.manifest.quantized and int8.manifest.quantized
    assert np.mean(full.member.probabilities(texts).argmax(1) == int8.member.probabilities(texts).argmax(1)) > 0.9


def test_the_embedding_member_is_refused_for_pairs_and_ignored_by_the_extractor(settings, tiny_bert_path, tmp_path):
    pairs = ModelSpec("fit", "pair-classification", write_intents_csv(tmp_path / "pairs.csv"), defaults={**FAST, "embedding_member": True})
    with pytest.raises(TrainingSettingError, match="embedding_member.*sequence-classification only"):
        finetune_plugin(make_plugin(settings, [pairs]), settings, base_model=tiny_bert_path)
    (answers,) = finetune_plugin(make_plugin(settings, specs_in(tmp_path)), settings, model="answers", base_model=tiny_bert_path,
                                 embedding_member=True)
    assert not (answers.path / "embedding_member").exists()


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_either_precision_trains_a_loadable_full_precision_model(settings, tiny_bert_path, tmp_path, precision):
    import torch

    spec = ModelSpec("intent", "sequence-classification", write_intents_csv(tmp_path / "intents.csv"), defaults=dict(FAST))
    # --quantize: the int8 copy is made from the model still in memory, which must have left autocast behind.
    (result,) = finetune_plugin(make_plugin(settings, [spec]), settings, base_model=tiny_bert_path, precision=precision, quantize=True)
    full, int8 = ModelRegistry(settings.models_dir).versions("tiny", "intent")
    classifier = TextClassifier.load(full.path)
    assert classifier.manifest.training["mixed_precision"] == precision
    assert f"| mixed_precision | {precision} |" in (full.path / "README.md").read_text()  # the model card says so
    assert {p.dtype for p in classifier.model.parameters()} == {torch.float32}  # bf16 is autocast, weights stay fp32
    assert classifier.manifest.metrics["accuracy"] > 0.5  # chance is 1/3
    assert result.quantization["metric_change"] == pytest.approx(
        TextClassifier.load(int8.path).manifest.metrics["accuracy"] - classifier.manifest.metrics["accuracy"])


class Interrupt(Exception):
    pass


def interrupt_after(step: int):
    def on_progress(event: dict) -> None:
        if event["stage"] == "train" and event["step"] >= step:
            raise Interrupt

    return on_progress


def test_interrupted_run_resumes_from_its_last_checkpoint(settings, tiny_bert_path, tmp_path):
    plugin = make_plugin(settings, specs_in(tmp_path))
    registry = ModelRegistry(settings.models_dir)
    with pytest.raises(Interrupt):  # 6 steps per epoch: the epoch-1 checkpoint exists when step 8 ends
        finetune_plugin(plugin, settings, model="intent", base_model=tiny_bert_path, on_progress=interrupt_after(8))
    runs = settings.models_dir / "tiny" / "intent" / "runs"
    (run,) = runs.iterdir()
    assert (run / "checkpoint-6").is_dir()
    assert registry.versions("tiny", "intent") == [] and not list((runs.parent / "versions").glob(".incoming-*"))

    seen: list[dict] = []
    (result,) = finetune_plugin(plugin, settings, model="intent", base_model=tiny_bert_path, on_progress=seen.append)
    assert result.resumed_from_step == 6
    trained = [e["step"] for e in seen if e["stage"] == "train" and e["total"]]
    assert trained[0] == 6 and trained[1] == 7 and trained[-1] == 12  # starts where the checkpoint left off
    assert registry.active(plugin.name, "intent").manifest().training["resumed_from_step"] == 6
    assert not run.exists()


def test_no_resume_starts_over(settings, tiny_bert_path, tmp_path):
    plugin = make_plugin(settings, specs_in(tmp_path))
    with pytest.raises(Interrupt):
        finetune_plugin(plugin, settings, model="intent", base_model=tiny_bert_path, epochs=1.5, on_progress=interrupt_after(7))
    seen: list[dict] = []
    (result,) = finetune_plugin(plugin, settings, model="intent", base_model=tiny_bert_path, epochs=1.5, resume=False, on_progress=seen.append)
    assert result.resumed_from_step is None
    assert [e["step"] for e in seen if e["stage"] == "train" and e["total"]][:2] == [0, 1]


def test_malformed_data_is_rejected_before_training_with_file_and_line(settings, tiny_bert_path, tmp_path):
    plugin = make_plugin(settings, specs_in(tmp_path))
    bad = tmp_path / "bad.csv"
    bad.write_text("text,category\nwhere is my card,card_arrival\nrate today,exchange_rate,extra\n")
    with pytest.raises(DataFormatError) as caught:
        finetune_plugin(plugin, settings, data=bad, base_model=tiny_bert_path)
    assert f"{bad}, line 3" in str(caught.value) and "expected 2 fields" in str(caught.value)
    assert not (settings.models_dir / "tiny").exists()
    with pytest.raises(DataFormatError, match="format is for sequence-classification, but model 'answers' is extractive-qa"):
        finetune_plugin(plugin, settings, data=tmp_path / "intents.csv", model="answers", base_model=tiny_bert_path)


def test_impossible_settings_are_refused_with_a_fix(settings, tiny_bert_path, tmp_path):
    specs = specs_in(tmp_path)
    specs[0].defaults["learning_rate"] = 0.1
    with pytest.raises(TrainingSettingError, match="unknown training default.*learning_rate"):
        finetune_plugin(make_plugin(settings, specs), settings, model="intent", base_model=tiny_bert_path)
    specs = specs_in(tmp_path)
    specs[1].primary_metric = "accuracy"
    with pytest.raises(TrainingSettingError, match="primary_metric 'accuracy' is not computed for extractive-qa"):
        finetune_plugin(make_plugin(settings, specs), settings, model="answers", base_model=tiny_bert_path)
    with pytest.raises(TrainingSettingError, match="epochs"):
        finetune_plugin(make_plugin(settings, specs_in(tmp_path)), settings, model="intent", base_model=tiny_bert_path, epochs=0)
    for name, value in (("head_lr_multiplier", 0), ("qa_holdout", "pages"), ("min_in_scope_accuracy", 1.5), ("precision", "fp16"),
                        ("attention_dropout", 1.0), ("min_out_of_scope_recall", 0), ("freeze_layers", -1), ("hidden_dropout", 1.0),
                        ("no_answer_passages", 1.5), ("time_limit_s", -5),
                        ("freeze_layers", 2)):  # the tiny BERT has 2 layers: freezing both would train nothing
        specs = specs_in(tmp_path)
        specs[1].defaults[name] = value
        with pytest.raises(TrainingSettingError, match=name):
            finetune_plugin(make_plugin(settings, specs), settings, model="answers", base_model=tiny_bert_path)
    specs = specs_in(tmp_path)
    specs[0].defaults["no_answer_passages"] = 0.25
    with pytest.raises(TrainingSettingError, match="no_answer_passages.*extractive-qa only"):
        finetune_plugin(make_plugin(settings, specs), settings, model="intent", base_model=tiny_bert_path)
    specs = specs_in(tmp_path)
    specs[0].defaults.update(min_in_scope_accuracy=0.96, min_out_of_scope_recall=0.8)
    with pytest.raises(TrainingSettingError, match="min_out_of_scope_recall.*only one of the two"):
        finetune_plugin(make_plugin(settings, specs), settings, model="intent", base_model=tiny_bert_path)


@pytest.mark.parametrize("which", [0, 1], ids=["classifier", "extractor"])  # index into specs_in()
def test_frozen_lowest_layers_keep_the_base_weights_while_the_rest_trains(settings, tiny_bert_path, tmp_path, which):
    import torch
    from transformers import AutoModel

    specs = specs_in(tmp_path)
    specs[which].defaults["freeze_layers"] = 1
    finetune_plugin(make_plugin(settings, specs), settings, model=specs[which].name, base_model=tiny_bert_path)
    version = ModelRegistry(settings.models_dir).active("tiny", specs[which].name)
    loaded = (AnswerExtractor if which else TextClassifier).load(version.path).model
    prefix = "bert." if which else "encoder."  # where each model keeps the base model's weights
    trained = {name.removeprefix(prefix): p for name, p in loaded.state_dict().items() if name.startswith(prefix)}
    base = AutoModel.from_pretrained(tiny_bert_path).state_dict()

    def same(prefix: str) -> bool:
        names = [n for n in base if n.startswith(prefix)]
        assert names, prefix
        return all(torch.equal(base[n], trained[n]) for n in names)

    assert same("embeddings.") and same("encoder.layer.0.")
    assert not same("encoder.layer.1.")
    assert version.manifest().training["freeze_layers"] == 1


def test_no_answer_passages_are_added_to_the_readers_training_windows(settings, tiny_bert_path, tmp_path):
    registry = ModelRegistry(settings.models_dir)
    windows = {}
    for share in (0.0, 0.5):
        specs = specs_in(tmp_path)
        specs[1].defaults.update(no_answer_passages=share, epochs=1)
        finetune_plugin(make_plugin(settings, specs), settings, model="answers", base_model=tiny_bert_path, force=True)
        training = registry.active("tiny", "answers").manifest().training
        windows[share] = training["train_windows"]
        # every tiny page has a twin with other numbers, so each drawn question finds a negative
        assert training["no_answer_passages"] == share
        assert training["no_answer_examples"] == round(share * training["train_examples"])
    assert windows[0.5] > windows[0.0]


def test_a_time_limit_too_short_for_the_schedule_trains_fewer_epochs_and_keeps_the_last(settings, tiny_bert_path, tmp_path):
    import math

    spec = ModelSpec("intent", "sequence-classification", write_intents_csv(tmp_path / "intents.csv"),
                     defaults={**FAST, "epochs": 3, "time_limit_s": 1e-4})
    events: list[dict] = []
    (result,) = finetune_plugin(make_plugin(settings, [spec]), settings, base_model=tiny_bert_path, on_progress=events.append)
    training = result.path.joinpath("manifest.json").read_text()
    training = json.loads(training)["training"]
    plan = training["time_plan"]
    assert plan["time_limit_s"] == 1e-4 and plan["seconds_per_step"] > 0 and plan["estimated_s"] > 1e-4
    assert plan["epochs"] < 3 and training["epochs"] == 3  # the spec's schedule is kept beside the plan
    assert training["steps"] == math.ceil(plan["epochs"] * 6) < 3 * 6  # 6 steps per epoch
    assert training["best_step"] == training["steps"]  # the cut last epoch was evaluated and kept
    assert any("time limit" in e["message"] and "training" in e["message"] for e in events)
    assert "Shortened to fit time_limit_s=0.0001" in (result.path / "README.md").read_text()
    TextClassifier.load(result.path).predict(["where is my card"])


def test_a_run_slower_than_timed_stops_at_the_limit_and_keeps_its_last_step(settings, tiny_bert_path, tmp_path, monkeypatch):
    from assistant.training import runner

    monkeypatch.setattr(runner, "time_epoch", lambda trainer: (1e-9, 1e-9))  # a timing far too hopeful
    spec = ModelSpec("intent", "sequence-classification", write_intents_csv(tmp_path / "intents.csv"),
                     defaults={**FAST, "epochs": 3, "time_limit_s": 1e-3})
    (result,) = finetune_plugin(make_plugin(settings, [spec]), settings, base_model=tiny_bert_path)
    training = json.loads((result.path / "manifest.json").read_text())["training"]
    assert training["time_plan"]["epochs"] == 3  # the plan thought everything fitted
    assert training["steps"] == training["best_step"] == training["time_plan"]["stopped_at_step"] == 1
    assert [entry["step"] for entry in training["log_history"]] == [1]  # evaluated once, not again at the epoch's end
    assert "Stopped at step 1 to stay within time_limit_s=0.001" in (result.path / "README.md").read_text()
    TextClassifier.load(result.path).predict(["where is my card"])


def test_a_time_limited_reader_times_its_qa_steps_and_trains_fewer(settings, tiny_bert_path, tmp_path):
    import math

    specs = specs_in(tmp_path)
    specs[1].defaults.update(epochs=3, time_limit_s=1e-4)
    (result,) = finetune_plugin(make_plugin(settings, specs), settings, model="answers", base_model=tiny_bert_path)
    training = json.loads((result.path / "manifest.json").read_text())["training"]
    steps_per_epoch = math.ceil(training["train_windows"] / 8)
    assert training["time_plan"]["epochs"] < 3
    assert training["steps"] == math.ceil(training["time_plan"]["epochs"] * steps_per_epoch) < 3 * steps_per_epoch
    assert AnswerExtractor.load(result.path).extract("How long does standard shipping take?", ["Standard shipping takes 5 days."]) is not None


def test_a_time_plan_leaves_room_for_the_evaluation_at_each_epochs_end():
    from assistant.training.runner import epochs_within

    # epochs of 40 s, evaluations of 10 s: 2 whole epochs (and 2 evaluations) fit in 100 s
    assert epochs_within(100, 40, 10, epochs=3, least=0.01) == 2
    # in 75 s, going past one epoch adds a second evaluation: 1.37 * 40 + 2 * 10 <= 75 < 1.5 * 40 + 2 * 10
    assert epochs_within(75, 40, 10, epochs=3, least=0.01) == 1.37
    assert epochs_within(1000, 40, 10, epochs=3, least=0.01) == 3  # the full schedule when it fits
    assert epochs_within(5, 40, 10, epochs=3, least=0.01) == 0.01  # never nothing


def test_the_deadline_guard_counts_evaluations_against_the_limit_but_not_in_the_pace(monkeypatch):
    from transformers import TrainerControl, TrainerState

    from assistant.training import runner

    clock = [0.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    plan: dict = {}
    guard = runner.DeadlineGuard(limit_s=100, eval_s=10, plan=plan)
    state, control = TrainerState(global_step=0, max_steps=200), TrainerControl()
    guard.on_train_begin(None, state, control)
    for step in range(1, 200):  # steps of 1 s; epochs of 30 steps, the first one's evaluation takes 10 s
        clock[0] += 1
        state.global_step = step
        guard.on_step_end(None, state, control)
        if control.should_training_stop:
            break
        if step == 30:  # the Trainer asks for the evaluation at the epoch's end, after the step's callbacks
            control.should_evaluate = True
            guard.on_epoch_end(None, state, control)
            clock[0] += 10
            guard.on_evaluate(None, state, control)
            control.should_evaluate = False
    # 80 steps and the first evaluation take 90 s; one more step and the final evaluation would pass 100 s
    assert plan["stopped_at_step"] == 80 and control.should_evaluate and control.should_save


def test_a_time_limit_the_schedule_fits_in_trains_exactly_as_without_one(settings, tiny_bert_path, tmp_path):
    import torch

    registry = ModelRegistry(settings.models_dir)
    weights, plans = [], []
    for limit in (None, 3600):
        spec = ModelSpec("intent", "sequence-classification", write_intents_csv(tmp_path / "intents.csv"),
                         defaults={**FAST, "time_limit_s": limit})
        (result,) = finetune_plugin(make_plugin(settings, [spec]), settings, base_model=tiny_bert_path, force=True)
        plans.append(registry.active("tiny", "intent").manifest().training["time_plan"])
        weights.append(TextClassifier.load(result.path).model.state_dict())
    assert plans[0] is None and plans[1]["epochs"] == 2
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])  # timing changed nothing


def test_a_commands_time_limit_gives_each_model_what_is_left_of_it(settings, tiny_bert_path, tmp_path):
    from assistant.training.finetune import TIME_LIMIT_RESERVE

    plugin = make_plugin(settings, specs_in(tmp_path))
    plugin.finetune_time_limit_s = 1e5  # the plugin's own limit, for training all of it from its bundled data
    intent, answers = finetune_plugin(plugin, settings, base_model=tiny_bert_path)
    limits = [json.loads((r.path / "manifest.json").read_text())["training"]["time_limit_s"] for r in (intent, answers)]
    assert 1e5 * (1 - TIME_LIMIT_RESERVE) - intent.wall_time_s - 30 < limits[1] < limits[0] - intent.wall_time_s + 1
    assert limits[0] <= 1e5 * (1 - TIME_LIMIT_RESERVE)
    # The plugin's limit is for its bundled data: a model trained on the user's own file is not limited
    # unless the command says so.
    (own,) = finetune_plugin(plugin, settings, base_model=tiny_bert_path, data=tmp_path / "intents.csv", force=True)
    assert json.loads((own.path / "manifest.json").read_text())["training"]["time_plan"] is None
    (limited,) = finetune_plugin(plugin, settings, base_model=tiny_bert_path, data=tmp_path / "intents.csv", force=True,
                                 time_limit=1e-4)
    training = json.loads((limited.path / "manifest.json").read_text())["training"]
    assert training["time_limit_s"] == 1e-3 and training["steps"] == 1  # each model still trains a step


def test_a_negative_time_limit_is_refused(settings, tiny_bert_path, tmp_path):
    with pytest.raises(AssistantError, match="--time-limit -1 is negative"):
        finetune_plugin(make_plugin(settings, specs_in(tmp_path)), settings, base_model=tiny_bert_path, time_limit=-1)


def test_time_limit_zero_lifts_the_specs_limit(settings, tiny_bert_path, tmp_path):
    spec = ModelSpec("intent", "sequence-classification", write_intents_csv(tmp_path / "intents.csv"),
                     defaults={**FAST, "epochs": 1, "time_limit_s": 1e-4})
    (result,) = finetune_plugin(make_plugin(settings, [spec]), settings, base_model=tiny_bert_path, time_limit=0)
    training = json.loads((result.path / "manifest.json").read_text())["training"]
    assert training["time_limit_s"] is None and training["time_plan"] is None and training["steps"] == 6


def test_a_resumed_time_limited_run_keeps_the_plan_it_started_with(settings, tiny_bert_path, tmp_path):
    spec = ModelSpec("intent", "sequence-classification", write_intents_csv(tmp_path / "intents.csv"),
                     defaults={**FAST, "time_limit_s": 1e6})
    plugin = make_plugin(settings, [spec])
    with pytest.raises(Interrupt):
        finetune_plugin(plugin, settings, base_model=tiny_bert_path, on_progress=interrupt_after(8))
    (run,) = (settings.models_dir / "tiny" / "intent" / "runs").iterdir()
    saved = run / "time_plan.json"
    plan = json.loads(saved.read_text())
    assert plan["epochs"] == 2
    saved.write_text(json.dumps({**plan, "epochs": 1.5}))  # as if the first start had timed a slower machine
    (result,) = finetune_plugin(plugin, settings, base_model=tiny_bert_path)
    training = json.loads((result.path / "manifest.json").read_text())["training"]
    assert result.resumed_from_step == 6 and training["steps"] == 9 and training["time_plan"]["epochs"] == 1.5


def test_training_the_whole_plugin_ingests_its_knowledge_sources(settings, tiny_bert_path, tmp_path):
    import knowledge

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text("# Returns\n\nItems can be returned within 30 days of delivery for a full refund.\n")
    specs = specs_in(tmp_path)[:1]
    specs[0].defaults["epochs"] = 1
    plugin = make_plugin(settings, specs, sources=[docs])
    events: list[dict] = []
    finetune_plugin(plugin, settings, base_model=tiny_bert_path, on_progress=events.append)
    store = knowledge.open_store(settings.stores_dir / "tiny")
    assert store.count({"source": "returns.md"}) >= 1
    ingest = [e for e in events if e["stage"] == "ingest"]
    assert ingest[-1]["step"] == ingest[-1]["total"] == 1 and "1 files added" in ingest[-1]["message"]
    # training one model (or from --data) leaves the store alone
    (docs / "shipping.md").write_text("Standard shipping takes 5 business days.\n")
    finetune_plugin(plugin, settings, model="intent", base_model=tiny_bert_path)
    assert store.count({"source": "shipping.md"}) == 0


def test_eval_report_for_a_qa_file(quantized_run, tmp_path):
    from assistant.training.report import evaluate_active

    settings, plugin, _, _ = quantized_run
    outcome = evaluate_active(plugin, settings, write_squad(tmp_path / "qa.json"), out=tmp_path / "report")
    assert [p.name for p in outcome.files] == ["report.txt", "report.json"]  # no confusion matrix for QA
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["model"] == {**saved["model"], "model": "answers", "version": "v0002", "quantized": True}
    assert saved["examples"] == 18 and 0 <= saved["f1"] <= 1 and "exact match" in outcome.text
    assert "first answer only" not in outcome.text and "f1_first_answer" not in saved
    # a second reference (the whole passage) per question: the report also scores the first answer alone
    document = json.loads((tmp_path / "qa.json").read_text())
    for paragraph in document["data"][0]["paragraphs"]:
        paragraph["qas"][0]["answers"].append({"text": paragraph["context"], "answer_start": 0})
    (tmp_path / "two.json").write_text(json.dumps(document))
    widened = evaluate_active(plugin, settings, tmp_path / "two.json", out=tmp_path / "report-two")
    two = json.loads((tmp_path / "report-two" / "report.json").read_text())
    assert "first answer only" in widened.text
    assert two["f1_first_answer"] == pytest.approx(saved["f1"]) and two["f1"] >= two["f1_first_answer"]


def test_pair_classification_trains_and_predicts_on_pairs(settings, tiny_bert_path, tmp_path):
    answers = {"card_arrival": "Cards arrive within a week.", "exchange_rate": "Rates update daily.", "top_up": "Top up by bank transfer."}
    rows = [(text, answers[other], "relevant" if other == label else "irrelevant") for text, label in intent_rows() for other in answers]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"text": t, "text_pair": p, "label": lab}) + "\n" for t, p, lab in rows))
    spec = ModelSpec("ranker", "pair-classification", path, defaults={**FAST, "epochs": 1, "max_length": 32})
    (result,) = finetune_plugin(make_plugin(settings, [spec]), settings, base_model=tiny_bert_path)
    ranker = TextClassifier.load(result.path)
    assert ranker.labels == ["irrelevant", "relevant"] and ranker.manifest.task == "pair-classification"
    found = ranker.predict(["where is my card"] * 3, pairs=list(answers.values()))
    assert len(found) == 3 and all(p.label in ranker.labels for p in found)
    assert result.metrics["examples"] == len(rows) // 4
