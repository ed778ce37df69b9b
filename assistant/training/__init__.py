"""Fine-tuning, calibration and evaluation of plugin models (``assistant finetune`` / ``assistant eval``)."""

from assistant.training.finetune import FinetuneResult, finetune_plugin

__all__ = ["FinetuneResult", "finetune_plugin"]
