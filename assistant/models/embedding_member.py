"""A second opinion for a fine-tuned text classifier: logistic regression over the frozen base model's embeddings.

Fine-tuning moves the whole encoder towards the training labels; the base model's own
mean-pooled sentence vector, with a linear boundary fitted on the same rows, errs on other
inputs. Averaging the two probability vectors is the "ensemble with the embedding classifier"
of SetFit-style recipes: on the customer_service intents it gained 1.1 points of accuracy on
average over six splits (docs/benchmarks.md, "the intent model with a frozen-embedding member").

The member lives in the version folder (``embedding_member/``: the frozen encoder, its tokenizer
and the regression's weights), so a version still loads from its folder alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from assistant.models.base import batched_order, load_encoder, mean_pool, quiet_transformers, softmax
from assistant.models.quantization import load_quantized, quantize_int8, save_quantized

FOLDER = "embedding_member"
HEAD_WEIGHTS = "logistic_regression.safetensors"
#: Inverse regularisation strengths tried, the best chosen by 5-fold cross-validation on the training rows.
C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)
#: C when some label has too few rows to cross-validate.
DEFAULT_C = 10.0


def embed(encoder, tokenizer, texts: list[str], max_length: int, batch_size: int = 64) -> np.ndarray:
    """L2-normalised mean-pooled states of ``encoder``, one row per text, in input order."""
    result = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for batch in batched_order(texts, batch_size):
            encoded = tokenizer([texts[i] for i in batch], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            pooled = mean_pool(encoder(**encoded).last_hidden_state.float(), encoded["attention_mask"])
            result[batch] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return result


class EmbeddingMember:
    """Frozen encoder → mean pooling → L2 norm → multinomial logistic regression (columns in the classifier's label order)."""

    def __init__(self, encoder, tokenizer, weight: np.ndarray, bias: np.ndarray, max_length: int, regularisation: float):
        self.encoder = encoder.eval()
        self.tokenizer = tokenizer
        self.weight = np.ascontiguousarray(weight, dtype=np.float32)  # safetensors writes raw memory: no Fortran order
        self.bias = np.ascontiguousarray(bias, dtype=np.float32)
        self.max_length = max_length
        #: The C cross-validation chose (recorded in the manifest).
        self.regularisation = regularisation

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return softmax(embed(self.encoder, self.tokenizer, texts, self.max_length) @ self.weight.T + self.bias)

    @classmethod
    def fit(cls, base_model: str, texts: list[str], targets: list[int], num_labels: int, max_length: int,
            seed: int) -> "EmbeddingMember":
        """Embed ``texts`` with the frozen ``base_model`` and fit the regression; every label must occur in ``targets``."""
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
        from sklearn.model_selection import StratifiedKFold
        from transformers import AutoTokenizer

        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(base_model)
        encoder = load_encoder(base_model).eval()
        features = embed(encoder, tokenizer, texts, max_length)
        targets = np.asarray(targets)
        folds = min(5, int(np.bincount(targets, minlength=num_labels).min()))
        if folds >= 2:  # C chosen by the log-loss of held-out folds: the member's job is its probabilities
            regression = LogisticRegressionCV(
                Cs=list(C_GRID), l1_ratios=(0.0,), scoring="neg_log_loss", cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                max_iter=3000, use_legacy_attributes=False,
            ).fit(features, targets)
            regularisation = float(regression.C_)
        else:  # a label with a single row: nothing to cross-validate on
            regularisation = DEFAULT_C
            regression = LogisticRegression(C=regularisation, max_iter=3000).fit(features, targets)
        weight, bias = regression.coef_, regression.intercept_
        if weight.shape[0] == 1:  # two labels: sklearn keeps one logit; softmax([0, z]) is its sigmoid
            weight, bias = np.vstack([np.zeros_like(weight), weight]), np.concatenate([[0.0], bias])
        return cls(encoder, tokenizer, weight, bias, max_length, regularisation)

    def quantized(self) -> "EmbeddingMember":
        return EmbeddingMember(quantize_int8(self.encoder), self.tokenizer, self.weight, self.bias, self.max_length,
                               self.regularisation)

    def save(self, version_folder: Path, quantized: bool) -> None:
        folder = Path(version_folder) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(folder)
        if quantized:
            self.encoder.config.save_pretrained(folder)
            save_quantized(self.encoder, folder)
        else:
            self.encoder.save_pretrained(folder)
        save_file({"weight": self.weight, "bias": self.bias}, str(folder / HEAD_WEIGHTS),
                  metadata={"max_length": str(self.max_length), "C": str(self.regularisation)})

    @classmethod
    def load(cls, version_folder: Path, quantized: bool) -> "EmbeddingMember":
        """Raises OSError / RuntimeError / ValueError / KeyError on a damaged folder (the caller names the version)."""
        from safetensors import safe_open
        from transformers import AutoTokenizer

        folder = Path(version_folder) / FOLDER
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
        if quantized:
            encoder = load_quantized(load_encoder(str(folder), weights=False), folder)
        else:
            encoder = load_encoder(str(folder))
        head = load_file(str(folder / HEAD_WEIGHTS))
        with safe_open(str(folder / HEAD_WEIGHTS), framework="numpy") as handle:
            metadata = handle.metadata()
        return cls(encoder, tokenizer, head["weight"], head["bias"], int(metadata["max_length"]), float(metadata["C"]))
