"""The lexicon: every label and synonym of a graph, normalised, in an Aho–Corasick automaton.

Names are indexed twice: by their exact normalised key ("atrial fibrillation") and by
their lemma key ("seizures" → "seizure"). The automaton runs over lemma keys, so one
pass over a text finds exact and inflected matches alike; the exact key then tells which
of the two a match is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import ahocorasick
import numpy as np

from .._io import atomic_directory
from ..errors import KGEnhanceError
from ..graph.model import KnowledgeGraph
from .normalize import NORMALIZATION_VERSION, is_stopword_only, lemma, tokenize

log = logging.getLogger(__name__)

# How much a name of each kind says that the entity is meant (before the degree prior).
KIND_WEIGHTS = {"label": 1.0, "exact": 0.9, "abbreviation": 0.8, "related": 0.5, "broad": 0.4, "narrow": 0.4}


@dataclass(frozen=True)
class LexiconEntry:
    """One entity a normalised name can refer to."""

    entity_id: int
    kind: str
    prior: float  # probability of this entity among the name's entities
    forms: tuple[str, ...]  # original spellings; used when the match must respect case


def _names_digest(graph: KnowledgeGraph, options: dict) -> str:
    h = hashlib.sha256(f"lexicon-v{NORMALIZATION_VERSION}".encode())
    h.update(json.dumps(options, sort_keys=True).encode())
    for e in graph.entities:
        h.update(e.iri.encode())
        h.update(e.kind.encode())
        for s in e.names():
            h.update(b"\0" + s.text.encode() + b"\1" + s.kind.encode())
    return h.hexdigest()[:32]


KINDS = tuple(KIND_WEIGHTS) + ("other",)


class EntryTable:
    """Read-only mapping: name key → its ranked `LexiconEntry` tuple, stored as flat arrays."""

    def __init__(self, keys: list[str], offsets: np.ndarray, entity_ids: np.ndarray, kinds: np.ndarray,
                 priors: np.ndarray, forms: dict[str, dict[str, list[str]]]):
        self.keys = keys
        self.row = {k: i for i, k in enumerate(keys)}
        self.offsets, self.entity_ids, self.kinds, self.priors = offsets, entity_ids, kinds, priors
        self.forms = forms  # only for short keys, which must match with their original case
        self._memo: dict[str, tuple[LexiconEntry, ...]] = {}

    @classmethod
    def build(cls, ranked: dict[str, tuple[LexiconEntry, ...]], keep_forms) -> "EntryTable":
        keys = list(ranked)
        counts = np.fromiter((len(ranked[k]) for k in keys), dtype=np.int64, count=len(keys))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        flat = [e for k in keys for e in ranked[k]]
        kind_id = {k: i for i, k in enumerate(KINDS)}
        forms = {k: {str(e.entity_id): list(e.forms) for e in ranked[k]} for k in keys if keep_forms(k)}
        return cls(
            keys,
            offsets,
            np.fromiter((e.entity_id for e in flat), dtype=np.int32, count=len(flat)),
            np.fromiter((kind_id.get(e.kind, len(KINDS) - 1) for e in flat), dtype=np.int8, count=len(flat)),
            np.fromiter((e.prior for e in flat), dtype=np.float32, count=len(flat)),
            forms,
        )

    def get(self, key: str, default=None):
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        i = self.row.get(key)
        if i is None:
            return default
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        forms = self.forms.get(key, {})
        hit = tuple(
            LexiconEntry(int(eid), KINDS[int(kind)], float(prior), tuple(forms.get(str(int(eid)), ())))
            for eid, kind, prior in zip(self.entity_ids[lo:hi], self.kinds[lo:hi], self.priors[lo:hi])
        )
        self._memo[key] = hit
        return hit

    def __getitem__(self, key: str) -> tuple[LexiconEntry, ...]:
        hit = self.get(key)
        if hit is None:
            raise KeyError(key)
        return hit

    def __contains__(self, key: object) -> bool:
        return key in self.row

    def __iter__(self):
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}_offsets": self.offsets,
            f"{prefix}_entity_ids": self.entity_ids,
            f"{prefix}_kinds": self.kinds,
            f"{prefix}_priors": self.priors,
        }

    @classmethod
    def from_arrays(cls, prefix: str, arrays, keys: list[str], forms) -> "EntryTable":
        return cls(
            keys,
            arrays[f"{prefix}_offsets"],
            arrays[f"{prefix}_entity_ids"],
            arrays[f"{prefix}_kinds"],
            arrays[f"{prefix}_priors"],
            forms,
        )


class Lexicon:
    """Normalised names → candidate entities with prior probabilities.

    `entries` maps exact keys, `lemma_entries` lemma keys, to entities ranked by prior.
    With `cache_dir`, the normalised tables are kept there (numpy arrays + JSON, no
    pickle) under a digest of the graph's names and the options, so the next build of
    the same lexicon skips normalisation and ranking.
    """

    def __init__(
        self,
        graph: KnowledgeGraph,
        *,
        entity_kinds: tuple[str, ...] = ("class", "individual", "other"),
        case_sensitive_max_length: int = 3,
        exclude_branches: tuple[str, ...] = (),
        cache_dir: Path | None = None,
    ):
        self.case_sensitive_max_length = case_sensitive_max_length
        for iri in exclude_branches:
            if iri not in graph:
                raise KGEnhanceError(f"exclude_branches: {iri} is not an entity of the graph")
        options = {"kinds": list(entity_kinds), "excluded": list(exclude_branches), "case": case_sensitive_max_length}
        self.digest = _names_digest(graph, options)
        tables = self._read_cache(cache_dir, self.digest)
        if tables is None:
            excluded: set[int] = set()
            for iri in exclude_branches:
                excluded |= graph.descendants(iri)
            tables = self._build(graph, entity_kinds, excluded)
            self._write_cache(cache_dir, self.digest, *tables)
        self.entries, self.lemma_entries = tables
        automaton = ahocorasick.Automaton()
        for key in self.lemma_entries:
            automaton.add_word(key, key)
        automaton.make_automaton()
        self.automaton = automaton  # over lemma keys
        self._exact_automaton = None

    def _build(self, graph: KnowledgeGraph, entity_kinds: tuple[str, ...], excluded: set[int]):
        from tqdm.auto import tqdm

        names: dict[str, dict[int, tuple[str, set[str]]]] = {}
        # a bar only where building takes long enough to wonder (a TTY, ≥ 50k entities; TQDM_DISABLE=1 hides it)
        entities = tqdm(graph.entities, desc="building the lexicon", unit="entity", leave=False,
                        disable=None if len(graph.entities) >= 50_000 else True)
        for eid, ent in enumerate(entities):
            if ent.kind not in entity_kinds or eid in excluded:
                continue
            for syn in ent.names():
                key = tokenize(syn.text).key()
                if len(key.strip()) < 2 or is_stopword_only(key):
                    continue
                per_entity = names.setdefault(key, {})
                kind, forms = per_entity.get(eid, (syn.kind, set()))
                if KIND_WEIGHTS.get(syn.kind, 0.3) > KIND_WEIGHTS.get(kind, 0.3):
                    kind = syn.kind
                forms.add(syn.text)
                per_entity[eid] = (kind, forms)
        if not names:
            raise KGEnhanceError("the graph has no linkable names (no labels or synonyms on its entities)")
        degree = graph.degree
        by_lemma: dict[str, dict[int, tuple[str, set[str]]]] = defaultdict(dict)
        for key, per_entity in names.items():
            merged = by_lemma[" " + " ".join(lemma(t) for t in key.split()) + " "]
            for eid, (kind, forms) in per_entity.items():
                old_kind, old_forms = merged.get(eid, (kind, set()))
                if KIND_WEIGHTS.get(kind, 0.3) > KIND_WEIGHTS.get(old_kind, 0.3):
                    old_kind = kind
                merged[eid] = (old_kind, old_forms | forms)
        return (
            EntryTable.build({k: self._rank(v, degree) for k, v in names.items()}, self.needs_case),
            EntryTable.build({k: self._rank(v, degree) for k, v in by_lemma.items()}, self.needs_case),
        )

    @staticmethod
    def _read_cache(cache_dir: Path | None, digest: str):
        if cache_dir is None:
            return None
        folder = cache_dir / digest
        try:
            meta = json.loads((folder / "names.json").read_text(encoding="utf-8"))
            with np.load(folder / "tables.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            return (
                EntryTable.from_arrays("exact", arrays, meta["exact_keys"], meta["exact_forms"]),
                EntryTable.from_arrays("lemma", arrays, meta["lemma_keys"], meta["lemma_forms"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.debug("lexicon cache unreadable (%s): rebuilding", exc)
            return None

    @staticmethod
    def _write_cache(cache_dir: Path | None, digest: str, exact: EntryTable, lemmas: EntryTable) -> None:
        if cache_dir is None:
            return
        meta = {"exact_keys": exact.keys, "exact_forms": exact.forms, "lemma_keys": lemmas.keys, "lemma_forms": lemmas.forms}
        try:
            with atomic_directory(cache_dir / digest) as tmp:
                (tmp / "names.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
                np.savez(tmp / "tables.npz", **exact.arrays("exact"), **lemmas.arrays("lemma"))
        except OSError as exc:  # a cache that cannot be written is not an error
            log.warning("could not write the lexicon cache under %s (%s)", cache_dir, exc)

    @staticmethod
    def _rank(per_entity: dict[int, tuple[str, set[str]]], degree) -> tuple[LexiconEntry, ...]:
        weights = {
            eid: KIND_WEIGHTS.get(kind, 0.3) * (1.0 + 0.1 * math.log1p(int(degree[eid])))
            for eid, (kind, _) in per_entity.items()
        }
        total = sum(weights.values())
        return tuple(
            sorted(
                (
                    LexiconEntry(eid, kind, weights[eid] / total, tuple(sorted(forms)))
                    for eid, (kind, forms) in per_entity.items()
                ),
                key=lambda e: (-e.prior, e.entity_id),
            )
        )

    @property
    def exact_automaton(self) -> ahocorasick.Automaton:
        """An automaton over the exact keys (for linking without lemmas; built on first use)."""
        if self._exact_automaton is None:
            automaton = ahocorasick.Automaton()
            for key in self.entries:
                automaton.add_word(key, key)
            automaton.make_automaton()
            self._exact_automaton = automaton
        return self._exact_automaton

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, name: str) -> tuple[LexiconEntry, ...]:
        """The entities a name (any spelling or inflection) refers to, most likely first."""
        tt = tokenize(name)
        return self.entries.get(tt.key()) or self.lemma_entries.get(tt.key(lemmatized=True), ())

    def needs_case(self, key: str) -> bool:
        """Short names (abbreviations such as "AF") must match with their original case."""
        return len(key.strip()) <= self.case_sensitive_max_length
