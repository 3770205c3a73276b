"""Trainable hierarchy features: an entity is represented by the mean of its ancestors' vectors.

Two diseases under the same ontology branch then share most of their representation, so
what the classifier learns from one mention carries to mentions of its siblings — the
effect of lifting each linked term to its ``is_a`` ancestors in a bag-of-words model,
which gains most when labelled examples are few.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from ..graph.vocab import RDF_TYPE, RDFS_SUBCLASS_OF

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import KnowledgeGraph


def ancestor_table(graph: "KnowledgeGraph", max_ancestors: int = 16) -> Tensor:
    """(N + 1, A) int64: row ``i + 1`` holds entity ``i``'s own id then its nearest ancestors.

    Ids are 1-based (0 pads), as in the model's entity table. Ancestors come breadth-first
    up ``rdfs:subClassOf`` (and ``rdf:type`` for individuals), nearest first, each once;
    a node with more than `max_ancestors` keeps the nearest ones.
    """
    n = len(graph.entities)
    rels = [graph.relation_id(r) for r in (RDFS_SUBCLASS_OF, RDF_TYPE) if r in graph.relations]
    up = graph.edges[np.isin(graph.edges[:, 1], rels)] if rels else np.zeros((0, 3), np.int64)
    parents: list[list[int]] = [[] for _ in range(n)]
    for h, t in up[:, [0, 2]].tolist():
        parents[h].append(t)
    table = np.zeros((n + 1, max_ancestors), dtype=np.int64)
    for i in range(n):
        seen, order, queue = {i}, [i], deque(parents[i])
        while queue and len(order) < max_ancestors:
            p = queue.popleft()
            if p in seen:
                continue
            seen.add(p)
            order.append(p)
            queue.extend(parents[p])
        table[i + 1, : len(order)] = np.asarray(order) + 1
    return torch.from_numpy(table)


class AncestorModule(nn.Module):
    """A module that reads each entity's ancestors: holds the (N + 1, A) `ancestor_table` as a buffer
    (saved with the model's weights)."""

    def __init__(self, num_entities: int, max_ancestors: int):
        super().__init__()
        self.register_buffer("ancestors", torch.zeros(num_entities + 1, max_ancestors, dtype=torch.long))

    def set_ancestors(self, table: Tensor) -> None:
        """Load the (N + 1, A) table from `ancestor_table` (shape checked)."""
        if tuple(table.shape) != tuple(self.ancestors.shape):
            raise ValueError(f"ancestor table of shape {tuple(table.shape)}, expected {tuple(self.ancestors.shape)}")
        self.ancestors.copy_(table)


class HierarchyEmbedding(AncestorModule):
    """Mean of trainable vectors over an entity and its ancestors (B, M, C) → (B, M, C, dim)."""

    def __init__(self, num_entities: int, dim: int, max_ancestors: int):
        super().__init__(num_entities, max_ancestors)
        self.table = nn.Embedding(num_entities + 1, dim, padding_idx=0)
        nn.init.normal_(self.table.weight, std=0.1)
        with torch.no_grad():
            self.table.weight[0].zero_()

    def forward(self, entity_ids: Tensor) -> Tensor:
        anc = self.ancestors[entity_ids]  # (..., A)
        mask = (anc > 0).to(self.table.weight.dtype).unsqueeze(-1)
        vectors = self.table(anc) * mask
        return vectors.sum(-2) / mask.sum(-2).clamp(min=1.0)
