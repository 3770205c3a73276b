"""Bag-of-concepts head: the linked entities, lifted to their ``is_a`` ancestors, vote on the label.

Each text's linked entities (each mention's most probable candidate) and all their
ancestors up the class hierarchy form a set of concepts; every concept has one trainable
weight per label, and the set's weights, scaled by 1/√(set size), are added to the
classifier's logits. It is the wide half of a wide-and-deep model: a sparse linear model
over ontology concepts next to the encoder. Lifting to ancestors is what lets a
handful of labelled examples generalise — a mention of "focal seizure" teaches the weight
of "Seizure" and "Abnormality of the nervous system", which its unseen siblings share.

The weights start at zero, so before training the model predicts exactly as it would
without the head.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .hierarchy import AncestorModule


class ConceptBag(AncestorModule):
    """(B, M, C) candidate ids + priors → (B, L) logits from the ancestor-closed concept set.

    Args:
        num_entities: entities in the graph (ids are 1-based; 0 pads).
        num_labels: classes of the classifier.
        max_ancestors: concepts per entity, the entity itself first, then its ancestors
            nearest first (`ancestor_table`).
    """

    def __init__(self, num_entities: int, num_labels: int, max_ancestors: int):
        super().__init__(num_entities, max_ancestors)
        self.weight = nn.Parameter(torch.zeros(num_entities + 1, num_labels))
        self._kgenhance_zero_init = True  # the classifier's _init_weights keeps the weights at zero

    def concepts(self, entity_ids: Tensor, entity_priors: Tensor,
                 presence: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Each text's concept set: ids (B, K) (0 where unused) and weights (B, K) in [0, 1].

        A concept reached from several mentions counts once, with the largest `presence`
        (B, M) of those mentions (1 for every mention when not given; explanations scale it).
        """
        b, m, _ = entity_ids.shape
        best = entity_priors.masked_fill(entity_ids <= 0, -1.0).argmax(-1, keepdim=True)  # (B, M, 1)
        top = entity_ids.gather(-1, best).squeeze(-1)  # (B, M)
        if presence is None:
            presence = torch.ones(b, m, dtype=self.weight.dtype, device=entity_ids.device)
        ids = self.ancestors[top]  # (B, M, A); row 0 (no mention) is all padding
        weights = presence.to(self.weight.dtype).unsqueeze(-1).expand(ids.shape) * (ids > 0)
        ids, weights = ids.reshape(b, -1), weights.reshape(b, -1)  # (B, K)
        order = ids.argsort(-1)
        ids, weights = ids.gather(-1, order), weights.gather(-1, order)
        # one slot per distinct id in each row; a repeated id keeps its largest weight
        first = torch.ones_like(ids, dtype=torch.bool)
        first[:, 1:] = ids[:, 1:] != ids[:, :-1]
        slot = first.long().cumsum(-1) - 1  # (B, K) slot of each entry
        unique_ids = torch.zeros_like(ids).scatter(-1, slot, ids)
        unique_w = torch.zeros_like(weights).scatter_reduce(-1, slot, weights, reduce="amax", include_self=True)
        unique_w = unique_w * (unique_ids > 0)
        return unique_ids, unique_w

    def scaled_concepts(self, entity_ids: Tensor, entity_priors: Tensor,
                        presence: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """`concepts`, with the weights divided by √(the set's total weight): what each concept contributes."""
        ids, w = self.concepts(entity_ids, entity_priors, presence)
        return ids, w * w.sum(-1, keepdim=True).clamp(min=1.0).rsqrt()

    def forward(self, entity_ids: Tensor, entity_priors: Tensor, presence: Tensor | None = None) -> Tensor:
        """(B, L) logits to add to the classifier's: Σ over the concept set of its weights, / √|set|."""
        ids, w = self.scaled_concepts(entity_ids, entity_priors, presence)
        return (w.unsqueeze(-1) * self.weight[ids]).sum(1)

    @torch.no_grad()
    def votes(self, entity_ids: Tensor, entity_priors: Tensor, labels: Tensor) -> list[list[tuple[int, float]]]:
        """Per text, each concept's vote for that text's label in `labels` (B,), largest |vote| first.

        A vote is the concept's share of the head's logits, centred over the labels (softmax
        ignores what every label gets alike): w · (W[c, y] − mean_k W[c, k]) / √|set|. A
        text's votes add up to its head's centred logit for y. Ids are 1-based entity ids.
        """
        ids, w = self.scaled_concepts(entity_ids, entity_priors)
        table = self.weight[ids]  # (B, K, L)
        centred = table.gather(-1, labels.view(-1, 1, 1).expand(-1, ids.shape[1], 1)).squeeze(-1) - table.mean(-1)
        vote = (w * centred).cpu()
        out = []
        for row_ids, row_w, row_vote in zip(ids.cpu().tolist(), w.cpu().tolist(), vote.tolist()):
            row = [(i, v) for i, weight, v in zip(row_ids, row_w, row_vote) if i > 0 and weight > 0]
            out.append(sorted(row, key=lambda iv: -abs(iv[1])))
        return out


__all__ = ["ConceptBag"]
