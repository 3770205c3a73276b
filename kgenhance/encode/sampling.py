"""Neighbour sampling for graphs too big to encode whole (GraphSAGE-style, vectorised in torch).

PyG's `NeighborLoader` needs pyg-lib or torch-sparse, whose wheels do not exist for every
torch build (none for this machine's); this sampler needs neither and does the same job for
the encoder: around a batch of seed entities it keeps, hop by hop, at most `fanout[k]`
incoming edges of each frontier node, then returns the union as a small `MessageGraph`
whose local node i is entity ``nodes[i]``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .model import MessageGraph


class NeighbourSampler:
    """Samples incoming edges per node and hop from a `MessageGraph` over all entities.

    Nodes with at most `fanout` incoming edges keep all of them; busier nodes get `fanout`
    edges drawn uniformly (with replacement, then de-duplicated, as GraphSAGE). Memory per
    sample is bounded by seeds × Π fanouts, whatever the size of the graph.
    """

    def __init__(self, graph: MessageGraph, fanouts: tuple[int, ...], generator: torch.Generator | None = None):
        if not fanouts or min(fanouts) < 1:
            raise ValueError(f"fanouts must be positive, not {fanouts}")
        dst = graph.edge_index[1]
        order = torch.argsort(dst, stable=True)
        self.source = graph.edge_index[0][order]
        self.target = dst[order]
        self.edge_type = graph.edge_type[order]
        counts = torch.bincount(dst, minlength=graph.num_nodes)
        self.rowptr = torch.zeros(graph.num_nodes + 1, dtype=torch.long)
        self.rowptr[1:] = torch.cumsum(counts, 0)
        self.num_nodes = graph.num_nodes
        self.num_relations = graph.num_relations
        self.fanouts = tuple(int(f) for f in fanouts)
        self.generator = generator
        self._local = torch.full((graph.num_nodes,), -1, dtype=torch.long)  # reused global→local map

    def _edges_into(self, frontier: Tensor, fanout: int) -> Tensor:
        """Ids (into the sorted edge arrays) of the sampled incoming edges of `frontier`."""
        start = self.rowptr[frontier]
        degree = self.rowptr[frontier + 1] - start
        few = degree <= fanout
        # every incoming edge of the nodes with few of them
        counts = degree[few]
        firsts = torch.repeat_interleave(start[few], counts)
        offsets = torch.arange(int(counts.sum())) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        kept = firsts + offsets
        # `fanout` draws among the incoming edges of the busy ones
        busy_start, busy_degree = start[~few], degree[~few]
        draws = torch.rand(len(busy_start), fanout, generator=self.generator)
        drawn = busy_start.unsqueeze(1) + (draws * busy_degree.unsqueeze(1)).long()
        return torch.unique(torch.cat([kept, drawn.reshape(-1)]))

    def sample(self, seeds: Tensor) -> MessageGraph:
        """The sampled neighbourhood of `seeds` (entity ids) as a local `MessageGraph`.

        Its first nodes are the unique seeds in sorted order; use `local_ids` to map entity ids.
        """
        nodes = torch.unique(seeds)
        visited = torch.zeros(self.num_nodes, dtype=torch.bool)
        visited[nodes] = True
        frontier = nodes
        edge_ids = []
        for fanout in self.fanouts:
            if len(frontier) == 0:
                break
            ids = self._edges_into(frontier, fanout)
            edge_ids.append(ids)
            sources = torch.unique(self.source[ids])
            frontier = sources[~visited[sources]]
            visited[frontier] = True
            nodes = torch.cat([nodes, frontier])
        ids = torch.unique(torch.cat(edge_ids)) if edge_ids else torch.zeros(0, dtype=torch.long)
        local = self._local
        local[nodes] = torch.arange(len(nodes))
        edge_index = torch.stack([local[self.source[ids]], local[self.target[ids]]])
        local[nodes] = -1  # leave the map clean for the next sample
        return MessageGraph(edge_index, self.edge_type[ids], len(nodes), self.num_relations, nodes=nodes)


def local_ids(graph: MessageGraph, entities: Tensor) -> Tensor:
    """Positions in a sampled `graph` of entity ids that are among its nodes."""
    assert graph.nodes is not None
    order = torch.argsort(graph.nodes)
    pos = torch.searchsorted(graph.nodes[order], entities.contiguous())
    return order[pos]
