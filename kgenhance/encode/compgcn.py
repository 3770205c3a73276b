"""CompGCN-style encoder: relation embeddings composed with entity states (Vashishth et al., 2020)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

from .model import EntityInput, GraphEncoderConfig, MessageGraph

COMPOSITIONS = ("sub", "mult", "corr")


def compose(x: Tensor, rel: Tensor, op: str) -> Tensor:
    """φ(x, r): subtraction, element-wise product or circular correlation, row by row."""
    if op == "sub":
        return x - rel
    if op == "mult":
        return x * rel
    if op == "corr":
        n = x.size(-1)  # FFTs run in float32 (no bfloat16 FFT on CUDA under autocast)
        spectrum = torch.conj(torch.fft.rfft(x.float(), dim=-1)) * torch.fft.rfft(rel.float(), dim=-1)
        return torch.fft.irfft(spectrum, n=n, dim=-1).to(x.dtype)
    raise ValueError(f"unknown composition {op!r} (use one of {COMPOSITIONS})")


class CompositionConv(nn.Module):
    r"""One CompGCN layer over a `MessageGraph` whose types ≥ R/2 are the inverse directions.

    .. math::
        h_i' = W_S\,φ(h_i, r_{self}) + \sum_{(j, r) \to i} \frac{1}{\sqrt{d_i d_j}}
               W_{dir(r)}\,φ(h_j, z_r), \qquad z_r' = W_{rel} z_r \;(\text{except in the last layer})

    The relation of every edge is a vector, not a matrix, so messages cost O(E · dim) however
    many relation types there are; one weight for original edges, one for inverse edges.
    Shapes: x (N, dim), rel (R, dim) with R counting both directions → (N, dim), (R, dim).
    """

    def __init__(self, dim: int, composition: str, update_relations: bool = True):
        super().__init__()
        if composition not in COMPOSITIONS:
            raise ValueError(f"unknown composition {composition!r} (use one of {COMPOSITIONS})")
        self.composition = composition
        self.w_forward = nn.Linear(dim, dim, bias=False)
        self.w_inverse = nn.Linear(dim, dim, bias=False)
        self.w_self = nn.Linear(dim, dim)
        # the last layer's relation update would feed nothing (and leave DDP an unused weight)
        self.w_relation = nn.Linear(dim, dim, bias=False) if update_relations else None
        self.self_loop = nn.Parameter(torch.randn(dim) * dim**-0.5)

    def forward(self, x: Tensor, rel: Tensor, graph: MessageGraph) -> tuple[Tensor, Tensor]:
        src, dst = graph.edge_index
        messages = compose(x.index_select(0, src), rel.index_select(0, graph.edge_type), self.composition)
        k = graph.forward_count  # edges [:k] are original facts, [k:] their inverses
        out = torch.cat([self.w_forward(messages[:k]), self.w_inverse(messages[k:])])
        out = out * graph.symmetric_weight().unsqueeze(-1)
        agg = scatter(out, dst, dim=0, dim_size=x.size(0), reduce="sum")
        rel_out = self.w_relation(rel) if self.w_relation is not None else rel
        return agg + self.w_self(compose(x, self.self_loop.expand_as(x), self.composition)), rel_out


@dataclass
class CompGCNConfig(GraphEncoderConfig):
    """CompGCN: how an entity state and a relation vector are composed ("sub", "mult", "corr")."""

    composition: str = "mult"


class CompGCNEncoder(nn.Module):
    """Entity inputs refined by `num_layers` residual CompGCN layers; relation vectors learned too.

    Shapes: graph over N nodes (all entities, or a sample with ``graph.nodes``) → (N, dim).
    """

    config_class = CompGCNConfig

    @staticmethod
    def message_floats(cfg: CompGCNConfig) -> int:
        """Floats held per message edge and layer: the composed message and its projection."""
        return 3 * cfg.dim

    def __init__(self, num_entities: int, num_relations: int, cfg: CompGCNConfig):
        super().__init__()
        self.inputs = EntityInput(num_entities, cfg)
        self.relations = nn.Parameter(torch.randn(2 * num_relations, cfg.dim) * cfg.dim**-0.5)
        self.convs = nn.ModuleList(
            CompositionConv(cfg.dim, cfg.composition, update_relations=i < cfg.num_layers - 1)
            for i in range(cfg.num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.dim) for _ in range(cfg.num_layers))
        self.dropout = cfg.dropout

    def forward(self, graph: MessageGraph, features: Tensor | None = None) -> Tensor:
        x = self.inputs(features, graph.nodes)
        rel = self.relations
        for conv, norm in zip(self.convs, self.norms):
            h, rel = conv(x, rel, graph)
            h = F.dropout(torch.tanh(h), p=self.dropout, training=self.training)
            x = norm(x + h)
        return x
