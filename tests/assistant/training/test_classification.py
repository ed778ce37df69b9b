from __future__ import annotations

from transformers import TrainerCallback

from assistant.training.classification import train_classifier
from assistant.training.config import build_config
from assistant.training.data import LabelledText

from .tiny import intent_rows


class EvaluationLog(TrainerCallback):
    def __init__(self):
        self.seen: list[tuple[float, float]] = []

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.seen.append((state.epoch, metrics["eval_accuracy"]))


def test_extra_callbacks_see_every_epochs_evaluation(tiny_bert_path, tmp_path):
    rows = [LabelledText(text, label) for text, label in intent_rows()]
    config = build_config("intent", "sequence-classification", {"patience": 0}, {"epochs": 2, "batch_size": 16, "max_length": 16})
    log = EvaluationLog()
    trained = train_classifier(
        rows[:96], rows[96:], plugin="tiny", model_name="intent", task="sequence-classification", base_model=tiny_bert_path,
        config=config, primary_metric="accuracy", run_dir=tmp_path / "run", resume=False, extra_callbacks=[log],
    )
    assert [round(epoch) for epoch, _ in log.seen] == [1, 2]
    assert trained.manifest.training["epochs_run"] == 2
    assert all(0.0 <= accuracy <= 1.0 for _, accuracy in log.seen)
