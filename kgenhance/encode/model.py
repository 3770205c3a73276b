"""What every entity encoder shares: the message graph, the entity inputs, the R-GCN encoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .conv import BasisRelationalConv, relation_normalisation


class MessageGraph:
    """Directed, relation-typed edges to pass messages along, over `num_nodes` nodes.

    Built from knowledge-graph facts with `from_triples`: relation ``r`` is relation ``r``
    forwards and ``r + R`` backwards, so information flows both ways while direction stays
    known. A graph sampled around some entities (`NeighbourSampler`) has local node ids;
    ``nodes`` maps them to the knowledge graph's entity ids (None: the whole graph).
    Edges are kept with the original directions first (``forward_count`` of them).
    Normalisations are computed on first use and kept.
    Shapes: edge_index (2, E) [source; target]; edge_type (E,); nodes (num_nodes,) or None.
    """

    def __init__(self, edge_index: Tensor, edge_type: Tensor, num_nodes: int, num_relations: int,
                 nodes: Tensor | None = None, forward_count: int | None = None):
        if forward_count is None:  # put the original directions first
            inverse = edge_type >= num_relations // 2
            order = torch.argsort(inverse.to(torch.uint8), stable=True)
            edge_index, edge_type = edge_index[:, order], edge_type[order]
            forward_count = int((~inverse).sum())
        self.edge_index = edge_index
        self.edge_type = edge_type
        self.num_nodes = num_nodes
        self.num_relations = num_relations  # including the inverse directions
        self.nodes = nodes
        self.forward_count = forward_count  # edges [:forward_count] are original facts, the rest inverses
        self._norms: dict[str, Tensor] = {}

    @classmethod
    def from_triples(cls, triples: Tensor, num_entities: int, num_relations: int) -> "MessageGraph":
        """Each (h, r, t) fact as h→t of type r and t→h of type r + num_relations."""
        h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
        edge_index = torch.cat([torch.stack([h, t]), torch.stack([t, h])], dim=1)
        return cls(edge_index, torch.cat([r, r + num_relations]), num_entities, 2 * num_relations,
                   forward_count=len(triples))

    @property
    def edge_weight(self) -> Tensor:
        """1 / c_{i,r}: one over the target's number of incoming edges of the same type (R-GCN)."""
        if "relation" not in self._norms:
            self._norms["relation"] = relation_normalisation(
                self.edge_index, self.edge_type, self.num_nodes, self.num_relations)
        return self._norms["relation"]

    def in_degree(self) -> Tensor:
        """Incoming edges per node (N,), as float."""
        if "in_degree" not in self._norms:
            self._norms["in_degree"] = torch.bincount(self.edge_index[1], minlength=self.num_nodes).float()
        return self._norms["in_degree"]

    def mean_weight(self) -> Tensor:
        """1 / in-degree of each edge's target: a mean over neighbours (GraphSAGE)."""
        if "mean" not in self._norms:
            self._norms["mean"] = 1.0 / self.in_degree().clamp(min=1)[self.edge_index[1]]
        return self._norms["mean"]

    def mean_adjacency(self) -> Tensor:
        """Sparse (N, N) matrix A with A[i, j] = (edges j→i) / in-degree(i): A @ X is the neighbour mean."""
        if "mean_adjacency" not in self._norms:
            self._norms["mean_adjacency"] = torch.sparse_coo_tensor(
                self.edge_index.flip(0), self.mean_weight(), (self.num_nodes, self.num_nodes), check_invariants=False).coalesce()
        return self._norms["mean_adjacency"]

    def relation_profile(self) -> Tensor:
        """Sparse (N, num_relations) matrix: each node's share of incoming edges per relation type."""
        if "relation_profile" not in self._norms:
            index = torch.stack([self.edge_index[1], self.edge_type])
            self._norms["relation_profile"] = torch.sparse_coo_tensor(
                index, self.mean_weight(), (self.num_nodes, self.num_relations), check_invariants=False).coalesce()
        return self._norms["relation_profile"]

    def symmetric_weight(self) -> Tensor:
        """1 / sqrt(deg(source) · deg(target)) (GCN, CompGCN)."""
        if "symmetric" not in self._norms:
            deg = self.in_degree().clamp(min=1)
            self._norms["symmetric"] = (deg[self.edge_index[0]] * deg[self.edge_index[1]]).rsqrt()
        return self._norms["symmetric"]

    def to(self, device: torch.device) -> "MessageGraph":
        """This graph on `device` (a new object; this one is left where it is)."""
        moved = MessageGraph(self.edge_index.to(device), self.edge_type.to(device), self.num_nodes,
                             self.num_relations, self.nodes.to(device) if self.nodes is not None else None,
                             forward_count=self.forward_count)
        moved._norms = {k: v.to(device) for k, v in self._norms.items()}
        return moved


@dataclass
class GraphEncoderConfig:
    """Architecture settings every encoder has; each encoder's config adds its own."""

    dim: int = 128
    num_layers: int = 2
    dropout: float = 0.1
    features_dim: int = 0  # size of the text features (0: none)
    id_embeddings: bool = True  # learned per-entity input vectors


class EntityInput(nn.Module):
    """Layer-0 vector of each entity: its learned id vector, its projected text features, or both.

    Without id vectors it is inductive: any entity with a name gets an input.
    Shapes: features (num_entities, features_dim); nodes (M,) entity ids or None (all) → (M, dim).
    """

    def __init__(self, num_entities: int, cfg: GraphEncoderConfig):
        super().__init__()
        if not cfg.id_embeddings and not cfg.features_dim:
            raise ValueError("the encoder needs id embeddings, text features or both")
        self.entity = nn.Embedding(num_entities, cfg.dim) if cfg.id_embeddings else None
        if self.entity is not None:
            nn.init.normal_(self.entity.weight, std=cfg.dim**-0.5)
        self.text_proj = nn.Linear(cfg.features_dim, cfg.dim) if cfg.features_dim else None

    def forward(self, features: Tensor | None, nodes: Tensor | None = None) -> Tensor:
        x: Tensor | float = 0.0
        if self.entity is not None:
            x = self.entity.weight if nodes is None else self.entity(nodes)
        if self.text_proj is not None:
            if features is None:
                raise ValueError("this encoder reads text features: pass them")
            x = x + self.text_proj(features if nodes is None else features[nodes])
        return x  # type: ignore[return-value]


@dataclass
class RGCNConfig(GraphEncoderConfig):
    """R-GCN: relation weights as mixes of `num_bases` shared matrices."""

    num_bases: int = 8


class RelationalGraphEncoder(nn.Module):
    """Entity inputs refined by `num_layers` residual R-GCN layers (basis decomposition).

    Shapes: graph over N nodes (all entities, or a sample with ``graph.nodes``) → (N, dim).
    """

    config_class = RGCNConfig

    @staticmethod
    def message_floats(cfg: RGCNConfig) -> int:
        """Floats held per message edge and layer (for memory estimates): a projection per basis."""
        return cfg.num_bases * cfg.dim + cfg.dim

    def __init__(self, num_entities: int, num_relations: int, cfg: RGCNConfig):
        super().__init__()
        self.inputs = EntityInput(num_entities, cfg)
        bases = max(1, min(cfg.num_bases, 2 * num_relations))
        self.convs = nn.ModuleList(
            BasisRelationalConv(cfg.dim, cfg.dim, 2 * num_relations, bases) for _ in range(cfg.num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.dim) for _ in range(cfg.num_layers))
        self.dropout = cfg.dropout

    def forward(self, graph: MessageGraph, features: Tensor | None = None) -> Tensor:
        x = self.inputs(features, graph.nodes)
        for conv, norm in zip(self.convs, self.norms):
            h = conv(x, graph.edge_index, graph.edge_type, graph.edge_weight)
            h = F.dropout(F.gelu(h), p=self.dropout, training=self.training)
            x = norm(x + h)
        return x
