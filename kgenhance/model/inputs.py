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

    With ``entity_text`` > 0 the names of the linked entities (and their nearest
    super-classes) follow the text as a second segment; with ``entity_text_visibility`` a
    ``visibility_mask`` (B, T, T) — True where word piece i may attend to j — keeps each
    entity's name tokens visible only to each other and to its mention's word pieces
    (K-BERT's visibility matrix), so the names cannot blur the rest of the text.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        linker: EntityLinker | None,
        max_length: int = 128,
        max_mentions: int = 32,
        max_candidates: int = 4,
        entity_text: int = 0,
        entity_text_ancestors: int = 2,
        entity_text_visibility: bool = False,
    ):
        self.tokenizer = tokenizer
        self.entity_text_visibility = bool(entity_text_visibility) and entity_text > 0 and linker is not None
        self.entity_text = entity_text if linker is not None else 0
        self.entity_text_ancestors = entity_text_ancestors
        self.linker = linker
        self.max_length = max_length
        self.max_mentions = max_mentions
        self.max_candidates = max_candidates
        self.truncated = 0  # texts cut off at max_length so far
        self.last_truncated: list[bool] = []  # which texts of the last batch were cut off
        self.seen = 0

    @classmethod
    def for_model(cls, model, linker: EntityLinker | None = None, max_length: int | None = None) -> "KnowledgeCollator":
        """The collator a `KnowledgeAwareClassifier` was trained with (its config's settings)."""
        cfg = model.config
        linker = linker if linker is not None else (model.linker if cfg.use_knowledge else None)
        length = max_length or getattr(cfg, "max_seq_length", None) or 128
        return cls(model.tokenizer, linker, length, cfg.max_mentions, cfg.max_candidates,
                   getattr(cfg, "entity_text", 0), getattr(cfg, "entity_text_ancestors", 2),
                   getattr(cfg, "entity_text_visibility", False))

    def entity_parts(self, mentions: Sequence[Mention]) -> list[tuple[int, str]]:
        """(entity id, "name (super-class, …)") for the first `entity_text` distinct linked entities."""
        graph = self.linker.graph  # type: ignore[union-attr]
        parts: list[tuple[int, str]] = []
        seen: set[int] = set()
        for m in mentions:
            if not m.candidates or m.candidates[0].entity_id in seen:
                continue
            eid = m.candidates[0].entity_id
            seen.add(eid)
            names = [e.display_label for e in graph.path_to_root(eid, max_depth=1 + self.entity_text_ancestors)]
            parts.append((eid, names[0] + (f" ({', '.join(names[1:])})" if len(names) > 1 else "")))
            if len(parts) >= self.entity_text:
                break
        return parts

    def describe_entities(self, mentions: Sequence[Mention]) -> str:
        """The appended knowledge segment for one text's mentions (see the class docstring)."""
        return "; ".join(text for _, text in self.entity_parts(mentions))

    def _visibility(self, enc, offsets: list, parts: list[list[tuple[int, str]]], rows) -> torch.Tensor:
        """K-BERT visibility (B, T, T): text ↔ text; an entity's name tokens ↔ each other and its mention."""
        mask = enc["attention_mask"].bool()
        t = mask.shape[1]
        is_text = mask.clone()
        vis = torch.zeros(mask.shape[0], t, t, dtype=torch.bool)
        for i in range(len(parts)):
            spans, pos = [], 0  # where each entity's "name (super-classes)" sits in the segment
            for _, text in parts[i]:
                spans.append((pos, pos + len(text)))
                pos += len(text) + 2  # "; "
            groups: list[list[int]] = [[] for _ in parts[i]]  # the name tokens of each part
            for j, sid in enumerate(enc.sequence_ids(i)):
                if sid == 1:
                    is_text[i, j] = False
                    start = offsets[i][j][0]
                    k = next((k for k, (a, z) in enumerate(spans) if a <= start < z), None)
                    if k is not None:  # separators belong to no part: they see only themselves
                        groups[k].append(j)
            part_of = {eid: k for k, (eid, _) in enumerate(parts[i])}
            anchors: list[list[int]] = [[] for _ in parts[i]]
            for mention, (first, last) in rows[i]:
                k = part_of.get(mention.candidates[0].entity_id) if mention.candidates else None
                if k is not None:
                    anchors[k].extend(range(first, last + 1))
            for names, anchor in zip(groups, anchors):
                if names:
                    idx, names_t = torch.tensor(names + anchor), torch.tensor(names)
                    vis[i, idx.unsqueeze(1), names_t.unsqueeze(0)] = True  # names and anchor see the names
                    vis[i, names_t.unsqueeze(1), idx.unsqueeze(0)] = True  # names see their anchor
        vis |= is_text.unsqueeze(2) & is_text.unsqueeze(1)
        vis |= torch.eye(t, dtype=torch.bool).unsqueeze(0)  # every word piece sees itself
        return vis

    def __call__(
        self, texts: Sequence[str], mentions: Sequence[list[Mention]] | None = None, labels: Sequence[int] | None = None
    ) -> EncodedBatch:
        pairs = None
        parts: list[list[tuple[int, str]]] = []
        if self.entity_text:
            if mentions is None:  # the window is not known before tokenising: link a generous prefix
                mentions = [self.linker.link(t[: self.max_length * 12]) for t in texts]  # type: ignore[union-attr]
            parts = [self.entity_parts(ms) for ms in mentions]
            pairs = ["; ".join(text for _, text in p) for p in parts]
        enc = self.tokenizer(
            list(texts),
            pairs,
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        raw_offsets = enc.pop("offset_mapping").tolist()  # the names segment's offsets are kept here
        offsets = raw_offsets
        tensors = dict(enc)
        if pairs is not None:
            segments = [enc.sequence_ids(i) for i in range(len(texts))]
            # word pieces of the appended segment are not in the text: no offsets
            offsets = [[o if sid == 0 else (0, 0) for o, sid in zip(offs, sids)]
                       for offs, sids in zip(raw_offsets, segments)]
            # 1 where a word piece belongs to the appended names (pooling may leave them out)
            tensors["names_mask"] = torch.tensor([[int(sid == 1) for sid in sids] for sids in segments],
                                                 dtype=torch.long)
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
        if self.entity_text_visibility:
            tensors["visibility_mask"] = self._visibility(enc, raw_offsets, parts, rows)
        return EncodedBatch(tensors, kept)
