"""Context similarity for disambiguation, with the encoder the user already has.

A mention's sentence and each candidate's "label: definition" text are embedded with the
backbone (the default MiniLM or any local Hugging Face encoder) and compared by cosine.
Two modes: ``"static"`` mean-pools the encoder's input word-piece embeddings (fast: no
transformer pass), ``"contextual"`` mean-pools its last hidden layer (slower, better).
Entity vectors are computed once per entity and kept.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from ..errors import ConfigError
from ..graph.model import KnowledgeGraph

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


def sentence_around(text: str, start: int, end: int, max_chars: int = 400) -> str:
    """The sentence holding ``text[start:end]``, clipped to `max_chars` around the span."""
    s = 0
    for m in _SENTENCE_END.finditer(text, 0, start):
        s = m.end()
    m = _SENTENCE_END.search(text, end)
    e = m.start() if m else len(text)
    if e - s > max_chars:
        s = max(s, start - max_chars // 2)
        e = min(e, end + max_chars // 2)
    return text[s:e]


class ContextEncoder:
    """Sentence and entity vectors from a BERT-family encoder, for candidate re-ranking."""

    def __init__(self, graph: KnowledgeGraph, backbone: str | None = None, mode: str = "static"):
        from ..model.backbone import load_encoder_weights, load_tokenizer, resolve_backbone

        if mode not in ("static", "contextual"):
            raise ConfigError(f"context mode must be 'static' or 'contextual', not {mode!r}")
        path = resolve_backbone(backbone)
        self.graph = graph
        self.mode = mode
        self.tokenizer = load_tokenizer(path)
        self.encoder = load_encoder_weights(path).eval()
        self.word_embeddings = self.encoder.get_input_embeddings().weight.detach()
        special = set(self.tokenizer.all_special_ids)
        self._special = torch.tensor(sorted(special), dtype=torch.long)
        self._entity_cache: dict[int, np.ndarray] = {}

    @torch.no_grad()
    def embed(self, texts: list[str], max_length: int = 128) -> np.ndarray:
        """Unit-length vectors of `texts`, ``(len(texts), hidden)``."""
        if not texts:
            return np.zeros((0, self.word_embeddings.shape[1]), dtype=np.float32)
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        mask = enc["attention_mask"].clone()
        mask[torch.isin(enc["input_ids"], self._special)] = 0
        if self.mode == "static":
            states = self.word_embeddings[enc["input_ids"]]
        else:
            states = self.encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        m = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * m).sum(1) / m.sum(1).clamp(min=1.0)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.numpy().astype(np.float32)

    def entity_text(self, entity_id: int) -> str:
        """What an entity is compared on: its label, then its definition when it has one."""
        ent = self.graph.entities[entity_id]
        return f"{ent.display_label}: {ent.definition}" if ent.definition else ent.display_label

    def entity_vectors(self, entity_ids: list[int]) -> np.ndarray:
        """Vectors of entities (cached after first use), ``(len(entity_ids), hidden)``."""
        missing = sorted({e for e in entity_ids if e not in self._entity_cache})
        if missing:
            for eid, vec in zip(missing, self.embed([self.entity_text(e) for e in missing])):
                self._entity_cache[eid] = vec
        return np.stack([self._entity_cache[e] for e in entity_ids])
