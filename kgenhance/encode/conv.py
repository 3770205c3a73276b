"""Relation-aware message passing (R-GCN with basis decomposition), vectorised over relations."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing


class BasisRelationalConv(MessagePassing):
    r"""R-GCN layer (Schlichtkrull et al., 2018) with basis-decomposed relation weights.

    .. math::
        h_i' = W_0 h_i + b + \sum_{r} \sum_{j \in N_r(i)} \frac{1}{c_{i,r}} W_r h_j,
        \qquad W_r = \sum_{b=1}^{B} a_{rb} V_b

    Every relation's weight is a mix of `num_bases` shared matrices, so the parameter
    count does not grow with the number of relations, and messages for all relation
    types are computed at once: ``x`` is projected onto each basis once ((N, B, out)),
    each edge gathers its source's B projections and mixes them with its relation's
    coefficients. No Python loop runs over relation types, which keeps ontologies with
    hundreds of properties (FIBO: ~700 relation types) as fast as one with a single one.

    Shapes:
        x: (N, in_channels); edge_index: (2, E); edge_type: (E,) in [0, num_relations);
        edge_weight: (E,) normalisation, usually 1 / c_{i,r}; returns (N, out_channels).
    """

    def __init__(self, in_channels: int, out_channels: int, num_relations: int, num_bases: int):
        super().__init__(aggr="add", node_dim=0)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_relations = num_relations
        self.num_bases = num_bases
        self.bases = nn.Parameter(torch.empty(num_bases, in_channels, out_channels))
        self.coefficients = nn.Parameter(torch.empty(num_relations, num_bases))
        self.root = nn.Linear(in_channels, out_channels, bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        bound = math.sqrt(6.0 / (self.in_channels + self.out_channels))
        nn.init.uniform_(self.bases, -bound, bound)
        nn.init.normal_(self.coefficients, std=1.0 / math.sqrt(self.num_bases))
        self.root.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_type: Tensor, edge_weight: Tensor) -> Tensor:
        n = x.size(0)
        # (N, in) @ (in, B*out) -> (N, B*out): each node projected onto every basis once.
        projected = x @ self.bases.permute(1, 0, 2).reshape(self.in_channels, -1)
        out = self.propagate(edge_index, x=projected, edge_type=edge_type, edge_weight=edge_weight, size=(n, n))
        return out + self.root(x)

    def message(self, x_j: Tensor, edge_type: Tensor, edge_weight: Tensor) -> Tensor:
        per_basis = x_j.view(-1, self.num_bases, self.out_channels)  # (E, B, out)
        mix = self.coefficients.index_select(0, edge_type) * edge_weight.unsqueeze(-1)  # (E, B)
        return torch.einsum("eb,ebo->eo", mix, per_basis)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"num_relations={self.num_relations}, num_bases={self.num_bases})"
        )


def relation_normalisation(edge_index: Tensor, edge_type: Tensor, num_nodes: int, num_relations: int) -> Tensor:
    """1 / c_{i,r}: one over the number of incoming edges of relation r at each target i."""
    key = edge_index[1] * num_relations + edge_type
    _, inverse, counts = torch.unique(key, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse].to(torch.float32)
