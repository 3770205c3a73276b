"""Link-prediction decoders: score (head, relation, tail) from entity vectors.

Each decoder turns a known entity and a relation into a *query* vector and *matches* queries
against candidate entities, so one (Q, dim) x (K, dim) operation scores every candidate;
`ranking_loss` and the ranking metrics use only these two operations.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LinkDecoder(nn.Module):
    """Base class: `query(z_known, relations, side)` then `match(queries, candidates)`."""

    name = "base"

    def query(self, known: Tensor, relations: Tensor, side: str) -> Tensor:
        """Query vectors (Q, dim) for predicting the `side` ("tail" or "head") of each fact."""
        raise NotImplementedError

    def match(self, queries: Tensor, candidates: Tensor) -> Tensor:
        """Scores (Q, K) of K candidate entity vectors for each of Q queries."""
        raise NotImplementedError

    def match_pairs(self, queries: Tensor, candidates: Tensor) -> Tensor:
        """Scores (Q,) of query i against candidate i."""
        raise NotImplementedError

    def forward(self, z: Tensor, triples: Tensor) -> Tensor:
        """Scores of (E, 3) triples given entity vectors z (N, dim) -> (E,)."""
        return self.match_pairs(self.query(z[triples[:, 0]], triples[:, 1], "tail"), z[triples[:, 2]])

    def score_tails(self, z: Tensor, heads: Tensor, relations: Tensor) -> Tensor:
        """Scores of every entity as the tail of (h, r, ?) -> (Q, N)."""
        return self.match(self.query(z[heads], relations, "tail"), z)

    def score_heads(self, z: Tensor, relations: Tensor, tails: Tensor) -> Tensor:
        """Scores of every entity as the head of (?, r, t) -> (Q, N)."""
        return self.match(self.query(z[tails], relations, "head"), z)

    def ranking_loss(self, z: Tensor, positives: Tensor, negatives: Tensor,
                     true_corruptions: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Softmax cross-entropy of each true triple against K shared corrupted tails and heads.

        positives: (B, 3) triples of rows of z; negatives: (K,) rows of z used in place of the
        tail and, separately, of the head of every positive. true_corruptions: optional (B, K)
        masks (tail side, head side), True where the "corruption" is in fact a known fact —
        those are left out of the softmax (filtered negative sampling).
        """
        h, r, t = positives[:, 0], positives[:, 1], positives[:, 2]
        zn = z[negatives]
        target = torch.zeros(len(positives), dtype=torch.long, device=z.device)
        loss = 0.0
        for i, (side, known, true) in enumerate((("tail", h, t), ("head", t, h))):
            q = self.query(z[known], r, side)
            pos = self.match_pairs(q, z[true]).unsqueeze(1)
            neg = self.match(q, zn)
            if true_corruptions is not None:
                neg = neg.masked_fill(true_corruptions[i], float("-inf"))
            loss = loss + F.cross_entropy(torch.cat([pos, neg], 1), target)
        return 0.5 * loss


class DistMultDecoder(LinkDecoder):
    """score(h, r, t) = <e_h, w_r, e_t> / sqrt(dim) (Yang et al., 2015); symmetric in h and t."""

    name = "distmult"

    def __init__(self, num_relations: int, dim: int):
        super().__init__()
        self.relation = nn.Parameter(torch.ones(num_relations, dim) + 0.1 * torch.randn(num_relations, dim))
        self.scale = dim**-0.5

    def query(self, known: Tensor, relations: Tensor, side: str) -> Tensor:
        return known * self.relation[relations]

    def match(self, queries: Tensor, candidates: Tensor) -> Tensor:
        return queries @ candidates.t() * self.scale

    def match_pairs(self, queries: Tensor, candidates: Tensor) -> Tensor:
        return (queries * candidates).sum(-1) * self.scale


class RotatEDecoder(LinkDecoder):
    """score(h, r, t) = -|| h ∘ r - t ||₂ with r a unit complex rotation (Sun et al., 2019).

    An entity vector of size dim is dim/2 complex numbers (first half real, second half
    imaginary); relation r rotates each by its own phase. Unlike DistMult it is not
    symmetric, so "A is_a B" and "B is_a A" score differently. Because rotations keep
    lengths, predicting a head rotates the tail backwards: ||h∘r - t|| = ||h - t∘r̄||.
    The Euclidean norm over all 2·(dim/2) coordinates (instead of the paper's sum of complex
    moduli) lets every candidate be scored with one `torch.cdist`.
    """

    name = "rotate"

    def __init__(self, num_relations: int, dim: int):
        super().__init__()
        if dim % 2:
            raise ValueError(f"RotatE needs an even dimension, not {dim}")
        self.half = dim // 2
        self.phase = nn.Parameter(torch.empty(num_relations, self.half).uniform_(-math.pi, math.pi))

    @property
    def relation(self) -> Tensor:
        """Per-relation vectors as saved with the embeddings: (cos φ, sin φ)."""
        return torch.cat([torch.cos(self.phase), torch.sin(self.phase)], dim=-1)

    def query(self, known: Tensor, relations: Tensor, side: str) -> Tensor:
        phase = self.phase[relations] if side == "tail" else -self.phase[relations]
        cos, sin = torch.cos(phase), torch.sin(phase)
        re, im = known[:, : self.half], known[:, self.half :]
        return torch.cat([re * cos - im * sin, re * sin + im * cos], dim=-1)

    def match(self, queries: Tensor, candidates: Tensor) -> Tensor:
        return -torch.cdist(queries, candidates)

    def match_pairs(self, queries: Tensor, candidates: Tensor) -> Tensor:
        return -(queries - candidates).norm(dim=-1)


DECODERS: dict[str, type[LinkDecoder]] = {"distmult": DistMultDecoder, "rotate": RotatEDecoder}
