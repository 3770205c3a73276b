"""The lexicon: every label and synonym of a graph, normalised, in an Aho–Corasick automaton."""

from __future__ import annotations

import math
from dataclasses import dataclass

import ahocorasick

from ..errors import KGEnhanceError
from ..graph.model import KnowledgeGraph
from .normalize import is_stopword_only, normalize_term

# How much a name of each kind says that the entity is meant (before the degree prior).
KIND_WEIGHTS = {"label": 1.0, "exact": 0.9, "abbreviation": 0.8, "related": 0.5, "broad": 0.4, "narrow": 0.4}


@dataclass(frozen=True)
class LexiconEntry:
    """One entity a normalised name can refer to."""

    entity_id: int
    kind: str
    prior: float  # probability of this entity among the name's entities
    forms: tuple[str, ...]  # original spellings; used when the match must respect case


class Lexicon:
    """Normalised names → candidate entities with prior probabilities."""

    def __init__(
        self,
        graph: KnowledgeGraph,
        *,
        entity_kinds: tuple[str, ...] = ("class", "individual", "other"),
        case_sensitive_max_length: int = 3,
        exclude_branches: tuple[str, ...] = (),
    ):
        self.case_sensitive_max_length = case_sensitive_max_length
        excluded: set[int] = set()
        for iri in exclude_branches:
            if iri not in graph:
                raise KGEnhanceError(f"exclude_branches: {iri} is not an entity of the graph")
            excluded |= graph.descendants(iri)
        names: dict[str, dict[int, tuple[str, set[str]]]] = {}
        degree = graph.degree
        for eid, ent in enumerate(graph.entities):
            if ent.kind not in entity_kinds or eid in excluded:
                continue
            for syn in ent.names():
                key = normalize_term(syn.text)
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
        self.entries: dict[str, tuple[LexiconEntry, ...]] = {}
        automaton = ahocorasick.Automaton()
        for key, per_entity in names.items():
            weights = {
                eid: KIND_WEIGHTS.get(kind, 0.3) * (1.0 + 0.1 * math.log1p(int(degree[eid])))
                for eid, (kind, _) in per_entity.items()
            }
            total = sum(weights.values())
            entries = sorted(
                (
                    LexiconEntry(eid, kind, weights[eid] / total, tuple(sorted(forms)))
                    for eid, (kind, forms) in per_entity.items()
                ),
                key=lambda e: (-e.prior, e.entity_id),
            )
            self.entries[key] = tuple(entries)
            automaton.add_word(key, key)
        automaton.make_automaton()
        self.automaton = automaton

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, name: str) -> tuple[LexiconEntry, ...]:
        """The entities a name (any spelling) refers to, most likely first."""
        return self.entries.get(normalize_term(name), ())

    def needs_case(self, key: str) -> bool:
        """Short names (abbreviations such as "AF") must match with their original case."""
        return len(key.strip()) <= self.case_sensitive_max_length
