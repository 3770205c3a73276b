"""ERNIE-style fusion (Zhang et al., 2019): each mention's entity enters at its first word piece."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from .knowledge_attention import KnowledgeAttentionOutput, KnowledgeGate, mix_candidates, span_vectors


class MentionFusion(nn.Module):
    """Fuses each mention's entity into the hidden state of the mention's first word piece.

    1. project hidden states (B, T, H) to the knowledge space (B, T, K) and pool each
       mention's word pieces (B, M, K);
    2. mix the mention's candidate entities as `KnowledgeAttention` does (span·entity
       similarity and the linker's prior);
    3. ERNIE's information fusion at the first word piece w: u = W_up(gelu(W_f(gelu(W_t w + W_e e))));
       later encoder layers spread it to the rest of the text by self-attention;
    4. optionally scale by a `KnowledgeGate`, add to the hidden states. `W_up` starts at
       zero, so the untrained layer is the identity.

    `mention_weights` (B, M) is each mention's share of the text's total update norm.
    """

    def __init__(self, hidden_size: int, entity_dim: int, knowledge_dim: int, dropout: float, gate: bool = False):
        super().__init__()
        self.knowledge_dim = knowledge_dim
        self.down = nn.Linear(hidden_size, knowledge_dim)
        self.entity_proj = nn.Linear(entity_dim, knowledge_dim)
        self.candidate_scorer = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
        self.fuse = nn.Linear(knowledge_dim, knowledge_dim)
        self.up = nn.Linear(knowledge_dim, hidden_size)
        self.up._kgenhance_zero_init = True
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        self.dropout = nn.Dropout(dropout)
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
        """Same inputs and outputs as `KnowledgeAttention.forward`."""
        b, t, h = hidden.shape
        mention_mask = spans[..., 0] >= 0  # (B, M)
        proj = self.down(hidden)
        span_vec = span_vectors(proj, spans, mention_mask)
        cand = self.entity_proj(candidate_embeddings)
        psi, entity_vec = mix_candidates(self.candidate_scorer, span_vec, cand, candidate_priors, candidate_mask,
                                         math.sqrt(self.knowledge_dim))
        first = spans[..., 0].clamp(min=0)  # (B, M)
        at_first = proj.gather(1, first.unsqueeze(-1).expand(-1, -1, self.knowledge_dim))  # (B, M, K)
        fused = F.gelu(self.fuse(self.dropout(F.gelu(at_first + entity_vec))))
        per_mention = self.up(self.dropout(fused)) * mention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, M, H)
        update = hidden.new_zeros(b, t, h).scatter_add(1, first.unsqueeze(-1).expand(-1, -1, h), per_mention)
        if self.gate is not None:
            update = self.gate(hidden, update)
        new_hidden = hidden + update * attention_mask.unsqueeze(-1).to(hidden.dtype)

        norms = per_mention.detach().norm(dim=-1)  # (B, M)
        weights = norms / norms.sum(-1, keepdim=True).clamp(min=1e-12)
        return new_hidden, KnowledgeAttentionOutput(weights * mention_mask, psi)
