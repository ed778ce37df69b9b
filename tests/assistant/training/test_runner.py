"""The shared Trainer setup: evaluation must hand predictions to the metrics in dataset order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding

from assistant.training import runner
from assistant.training.classification import FeatureDataset
from assistant.training.config import TrainConfig


def test_evaluation_predictions_come_in_dataset_order_despite_length_grouping(tiny_bert_path, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_path)
    model = AutoModelForQuestionAnswering.from_pretrained(tiny_bert_path).eval()
    # Lengths that length grouping would reorder: short and long texts interleaved.
    texts = [("word " * (3 + (i * 7) % 40)).strip() for i in range(24)]
    rows = [dict(tokenizer(text), start_positions=0, end_positions=0) for text in texts]
    config = TrainConfig(epochs=1, lr=1e-4, batch_size=4, max_length=64, group_by_length=True, precision="fp32")
    trainer = runner.Trainer(
        model=model,
        args=runner.training_arguments(
            config, tmp_path / "run", "f1", label_names=["start_positions", "end_positions"], logging_steps=1
        ),
        eval_dataset=FeatureDataset(rows),
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
    )
    start_logits = trainer.predict(FeatureDataset(rows)).predictions[0]
    with torch.inference_mode():
        for i, row in enumerate(rows):
            ids = torch.tensor([row["input_ids"]])
            expected = model(input_ids=ids, token_type_ids=torch.tensor([row["token_type_ids"]])).start_logits[0].numpy()
            np.testing.assert_allclose(start_logits[i, : len(expected)], expected, atol=1e-4)


def test_auto_precision_takes_bf16_only_where_it_runs_natively():
    assert runner.uses_bf16(TrainConfig(epochs=1, lr=1e-4, batch_size=4, max_length=16, precision="auto")) == runner.native_bf16()
    assert not runner.uses_bf16(TrainConfig(epochs=1, lr=1e-4, batch_size=4, max_length=16, precision="fp32"))
    assert runner.uses_bf16(TrainConfig(epochs=1, lr=1e-4, batch_size=4, max_length=16, precision="bf16"))


def test_head_lr_multiplier_gives_only_the_new_head_a_larger_scheduled_learning_rate(tiny_bert_path, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_path)
    model = AutoModelForQuestionAnswering.from_pretrained(tiny_bert_path)
    rows = [dict(tokenizer("a few words here"), start_positions=1, end_positions=2) for _ in range(8)]
    config = TrainConfig(epochs=1, lr=1e-4, batch_size=4, max_length=16, head_lr_multiplier=20.0, warmup_ratio=0.0)
    trainer = runner.Trainer(
        model=model,
        args=runner.training_arguments(
            config, tmp_path / "run", "f1", label_names=["start_positions", "end_positions"], logging_steps=1
        ),
        train_dataset=FeatureDataset(rows),
        eval_dataset=FeatureDataset(rows),
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        head_lr_multiplier=config.head_lr_multiplier,
    )
    trainer.create_optimizer_and_scheduler(num_training_steps=2)
    head = {id(p) for p in model.qa_outputs.parameters()}
    rates = {}
    for group in trainer.optimizer.param_groups:
        for p in group["params"]:
            rates[id(p)] = group["lr"]
    assert len(rates) == sum(1 for p in model.parameters() if p.requires_grad)  # every parameter is trained once
    assert [rates[i] for i in head] == pytest.approx([2e-3] * len(head))
    body = [rate for i, rate in rates.items() if i not in head]
    assert body == pytest.approx([1e-4] * len(body))
    trainer.lr_scheduler.step()
    assert max(g["lr"] for g in trainer.optimizer.param_groups) < 2e-3  # the schedule decays the head's rate too
