"""KAR-style knowledge attention (KnowBERT, Peters et al., 2019), inserted between encoder layers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class KnowledgeAttentionOutput:
    """What the layer did, for explanations.

    mention_weights: (B, M) share of the word pieces' attention that went to each
        mention's knowledge (0 for padding; a text's weights sum to at most 1, the
        rest went to the "no knowledge" slot).
    candidate_weights: (B, M, C) how each mention's candidate entities were mixed.
    """

    mention_weights: Tensor
    candidate_weights: Tensor


class KnowledgeAttention(nn.Module):
    """Fuses linked entities' embeddings into a layer's hidden states.

    1. project hidden states (B, T, H) to the knowledge space (B, T, K);
    2. pool each mention's word pieces into a span vector (B, M, K);
    3. score each candidate entity (B, M, C) from span·entity similarity and the
       linker's prior, softmax over candidates, mix their projected embeddings;
    4. word pieces attend (multi-head) to the entity-enriched spans, or to a learned
       "no knowledge" slot whose value is zero;
    5. project back to H, optionally scale per word piece by a learned gate (`KnowledgeGate`),
       and add to the hidden states (texts without a mention get no
       update, so a prediction never depends on the other texts of its batch). The output projection starts at
       zero, so before training the layer is the identity: the knowledge-aware model
       starts exactly where the plain backbone does and learns how much to use.
    """

    def __init__(self, hidden_size: int, entity_dim: int, knowledge_dim: int, num_heads: int, dropout: float,
                 gate: bool = False):
        super().__init__()
        if knowledge_dim % num_heads:
            raise ValueError(f"knowledge_dim {knowledge_dim} is not divisible by knowledge_heads {num_heads}")
        self.knowledge_dim = knowledge_dim
        self.num_heads = num_heads
        self.down = nn.Linear(hidden_size, knowledge_dim)
        self.entity_proj = nn.Linear(entity_dim, knowledge_dim)
        self.candidate_scorer = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
        self.span_norm = nn.LayerNorm(knowledge_dim)
        self.query = nn.Linear(knowledge_dim, knowledge_dim)
        self.key = nn.Linear(knowledge_dim, knowledge_dim)
        self.value = nn.Linear(knowledge_dim, knowledge_dim)
        self.null_key = nn.Parameter(torch.zeros(knowledge_dim))
        self.out = nn.Linear(knowledge_dim, knowledge_dim)
        self.up = nn.Linear(knowledge_dim, hidden_size)
        self.up._kgenhance_zero_init = True  # read by the classifier's _init_weights
        self.dropout = nn.Dropout(dropout)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        self.gate = KnowledgeGate(hidden_size) if gate else None

    def forward(
        self,
        hidden: Tensor,
        attention_mask: Tensor,
        spans: Tensor,
        candidate_embeddings: Tensor,
        candidate_priors: Tensor,
        candidate_mask: Tensor,
    ) -> tuple[Tensor, KnowledgeAttentionOutput]:
        """hidden (B, T, H); attention_mask (B, T); spans (B, M, 2) first/last word piece,
        -1 for padding; candidate_embeddings (B, M, C, D); candidate_priors and
        candidate_mask (B, M, C). Returns the new hidden states (B, T, H) and the weights."""
        b, t, _ = hidden.shape
        m = spans.shape[1]
        mention_mask = spans[..., 0] >= 0  # (B, M)
        proj = self.down(hidden)  # (B, T, K)

        span_vec = span_vectors(proj, spans, mention_mask)  # (B, M, K)
        cand = self.entity_proj(candidate_embeddings)  # (B, M, C, K)
        psi, entity_vec = mix_candidates(self.candidate_scorer, span_vec, cand, candidate_priors, candidate_mask,
                                         math.sqrt(self.knowledge_dim))  # (B, M, C), (B, M, K)
        enriched = self.span_norm(span_vec + entity_vec)

        h, d = self.num_heads, self.knowledge_dim // self.num_heads
        q = self.query(proj).view(b, t, h, d).transpose(1, 2)  # (B, h, T, d)
        keys = torch.cat([self.null_key.expand(b, 1, -1), self.key(enriched)], 1)  # (B, 1+M, K)
        values = torch.cat([enriched.new_zeros(b, 1, self.knowledge_dim), self.value(enriched)], 1)
        k = keys.view(b, 1 + m, h, d).transpose(1, 2)
        v = values.view(b, 1 + m, h, d).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)  # (B, h, T, 1+M)
        valid = torch.cat([mention_mask.new_ones(b, 1), mention_mask], 1)
        scores = scores.masked_fill(~valid[:, None, None, :], torch.finfo(scores.dtype).min)
        alpha = torch.softmax(scores, dim=-1)
        context = (self.dropout(alpha) @ v).transpose(1, 2).reshape(b, t, self.knowledge_dim)
        update = self.up(self.dropout(F.gelu(self.out(context))))
        if self.gate is not None:
            update = self.gate(hidden, update)
        # a text with no mention is left as it is, whatever else is in its batch
        keep = attention_mask.to(hidden.dtype) * mention_mask.any(-1, keepdim=True).to(hidden.dtype)
        new_hidden = hidden + update * keep.unsqueeze(-1)

        token_mask = attention_mask.to(alpha.dtype)  # (B, T)
        per_token = alpha[..., 1:].mean(1)  # (B, T, M), averaged over heads
        mention_weights = (per_token * token_mask.unsqueeze(-1)).sum(1) / token_mask.sum(1, keepdim=True).clamp(min=1)
        return new_hidden, KnowledgeAttentionOutput(mention_weights * mention_mask, psi)


class KnowledgeGate(nn.Module):
    """g = σ(w·[h; u] + b) per word piece, applied to the knowledge update u: the model can
    learn to shut knowledge off where it does not help (e.g. generic words linked to an
    ontology). Starts at g = 0.5 everywhere (w = 0, b = 0)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.proj = nn.Linear(2 * hidden_size, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.proj._kgenhance_zero_init = True

    def forward(self, hidden: Tensor, update: Tensor) -> Tensor:
        return update * torch.sigmoid(self.proj(torch.cat([hidden, update], -1)))


def span_vectors(proj: Tensor, spans: Tensor, mention_mask: Tensor) -> Tensor:
    """Mean of each mention's word pieces: proj (B, T, K), spans (B, M, 2) → (B, M, K)."""
    positions = torch.arange(proj.shape[1], device=proj.device)
    span_mask = (
        (positions >= spans[..., :1]) & (positions <= spans[..., 1:]) & mention_mask.unsqueeze(-1)
    ).to(proj.dtype)  # (B, M, T)
    return span_mask @ proj / span_mask.sum(-1, keepdim=True).clamp(min=1.0)


def mix_candidates(scorer: nn.Module, span_vec: Tensor, cand: Tensor, priors: Tensor, mask: Tensor,
                   scale: float) -> tuple[Tensor, Tensor]:
    """Softmax over each mention's candidates from span·entity similarity and the linker's
    prior; returns the weights ψ (B, M, C) and the mixed entity vectors (B, M, K)."""
    similarity = (span_vec.unsqueeze(2) * cand).sum(-1) / scale
    logits = scorer(torch.stack([similarity, priors.clamp(min=1e-6).log()], -1)).squeeze(-1)
    logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
    psi = torch.softmax(logits, dim=-1) * mask.any(-1, keepdim=True)
    return psi, (psi.unsqueeze(-1) * cand).sum(2)
