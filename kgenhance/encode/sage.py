"""GraphSAGE-style relational encoder: a mean over (sampled) neighbours, cheap enough for huge graphs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .model import EntityInput, GraphEncoderConfig, MessageGraph


class RelationalSAGEConv(nn.Module):
    r"""h_i' = W_1 h_i + W_2 · mean_{(j, r) → i} (h_j + e_r)  (Hamilton et al., 2017, with relations).

    Each relation type (both directions) has a vector e_r added to the neighbour's state
    (CompGCN's subtraction composition, with a sign). Because the composition is additive,
    the mean splits into two sparse products, A·H (A: mean over incoming edges) and C·E
    (C: each node's share of incoming edges per relation type), so no per-edge (E, dim)
    tensor is ever built: memory is O(N · dim + E) and the kernels are torch's sparse ones.
    On a neighbour sample, A is GraphSAGE's estimator of the full-neighbourhood mean.
    Shapes: x (N, dim) → (N, dim).
    """

    def __init__(self, dim: int, num_relations: int):
        super().__init__()
        self.relation = nn.Parameter(torch.zeros(num_relations, dim))
        self.w_self = nn.Linear(dim, dim)
        self.w_neighbours = nn.Linear(dim, dim, bias=False)

    def forward(self, x: Tensor, graph: MessageGraph) -> Tensor:
        with torch.autocast(x.device.type, enabled=False):  # sparse kernels run in float32
            mean = torch.sparse.mm(graph.mean_adjacency(), x.float())
            mean = mean + torch.sparse.mm(graph.relation_profile(), self.relation)
        return self.w_self(x) + self.w_neighbours(mean.to(x.dtype))


@dataclass
class SAGEConfig(GraphEncoderConfig):
    """Relational GraphSAGE: nothing beyond the shared settings (its sampling is the trainer's)."""


class RelationalSAGEEncoder(nn.Module):
    """Entity inputs refined by `num_layers` residual relational SAGE layers.

    Shapes: graph over N nodes (all entities, or a sample with ``graph.nodes``) → (N, dim).
    """

    config_class = SAGEConfig

    @staticmethod
    def message_floats(cfg: SAGEConfig) -> int:
        """Floats held per message edge and layer: none of size dim; the sparse matrices' few."""
        return 4

    def __init__(self, num_entities: int, num_relations: int, cfg: SAGEConfig):
        super().__init__()
        self.inputs = EntityInput(num_entities, cfg)
        self.convs = nn.ModuleList(RelationalSAGEConv(cfg.dim, 2 * num_relations) for _ in range(cfg.num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.dim) for _ in range(cfg.num_layers))
        self.dropout = cfg.dropout

    def forward(self, graph: MessageGraph, features: Tensor | None = None) -> Tensor:
        x = self.inputs(features, graph.nodes)
        for conv, norm in zip(self.convs, self.norms):
            h = F.dropout(F.gelu(conv(x, graph)), p=self.dropout, training=self.training)
            x = norm(x + h)
        return x
