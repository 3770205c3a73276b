"""kgenhance: knowledge-aware BERT-family classifiers.

Load an ontology, link its entities in text, train GNN entity embeddings, fine-tune a
Hugging Face encoder with a knowledge-attention layer, and inspect which entities each
prediction rests on::

    import kgenhance as kg
    graph = kg.load_graph("graphs/hpo/hp.obo")
    result = kg.train_classifier("train.csv", "validation.csv", "runs/med", graph=graph)
    for p in result.model.predict(["Atrial fibrillation after surgery."], explain=True):
        print(p.label, [(e.label, e.weight) for e in p.entities])

Names are imported on first use, so `import kgenhance` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # graph
    "load_graph": "kgenhance.graph",
    "KnowledgeGraph": "kgenhance.graph",
    "Entity": "kgenhance.graph",
    "Synonym": "kgenhance.graph",
    # linking
    "EntityLinker": "kgenhance.link",
    "LinkerConfig": "kgenhance.link",
    "Mention": "kgenhance.link",
    "Candidate": "kgenhance.link",
    "MentionDetector": "kgenhance.link",
    "DetectorConfig": "kgenhance.link",
    "AnnotatedText": "kgenhance.link",
    "train_mention_detector": "kgenhance.link",
    # entity encoding
    "EncoderConfig": "kgenhance.encode",
    "EntityEmbeddings": "kgenhance.encode",
    "train_entity_encoder": "kgenhance.encode",
    # model
    "KnowledgeAwareConfig": "kgenhance.model",
    "KnowledgeAwareClassifier": "kgenhance.model",
    "KnowledgeAttention": "kgenhance.model",
    "KnowledgeCollator": "kgenhance.model",
    "Prediction": "kgenhance.model",
    "EntityEvidence": "kgenhance.model",
    "load_adapter": "kgenhance.model",
    "resolve_backbone": "kgenhance.model",
    # training
    "TrainingConfig": "kgenhance.train",
    "TrainingResult": "kgenhance.train",
    "train_classifier": "kgenhance.train",
    "evaluate_model": "kgenhance.train",
    "load_examples": "kgenhance.train",
    "CompareConfig": "kgenhance.train",
    "compare_models": "kgenhance.train",
    "pretrain_backbone": "kgenhance.train",
    "PretrainConfig": "kgenhance.train",
    "knowledge_trainer": "kgenhance.train",
    "KnowledgeDataCollator": "kgenhance.train",
    "probe_concepts": "kgenhance.train",
    "ProbeResult": "kgenhance.train",
    # errors
    "KGEnhanceError": "kgenhance.errors",
    "OntologyError": "kgenhance.errors",
    "DataError": "kgenhance.errors",
    "ModelError": "kgenhance.errors",
    "ConfigError": "kgenhance.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kgenhance' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
