"""Supervised fine-tuning and evaluation of knowledge-aware classifiers.

Reading data (`iter_texts`, `read_texts`, `load_examples`) is imported eagerly and is
light; the trainer (torch, transformers, peft) loads on first use of its names.
"""

from importlib import import_module
from typing import Any

from .data import Examples, iter_texts, load_examples, read_texts

_LAZY = {
    "classification_metrics": ".metrics",
    "CompareConfig": ".compare",
    "compare_models": ".compare",
    "mean_ci": ".compare",
    "KnowledgeDataCollator": ".hf",
    "knowledge_trainer": ".hf",
    "PretrainConfig": ".pretrain",
    "pretrain_backbone": ".pretrain",
    "ProbeResult": ".probe",
    "probe_concepts": ".probe",
    "TrainingConfig": ".trainer",
    "TrainingResult": ".trainer",
    "evaluate_model": ".trainer",
    "save_model": ".trainer",
    "train_classifier": ".trainer",
}

__all__ = [
    "CompareConfig",
    "Examples",
    "KnowledgeDataCollator",
    "PretrainConfig",
    "ProbeResult",
    "TrainingConfig",
    "TrainingResult",
    "classification_metrics",
    "compare_models",
    "evaluate_model",
    "iter_texts",
    "knowledge_trainer",
    "load_examples",
    "mean_ci",
    "pretrain_backbone",
    "probe_concepts",
    "read_texts",
    "save_model",
    "train_classifier",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
