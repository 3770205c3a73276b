"""Knowledge injection: a knowledge-attention layer inside any Hugging Face encoder, and the classifier."""

from .backbone import DEFAULT_BACKBONE, resolve_backbone
from .configuration import KnowledgeAwareConfig
from .explain import EntityEvidence, Prediction, predict
from .inputs import EncodedBatch, KnowledgeCollator
from .knowledge_attention import KnowledgeAttention, KnowledgeAttentionOutput
from .modeling import KnowledgeAwareClassifier, KnowledgeClassifierOutput, register_auto_classes

register_auto_classes()

__all__ = [
    "DEFAULT_BACKBONE",
    "EncodedBatch",
    "EntityEvidence",
    "KnowledgeAttention",
    "KnowledgeAttentionOutput",
    "KnowledgeAwareClassifier",
    "KnowledgeAwareConfig",
    "KnowledgeClassifierOutput",
    "KnowledgeCollator",
    "Prediction",
    "predict",
    "register_auto_classes",
    "resolve_backbone",
]
