"""Text (and text-pair) classification: the model trained by ``assistant finetune`` and its inference wrapper.

Pooling choice. all-MiniLM-L6-v2 was trained as a sentence encoder with *mean pooling*; its
BERT pooler (dense + tanh over [CLS]) is never reached by that objective: the file does hold
``pooler.dense`` weights, but they are untrained leftovers (the bias is all zeros), and stock
``AutoModelForSequenceClassification`` would feed the classifier through them. We therefore
drop the pooler and put a linear head over the attention-masked *mean* of the token states,
the same representation the model was pre-trained to produce, so fine-tuning starts from a
meaningful sentence vector. ``pooling="cls"`` (first token, no pooler) is kept as an option for
comparisons. A version folder stays an ordinary HF encoder folder (config.json, weights,
tokenizer) plus ``classification_head.safetensors``; the manifest says how to put them together.
A version trained with ``embedding_member`` also holds a frozen-embedding logistic regression whose
probabilities are averaged with the fine-tuned model's (see ``assistant.models.embedding_member``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F
from transformers.modeling_outputs import SequenceClassifierOutput

from assistant.errors import ModelCorruptedError
from assistant.models.base import CalibratedModel, batched_order, load_encoder, mean_pool, quiet_transformers, softmax
from assistant.models.embedding_member import EmbeddingMember
from assistant.models.quantization import load_quantized, quantize_int8, save_quantized
from assistant.models.registry import Manifest

CLASSIFICATION_TASKS = ("sequence-classification", "pair-classification")
HEAD_WEIGHTS = "classification_head.safetensors"
POOLINGS = ("mean", "cls")


class PooledTextClassifier(nn.Module):
    """Encoder + pooling + dropout + linear head; returns HF outputs so ``Trainer`` can train it."""

    def __init__(
        self, encoder: nn.Module, num_labels: int, pooling: str = "mean", dropout: float = 0.1, label_smoothing: float = 0.0
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling
        #: Applied in the loss here: Trainer's own label smoother needs a ``config`` this module does not have.
        self.label_smoothing = label_smoothing
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_labels)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return hidden[:, 0] if self.pooling == "cls" else mean_pool(hidden, attention_mask)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None) -> SequenceClassifierOutput:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**inputs).last_hidden_state
        logits = self.classifier(self.dropout(self.pool(hidden, attention_mask)))
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def save(self, folder: Path) -> None:
        """Write the encoder as a HF folder and the head beside it."""
        self.encoder.save_pretrained(folder)
        save_file({k: v.contiguous() for k, v in self.classifier.state_dict().items()}, str(Path(folder) / HEAD_WEIGHTS))

    @classmethod
    def from_folder(cls, folder: Path, num_labels: int, pooling: str, *, weights: bool = True) -> "PooledTextClassifier":
        model = cls(load_encoder(str(folder), weights=weights), num_labels, pooling)
        if weights:
            model.classifier.load_state_dict(load_file(str(Path(folder) / HEAD_WEIGHTS)))
        return model


@dataclass
class Prediction:
    label: str
    #: Temperature-scaled softmax probability of ``label`` (with an embedding member: see ``average_members``).
    confidence: float
    #: True when ``confidence`` is below the abstain threshold chosen on validation.
    abstain: bool
    probabilities: dict[str, float]


def average_members(fine_tuned: np.ndarray, member: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """The two models' mean probabilities, sharpened by the ensemble's own temperature.

    The mean of two calibrated models is under-confident (where they disagree it is flat), and the
    plugins' confidence thresholds assume calibrated confidences, so a second temperature, fitted on
    validation after averaging, divides the log of the mean."""
    return softmax(np.log(np.maximum((fine_tuned + member) / 2, 1e-12)), temperature)


class TextClassifier(CalibratedModel):
    """A saved classification version, ready to predict; build it with ``TextClassifier.load``."""

    default_max_length = 128

    @classmethod
    def load(cls, version_path) -> "TextClassifier":
        from transformers import AutoTokenizer

        path = Path(version_path)
        manifest = Manifest.load(path)
        if manifest.task not in CLASSIFICATION_TASKS:
            raise ModelCorruptedError(manifest.plugin, str(path), f"it holds a '{manifest.task}' model, not a classifier")
        if not manifest.labels:
            raise ModelCorruptedError(manifest.plugin, str(path), "its manifest lists no labels")
        pooling = manifest.training.get("pooling", "mean")
        try:
            with quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(str(path))
            if manifest.quantized:
                skeleton = PooledTextClassifier.from_folder(path, len(manifest.labels), pooling, weights=False)
                model = load_quantized(skeleton, path)
            else:
                model = PooledTextClassifier.from_folder(path, len(manifest.labels), pooling)
            member = EmbeddingMember.load(path, manifest.quantized) if manifest.training.get("embedding_member") else None
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise ModelCorruptedError(manifest.plugin, str(path), f"its weights do not load: {exc}") from exc
        return cls(model, tokenizer, manifest, path, member)

    def __init__(self, model, tokenizer, manifest, path, member: EmbeddingMember | None = None):
        super().__init__(model, tokenizer, manifest, path)
        #: The frozen-embedding logistic regression averaged into the probabilities, or None.
        self.member = member

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.labels)

    def quantized(self) -> "TextClassifier":
        """An int8 copy of this classifier (same tokenizer and calibration) for faster CPU inference."""
        member = self.member.quantized() if self.member is not None else None
        return TextClassifier(quantize_int8(self.model), self.tokenizer, replace(self.manifest, quantized=True), self.path, member)

    def save_weights(self, folder: Path) -> None:
        """Write this classifier's weights and tokenizer (the caller writes the manifest)."""
        self.tokenizer.save_pretrained(folder)
        if self.manifest.quantized:
            self.model.encoder.config.save_pretrained(folder)
            save_quantized(self.model, folder)
        else:
            self.model.save(folder)
        if self.member is not None:
            self.member.save(folder, self.manifest.quantized)

    def logits(self, texts: list[str], pairs: list[str] | None = None, batch_size: int = 32) -> np.ndarray:
        """Raw (uncalibrated) logits, one row per text, in input order."""
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(pairs)} pairs")
        result = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        with torch.inference_mode():
            for batch in batched_order(texts, batch_size):
                first = [texts[i] for i in batch]
                second = [pairs[i] for i in batch] if pairs is not None else None
                encoded = self.tokenizer(
                    first, second, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
                ).to(self.device)
                result[batch] = self.model(**encoded).logits.float().cpu().numpy()
        return result

    def probabilities(self, texts: list[str], pairs: list[str] | None = None, batch_size: int = 32) -> np.ndarray:
        """Temperature-scaled class probabilities, columns in ``labels`` order."""
        return self.blend(softmax(self.logits(texts, pairs, batch_size), self.temperature), texts)

    def blend(self, probabilities: np.ndarray, texts: list[str]) -> np.ndarray:
        """The fine-tuned model's probabilities averaged with the embedding member's (unchanged without one)."""
        if self.member is None:
            return probabilities
        temperature = float(self.manifest.calibration.get("ensemble_temperature", 1.0))
        return average_members(probabilities, self.member.probabilities(texts), temperature)

    def predict(self, texts: list[str], pairs: list[str] | None = None, batch_size: int = 32) -> list[Prediction]:
        probs = self.probabilities(texts, pairs, batch_size)
        labels = self.labels
        threshold = self.abstain_threshold
        predictions = []
        for row in probs:
            best = int(row.argmax())
            confidence = float(row[best])
            predictions.append(
                Prediction(
                    label=labels[best],
                    confidence=confidence,
                    abstain=confidence < threshold,
                    probabilities={label: float(p) for label, p in zip(labels, row)},
                )
            )
        return predictions
