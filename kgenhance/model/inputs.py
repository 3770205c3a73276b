"""Texts + linked mentions → the tensors a `KnowledgeAwareClassifier` takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from ..link import EntityLinker, Mention, align_mentions


@dataclass
class EncodedBatch:
    """Model inputs for a batch, and which mention each entity slot came from."""

    tensors: dict[str, torch.Tensor]
    mentions: list[list[Mention]]  # per text, the mentions that fit in the model's inputs


class KnowledgeCollator:
    """Tokenises texts, aligns their mentions to word pieces, pads candidates.

    Produces ``input_ids``, ``attention_mask`` (and ``token_type_ids`` if the tokenizer
    makes them), ``entity_spans`` (B, M, 2) first/last word piece or -1,
    ``entity_ids`` (B, M, C) graph entity id + 1 (0 = padding) and ``entity_priors``
    (B, M, C). Without a linker only the text tensors are produced.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        linker: EntityLinker | None,
        max_length: int = 128,
        max_mentions: int = 32,
        max_candidates: int = 4,
    ):
        self.tokenizer = tokenizer
        self.linker = linker
        self.max_length = max_length
        self.max_mentions = max_mentions
        self.max_candidates = max_candidates
        self.truncated = 0  # texts cut off at max_length so far
        self.last_truncated: list[bool] = []  # which texts of the last batch were cut off
        self.seen = 0

    def __call__(
        self, texts: Sequence[str], mentions: Sequence[list[Mention]] | None = None, labels: Sequence[int] | None = None
    ) -> EncodedBatch:
        enc = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = enc.pop("offset_mapping").tolist()
        tensors = dict(enc)
        if labels is not None:
            tensors["labels"] = torch.as_tensor(list(labels), dtype=torch.long)
        kept: list[list[Mention]] = [[] for _ in texts]
        # where each text's encoded window ends: text past it was cut off by truncation
        window_ends = [max((e for s, e in offs if e > s), default=0) for offs in offsets]
        self.last_truncated = [bool(t[end:].strip()) for t, end in zip(texts, window_ends)]
        self.truncated += sum(self.last_truncated)
        self.seen += len(texts)
        if self.linker is None:
            return EncodedBatch(tensors, kept)
        if mentions is None:  # link only the window the model reads (a 1 MB text costs its first pieces)
            mentions = [self.linker.link(t[:end]) for t, end in zip(texts, window_ends)]
        rows = []
        for i, (ms, offs) in enumerate(zip(mentions, offsets)):
            spans = align_mentions(ms, offs)
            row = [(m, s) for m, s in zip(ms, spans) if s is not None][: self.max_mentions]
            kept[i] = [m for m, _ in row]
            rows.append(row)
        b = len(texts)
        m = max(1, max(len(r) for r in rows))
        c = self.max_candidates
        spans_t = torch.full((b, m, 2), -1, dtype=torch.long)
        ids_t = torch.zeros((b, m, c), dtype=torch.long)
        priors_t = torch.zeros((b, m, c), dtype=torch.float32)
        for i, row in enumerate(rows):
            for j, (mention, (first, last)) in enumerate(row):
                spans_t[i, j, 0], spans_t[i, j, 1] = first, last
                for k, cand in enumerate(mention.candidates[:c]):
                    ids_t[i, j, k] = cand.entity_id + 1
                    priors_t[i, j, k] = cand.score
        tensors.update(entity_spans=spans_t, entity_ids=ids_t, entity_priors=priors_t)
        return EncodedBatch(tensors, kept)
