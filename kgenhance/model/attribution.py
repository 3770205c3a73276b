"""How much each linked entity moved a prediction: gradient attributions and ablations.

Two measures per mention, both about the predicted class:

* **attribution** — gradient × input (or integrated gradients from the zero vector when
  ``steps > 1``) of the predicted class's log-probability with respect to the mention's
  candidate entity embeddings, summed over candidates and dimensions — plus, with a
  concept-bag head, the same for the mention's vote in that head (its presence, from 0
  to 1). Positive: the entity pushed towards the prediction.
* **ablation delta** — the predicted class's probability with the mention's knowledge
  removed (the mention is masked out of the knowledge layer) minus the probability with
  it; negative: the entity supported the prediction. The **swap delta** replaces the
  mention's candidates by its best competing candidate alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from .modeling import KnowledgeAwareClassifier


@dataclass
class MentionEffects:
    """Per text and mention (B, M): attribution, ablation delta, swap delta (NaN where no competitor),
    and whether removing the mention's knowledge changes the predicted class."""

    attribution: Tensor
    ablation_delta: Tensor
    swap_delta: Tensor
    flipped: Tensor


def _log_prob_of(model: "KnowledgeAwareClassifier", inputs: dict[str, Tensor], target: Tensor,
                 embeds: Tensor, presence: Tensor | None = None) -> Tensor:
    logits = model(**inputs, entity_embeds=embeds, mention_presence=presence).logits.float()
    return torch.log_softmax(logits, -1).gather(1, target[:, None]).squeeze(1)


def gradient_attribution(
    model: "KnowledgeAwareClassifier", inputs: dict[str, Tensor], target: Tensor, steps: int = 1
) -> Tensor:
    """(B, M) attribution of each mention's entity embeddings to the `target` class log-probability.

    ``steps == 1`` is gradient × input; more steps integrate the gradient from the zero
    embedding (integrated gradients, midpoint rule), whose sum over a text's mentions
    approaches log p(full) − log p(all entity embeddings zero). With a concept bag the path
    also scales every mention's vote in it from 0 to 1, and its share is added.
    """
    base = model.candidate_embeddings(inputs["entity_ids"]).detach()
    total = torch.zeros_like(base)
    bag = getattr(model, "concept_bag", None) is not None
    presence_total = torch.zeros(base.shape[:2], dtype=base.dtype, device=base.device)
    alphas = [1.0] if steps <= 1 else [(k + 0.5) / steps for k in range(steps)]
    with torch.enable_grad():
        for alpha in alphas:
            embeds = (base * alpha).requires_grad_(True)
            presence = torch.full(base.shape[:2], alpha, dtype=base.dtype, device=base.device,
                                  requires_grad=True) if bag else None
            log_p = _log_prob_of(model, inputs, target, embeds, presence)
            if presence is None:
                (grad,) = torch.autograd.grad(log_p.sum(), embeds)
            else:
                grad, grad_presence = torch.autograd.grad(log_p.sum(), [embeds, presence])
                presence_total += grad_presence
            total += grad
    attribution = (total / len(alphas) * base).sum(dim=(-1, -2))
    return attribution + presence_total / len(alphas)  # presence goes from 0 to 1: (1 − 0) × mean gradient


def _variants(inputs: dict[str, Tensor], rows: list[tuple[int, int, int | None]]) -> dict[str, Tensor]:
    """Copies of batch rows with one mention removed (competitor None) or reduced to one competitor."""
    index = torch.tensor([r[0] for r in rows], device=inputs["input_ids"].device)
    out = {k: v.index_select(0, index).clone() for k, v in inputs.items()}
    for i, (_, m, competitor) in enumerate(rows):
        if competitor is None:
            out["entity_spans"][i, m] = -1
            out["entity_ids"][i, m] = 0
            out["entity_priors"][i, m] = 0.0
        else:
            keep_id = out["entity_ids"][i, m, competitor].clone()
            keep_prior = out["entity_priors"][i, m, competitor].clone()
            out["entity_ids"][i, m] = 0
            out["entity_priors"][i, m] = 0.0
            out["entity_ids"][i, m, 0] = keep_id
            out["entity_priors"][i, m, 0] = keep_prior
    return out


@torch.no_grad()
def ablation_effects(
    model: "KnowledgeAwareClassifier",
    inputs: dict[str, Tensor],
    target: Tensor,
    base_prob: Tensor,
    batch_size: int = 32,
    swap: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """(B, M) ablation deltas and swap deltas (NaN where not applicable) of the `target` class
    probability, and (B, M) whether the prediction leaves `target` once the mention is removed."""
    spans, ids = inputs["entity_spans"], inputs["entity_ids"]
    b, m = spans.shape[:2]
    ablation = torch.full((b, m), float("nan"))
    swapped = torch.full((b, m), float("nan"))
    flipped = torch.zeros((b, m), dtype=torch.bool)
    rows: list[tuple[int, int, int | None]] = []
    for i in range(b):
        for j in range(m):
            if spans[i, j, 0] < 0:
                continue
            rows.append((i, j, None))
            if swap and ids.shape[2] > 1 and ids[i, j, 1] > 0:
                # the best competitor: the candidate the linker ranked second
                rows.append((i, j, 1))
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        variant = _variants(inputs, chunk)
        logits = model(**variant).logits.float()
        rows_t = torch.tensor([r[0] for r in chunk], device=logits.device)
        probs = torch.softmax(logits, -1).gather(1, target[rows_t][:, None]).squeeze(1).cpu()
        changed = (logits.argmax(-1) != target[rows_t]).cpu()
        for (i, j, competitor), p, flip in zip(chunk, probs.tolist(), changed.tolist()):
            delta = p - float(base_prob[i])
            if competitor is None:
                ablation[i, j] = delta
                flipped[i, j] = flip
            else:
                swapped[i, j] = delta
    return ablation, swapped, flipped


def mention_effects(
    model: "KnowledgeAwareClassifier",
    inputs: dict[str, Tensor],
    target: Tensor,
    base_prob: Tensor,
    steps: int = 1,
    ablation: bool = True,
    batch_size: int = 32,
) -> MentionEffects:
    """Attribution and ablation effects for every mention of a collated batch (see the module docstring)."""
    attribution = gradient_attribution(model, inputs, target, steps=steps).detach().cpu()
    if ablation:
        abl, swp, flipped = ablation_effects(model, inputs, target, base_prob, batch_size=batch_size)
    else:
        abl = torch.full_like(attribution, float("nan"))
        swp = torch.full_like(attribution, float("nan"))
        flipped = torch.zeros(attribution.shape, dtype=torch.bool)
    return MentionEffects(attribution, abl, swp, flipped)
