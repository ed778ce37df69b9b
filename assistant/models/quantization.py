"""Int8 dynamic quantization of a fine-tuned model's linear layers, for faster CPU inference.

torch 2.13 still ships ``torch.ao.quantization.quantize_dynamic`` but marks it deprecated in
favour of the separate ``torchao`` package. torchao is not a dependency of this project and its
int8 kernels target GPUs first, so we keep the eager-mode API (verified to work on torch
2.13.0+cpu with the x86/fbgemm engine) and silence its deprecation warning here, in one place.

A quantized model's weights are packed tensors that safetensors cannot hold, so they are saved
with ``torch.save(state_dict)`` and read back with ``torch.load(weights_only=True)`` into the
same architecture quantized again from config.json (no pickled code is ever executed).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

#: File holding the int8 state dict inside a quantized version folder.
QUANTIZED_WEIGHTS = "model.int8.pt"


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose ``nn.Linear`` layers use int8 weights and dynamically quantized activations."""
    model = model.to("cpu").eval()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=r".*quantize_per_tensor.*")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=False)


def save_quantized(model: nn.Module, folder: Path) -> None:
    torch.save(model.state_dict(), Path(folder) / QUANTIZED_WEIGHTS)


def load_quantized(float_model: nn.Module, folder: Path) -> nn.Module:
    """Quantize a freshly built (untrained) architecture, then fill it with the saved int8 weights."""
    quantized = quantize_int8(float_model)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*TypedStorage is deprecated.*")
        state = torch.load(Path(folder) / QUANTIZED_WEIGHTS, map_location="cpu", weights_only=True)
    quantized.load_state_dict(state)
    return quantized.eval()
