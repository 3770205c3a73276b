"""Supervised fine-tuning and evaluation of knowledge-aware classifiers."""

from .data import Examples, iter_texts, load_examples, read_texts
from .metrics import classification_metrics
from .trainer import TrainingConfig, TrainingResult, evaluate_model, save_model, train_classifier

__all__ = [
    "Examples",
    "TrainingConfig",
    "TrainingResult",
    "classification_metrics",
    "evaluate_model",
    "load_examples",
    "iter_texts",
    "read_texts",
    "save_model",
    "train_classifier",
]
