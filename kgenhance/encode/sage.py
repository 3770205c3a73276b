"""GraphSAGE-style relational encoder: a mean over (sampled) neighbours, cheap enough for huge graphs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

from .model import EntityInput, GraphEncoderConfig, MessageGraph


class RelationalSAGEConv(nn.Module):
    r"""h_i' = W_1 h_i + W_2 · mean_{(j, r) → i} (h_j ⊙ g_r)  (Hamilton et al., 2017, relation-gated).

    Each relation type (both directions) has a gate vector g_r; the mean runs over the
    incoming edges present in the graph, so on a neighbour sample it is GraphSAGE's
    estimator of the full-neighbourhood mean. Messages cost O(E · dim), with no per-type weight.
    Shapes: x (N, dim) → (N, dim).
    """

    def __init__(self, dim: int, num_relations: int):
        super().__init__()
        self.gate = nn.Parameter(torch.ones(num_relations, dim))
        self.w_self = nn.Linear(dim, dim)
        self.w_neighbours = nn.Linear(dim, dim, bias=False)

    def forward(self, x: Tensor, graph: MessageGraph) -> Tensor:
        src, dst = graph.edge_index
        messages = x[src] * self.gate[graph.edge_type] * graph.mean_weight().unsqueeze(-1)
        mean = scatter(messages, dst, dim=0, dim_size=x.size(0), reduce="sum")
        return self.w_self(x) + self.w_neighbours(mean)


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
        """Floats held per message edge and layer: the gated neighbour vector."""
        return 2 * cfg.dim

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
