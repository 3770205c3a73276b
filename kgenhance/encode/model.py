"""The entity encoder (stacked relational convolutions) and its link-prediction decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .conv import BasisRelationalConv, relation_normalisation


class MessageGraph:
    """Edges prepared for message passing: each fact plus its inverse, with 1/c_{i,r} weights.

    Relation ``r`` of the knowledge graph is relation ``r`` forwards and ``r + R`` backwards,
    so information flows both ways along every edge while direction stays known.
    """

    def __init__(self, triples: Tensor, num_entities: int, num_relations: int):
        h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
        self.num_entities = num_entities
        self.num_relations = 2 * num_relations
        self.edge_index = torch.cat([torch.stack([h, t]), torch.stack([t, h])], dim=1)
        self.edge_type = torch.cat([r, r + num_relations])
        self.edge_weight = relation_normalisation(self.edge_index, self.edge_type, num_entities, self.num_relations)

    def to(self, device: torch.device) -> "MessageGraph":
        self.edge_index = self.edge_index.to(device)
        self.edge_type = self.edge_type.to(device)
        self.edge_weight = self.edge_weight.to(device)
        return self


class RelationalGraphEncoder(nn.Module):
    """Entity input vectors refined by `num_layers` residual R-GCN layers.

    The input of entity i is its learned id vector (``id_embeddings``), a projection of its
    text features (``features_dim`` > 0, see `entity_text_features`), or their sum. Without
    id vectors the encoder is inductive: any entity with a name gets an embedding.
    Shapes: features (N, features_dim) → returns (N, dim) for the whole graph.
    """

    def __init__(self, num_entities: int, num_relations: int, dim: int, num_layers: int, num_bases: int,
                 dropout: float, features_dim: int = 0, id_embeddings: bool = True):
        super().__init__()
        if not id_embeddings and not features_dim:
            raise ValueError("the encoder needs id embeddings, text features or both")
        self.entity = nn.Embedding(num_entities, dim) if id_embeddings else None
        if self.entity is not None:
            nn.init.normal_(self.entity.weight, std=dim**-0.5)
        self.text_proj = nn.Linear(features_dim, dim) if features_dim else None
        bases = max(1, min(num_bases, 2 * num_relations))
        self.convs = nn.ModuleList(
            BasisRelationalConv(dim, dim, 2 * num_relations, bases) for _ in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(num_layers))
        self.dropout = dropout

    def forward(self, graph: MessageGraph, features: Tensor | None = None) -> Tensor:
        x = self.entity.weight if self.entity is not None else 0.0
        if self.text_proj is not None:
            if features is None:
                raise ValueError("this encoder reads text features: pass them")
            x = x + self.text_proj(features)
        for conv, norm in zip(self.convs, self.norms):
            h = conv(x, graph.edge_index, graph.edge_type, graph.edge_weight)
            h = F.dropout(F.gelu(h), p=self.dropout, training=self.training)
            x = norm(x + h)
        return x


class DistMultDecoder(nn.Module):
    """score(h, r, t) = <e_h, w_r, e_t> / sqrt(dim) (Yang et al., 2015)."""

    def __init__(self, num_relations: int, dim: int):
        super().__init__()
        self.relation = nn.Parameter(torch.ones(num_relations, dim) + 0.1 * torch.randn(num_relations, dim))
        self.scale = dim**-0.5

    def forward(self, z: Tensor, triples: Tensor) -> Tensor:
        """Scores of (E, 3) triples given entity vectors z (N, dim) -> (E,)."""
        return (z[triples[:, 0]] * self.relation[triples[:, 1]] * z[triples[:, 2]]).sum(-1) * self.scale

    def score_tails(self, z: Tensor, heads: Tensor, relations: Tensor) -> Tensor:
        """Scores of every entity as the tail of (h, r, ?) -> (Q, N)."""
        return (z[heads] * self.relation[relations]) @ z.t() * self.scale

    def score_heads(self, z: Tensor, relations: Tensor, tails: Tensor) -> Tensor:
        """Scores of every entity as the head of (?, r, t) -> (Q, N)."""
        return (z[tails] * self.relation[relations]) @ z.t() * self.scale

    def ranking_loss(self, z: Tensor, positives: Tensor, negatives: Tensor) -> Tensor:
        """Softmax cross-entropy of each true triple against K shared corrupted tails and heads.

        positives: (B, 3) triples; negatives: (K,) entity ids used in place of the tail and,
        separately, of the head of every positive. One (B, dim) @ (dim, K) product per side.
        """
        h, r, t = positives[:, 0], positives[:, 1], positives[:, 2]
        rel = self.relation[r]
        zn = z[negatives]
        query_tail = z[h] * rel
        query_head = z[t] * rel
        pos = (query_tail * z[t]).sum(-1, keepdim=True) * self.scale
        neg_tail = query_tail @ zn.t() * self.scale
        neg_head = query_head @ zn.t() * self.scale
        target = torch.zeros(len(positives), dtype=torch.long, device=z.device)
        return 0.5 * (
            F.cross_entropy(torch.cat([pos, neg_tail], 1), target)
            + F.cross_entropy(torch.cat([pos, neg_head], 1), target)
        )
