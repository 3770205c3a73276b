"""Knowledge injection: a knowledge-attention layer inside any Hugging Face encoder, and the classifier."""

from .adapter import apply_lora, is_adapter, load_adapter, save_adapter
from .backbone import DEFAULT_BACKBONE, resolve_backbone
from .concept_bag import ConceptBag
from .configuration import KnowledgeAwareConfig
from .explain import EntityEvidence, Prediction, predict
from .inputs import EncodedBatch, KnowledgeCollator
from .hierarchy import HierarchyEmbedding, ancestor_table
from .knowledge_attention import KnowledgeAttention, KnowledgeAttentionOutput, KnowledgeGate
from .mention_fusion import MentionFusion
from .modeling import KnowledgeAwareClassifier, KnowledgeClassifierOutput, register_auto_classes

register_auto_classes()

__all__ = [
    "ConceptBag",
    "DEFAULT_BACKBONE",
    "EncodedBatch",
    "EntityEvidence",
    "HierarchyEmbedding",
    "KnowledgeAttention",
    "KnowledgeAttentionOutput",
    "KnowledgeAwareClassifier",
    "KnowledgeAwareConfig",
    "KnowledgeClassifierOutput",
    "KnowledgeCollator",
    "KnowledgeGate",
    "MentionFusion",
    "Prediction",
    "ancestor_table",
    "apply_lora",
    "is_adapter",
    "load_adapter",
    "predict",
    "register_auto_classes",
    "resolve_backbone",
    "save_adapter",
]
