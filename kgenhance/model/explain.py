"""Predictions with their evidence: which linked entities the model weighed, and how much."""

from __future__ import annotations

import logging
import math

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import torch

from ..errors import ModelError
from .attribution import mention_effects
from .inputs import KnowledgeCollator

if TYPE_CHECKING:  # pragma: no cover
    from .modeling import KnowledgeAwareClassifier


log = logging.getLogger(__name__)

@dataclass
class EntityEvidence:
    """A linked entity in a text and its part in the prediction.

    `weight` is the share of the word pieces' knowledge attention that went to this
    mention's entity (0–1; a text's weights sum to at most 1, the rest went to the
    "no knowledge" slot). `link_score` is the linker's probability for the entity;
    `candidates` lists every candidate with the linker's score and the model's mix.
    `attribution` is gradient × input (or integrated gradients) of the predicted class's
    log-probability over the entity's embedding; `ablation_delta` the change of the
    predicted class's probability when the mention's knowledge is removed (negative: the
    entity supported the prediction); `swap_delta` the change when the entity is replaced
    by `swap_entity`, the linker's runner-up (None without one). `path` runs from the
    entity up to a root of the ontology's class hierarchy.
    """

    start: int
    end: int
    surface: str
    entity: str
    label: str
    link_score: float
    weight: float
    candidates: list[dict] = field(default_factory=list)
    attribution: float | None = None
    ablation_delta: float | None = None
    swap_delta: float | None = None
    swap_entity: str | None = None
    path: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "surface": self.surface,
            "entity": self.entity,
            "label": self.label,
            "link_score": round(self.link_score, 4),
            "weight": round(self.weight, 4),
            "attribution": _round(self.attribution),
            "ablation_delta": _round(self.ablation_delta),
            "swap_delta": _round(self.swap_delta),
            "swap_entity": self.swap_entity,
            "path": self.path,
            "candidates": self.candidates,
        }


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 6)


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


@dataclass
class Prediction:
    """The predicted label of a text, all class probabilities, and (if explained) its entities."""

    text: str
    label: str
    probabilities: dict[str, float]
    entities: list[EntityEvidence] = field(default_factory=list)
    truncated: bool = False  # the text was longer than the model reads (max_seq_length word pieces)
    # with a concept-bag head and `explain`: the concepts (linked entities and their ancestors)
    # that voted, strongest first, each {"entity", "label", "vote"} (`ConceptBag.votes`)
    concepts: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = {
            "text": self.text,
            "label": self.label,
            "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
            "entities": [e.to_dict() for e in self.entities],
        }
        if self.concepts:
            out["concepts"] = self.concepts
        return out


def _max_length(model: "KnowledgeAwareClassifier") -> int:
    """The training length, never more positions than the encoder has (some have 512, some 64)."""
    length = int(getattr(model.config, "max_seq_length", 128))
    positions = getattr(getattr(model.encoder, "config", None), "max_position_embeddings", None)
    return min(length, int(positions)) if isinstance(positions, int) and positions > 0 else length


def _path(graph, iri: str, max_depth: int = 16) -> list[dict]:
    if graph is None or iri not in graph:
        return []
    return [{"entity": e.iri, "label": e.display_label} for e in graph.path_to_root(iri, max_depth=max_depth)]


@torch.no_grad()
def predict(
    model: "KnowledgeAwareClassifier",
    texts: Sequence[str],
    explain: bool = False,
    batch_size: int = 32,
    progress: bool = False,
    warn_truncated: bool = True,
    attribution_steps: int = 1,
    ablation: bool = True,
    max_concepts: int = 10,
) -> list[Prediction]:
    """Run `model` over `texts` in batches (eval mode, on the model's device).

    With `explain`, every linked entity comes with its attention weight, its attribution
    (gradient × input, or integrated gradients with `attribution_steps` > 1), its ablation
    and swap deltas (skipped when `ablation` is False: one extra forward pass per mention)
    and its path to the ontology's root; with a concept-bag head, the `max_concepts` strongest
    concept votes for the predicted label. Texts longer than the model's window are read (and
    linked) up to it; `truncated` marks them, and one warning says how many there were
    unless `warn_truncated` is off.
    """
    if model.tokenizer is None:
        raise ModelError("the model has no tokenizer attached (load it with from_pretrained or call attach())")
    if model.config.use_knowledge and model.linker is None:
        raise ModelError("this knowledge-aware model has no linker attached (its graph was not saved with it)")
    texts = [t if isinstance(t, str) else str(t) for t in texts]
    collator = KnowledgeCollator.for_model(model, max_length=_max_length(model))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    id2label = model.config.id2label
    graph = model.linker.graph if model.linker is not None else None
    out: list[Prediction] = []
    starts = range(0, len(texts), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="predicting", unit="batch", disable=None)
    try:
        for i in starts:
            chunk = texts[i : i + batch_size]
            batch = collator(chunk)
            inputs = {k: v.to(device) for k, v in batch.tensors.items()}
            result = model(**inputs)
            probs = torch.softmax(result.logits.float(), -1).cpu()
            weights = result.mention_weights.cpu() if result.mention_weights is not None else None
            psi = result.candidate_weights.cpu() if result.candidate_weights is not None else None
            effects = None
            if explain and weights is not None:
                target = probs.argmax(-1)
                effects = mention_effects(
                    model, inputs, target.to(device), probs.gather(1, target[:, None]).squeeze(1),
                    steps=attribution_steps, ablation=ablation, batch_size=batch_size,
                )
            votes = None
            bag = getattr(model, "concept_bag", None)
            if explain and bag is not None and "entity_ids" in inputs:
                votes = bag.votes(inputs["entity_ids"], inputs["entity_priors"], probs.argmax(-1).to(device))
            for j, text in enumerate(chunk):
                p = probs[j]
                pred = Prediction(
                    text=text,
                    label=id2label[int(p.argmax())],
                    probabilities={id2label[k]: float(p[k]) for k in range(len(p))},
                    truncated=collator.last_truncated[j],
                )
                if explain:
                    for m_idx, mention in enumerate(batch.mentions[j]):
                        n_cands = min(len(mention.candidates), model.config.max_candidates)
                        cands = [
                            {
                                "entity": c.entity,
                                "label": c.label,
                                "link_score": round(c.score, 4),
                                "attention": round(float(psi[j, m_idx, k]), 4) if psi is not None else None,
                            }
                            for k, c in enumerate(mention.candidates[:n_cands])
                        ]
                        swap = _finite(float(effects.swap_delta[j, m_idx])) if effects is not None else None
                        pred.entities.append(
                            EntityEvidence(
                                start=mention.start,
                                end=mention.end,
                                surface=mention.surface,
                                entity=mention.entity,
                                label=mention.label,
                                link_score=mention.score,
                                weight=float(weights[j, m_idx]) if weights is not None else 0.0,
                                candidates=cands,
                                attribution=float(effects.attribution[j, m_idx]) if effects is not None else None,
                                ablation_delta=_finite(float(effects.ablation_delta[j, m_idx]))
                                if effects is not None else None,
                                swap_delta=swap,
                                swap_entity=mention.candidates[1].entity if swap is not None else None,
                                path=_path(graph, mention.entity),
                            )
                        )
                if votes is not None:
                    pred.concepts = [
                        {"entity": graph.entities[c - 1].iri, "label": graph.entities[c - 1].display_label,
                         "vote": round(v, 6)}
                        for c, v in votes[j][:max_concepts]
                    ] if graph is not None else []
                out.append(pred)
    finally:
        model.train(was_training)
    if collator.truncated and warn_truncated:
        log.warning(
            "%d of %d text(s) are longer than the model's %d word pieces: only their beginning was read and linked",
            collator.truncated, collator.seen, collator.max_length,
        )
    return out
