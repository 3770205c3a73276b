"""Entity encoding: a relational GNN trained by link prediction → one vector per entity."""

from .compgcn import CompGCNConfig, CompGCNEncoder, CompositionConv
from .conv import BasisRelationalConv
from .decoders import DECODERS, DistMultDecoder, LinkDecoder, RotatEDecoder
from .embeddings import EntityEmbeddings
from .model import EntityInput, GraphEncoderConfig, MessageGraph, RelationalGraphEncoder, RGCNConfig
from .registry import ENCODERS, build_decoder, build_graph_encoder
from .sage import RelationalSAGEConv, RelationalSAGEEncoder, SAGEConfig
from .sampling import NeighbourSampler
from .train import EncoderConfig, ranking_metrics, train_entity_encoder

__all__ = [
    "BasisRelationalConv",
    "CompGCNConfig",
    "CompGCNEncoder",
    "CompositionConv",
    "DECODERS",
    "DistMultDecoder",
    "ENCODERS",
    "EncoderConfig",
    "EntityEmbeddings",
    "EntityInput",
    "GraphEncoderConfig",
    "LinkDecoder",
    "MessageGraph",
    "NeighbourSampler",
    "RGCNConfig",
    "RelationalGraphEncoder",
    "RelationalSAGEConv",
    "RelationalSAGEEncoder",
    "RotatEDecoder",
    "SAGEConfig",
    "build_decoder",
    "build_graph_encoder",
    "ranking_metrics",
    "train_entity_encoder",
]
