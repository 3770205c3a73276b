"""Entity encoding: a relational GNN trained by link prediction → one vector per entity."""

from .conv import BasisRelationalConv
from .embeddings import EntityEmbeddings
from .model import DistMultDecoder, MessageGraph, RelationalGraphEncoder
from .train import EncoderConfig, ranking_metrics, train_entity_encoder

__all__ = [
    "BasisRelationalConv",
    "DistMultDecoder",
    "EncoderConfig",
    "EntityEmbeddings",
    "MessageGraph",
    "RelationalGraphEncoder",
    "ranking_metrics",
    "train_entity_encoder",
]
