"""Fine-tuned models on disk (registry, manifest) and their inference wrappers."""

from assistant.models.registry import ActiveModel, Manifest, ModelRegistry, ModelVersion

__all__ = ["ActiveModel", "Manifest", "ModelRegistry", "ModelVersion"]
