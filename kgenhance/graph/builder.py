"""Accumulates names, kinds and edges from any parser, then builds a `KnowledgeGraph`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .model import Entity, KnowledgeGraph, Synonym
from .vocab import RELATION_LABELS, RDFS_SUBCLASS_OF, is_builtin

_KIND_RANK = {"property": 0, "class": 1, "individual": 2, "other": 3}


@dataclass
class _Record:
    labels: list[tuple[str, str]] = field(default_factory=list)  # (text, lang)
    synonyms: list[tuple[str, str, str]] = field(default_factory=list)  # (text, kind, lang)
    definitions: list[tuple[str, str]] = field(default_factory=list)
    fallback_definitions: list[tuple[str, str]] = field(default_factory=list)
    xrefs: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    kind: str | None = None
    deprecated: bool = False
    replaced_by: str | None = None


class GraphBuilder:
    """Collects facts about IRIs; `build()` turns them into a sorted, typed graph."""

    def __init__(self, lang: str = "en"):
        self.lang = lang.lower()
        self.records: dict[str, _Record] = {}
        self.edges: set[tuple[str, str, str]] = set()
        self.relation_labels: dict[str, str] = dict(RELATION_LABELS)
        self.excluded: set[str] = set()
        self.drop_relations: set[str] = set()  # predicates that turned out not to be edges

    def _rec(self, iri: str) -> _Record:
        rec = self.records.get(iri)
        if rec is None:
            rec = self.records[iri] = _Record()
        return rec

    def add_label(self, iri: str, text: str, lang: str = "") -> None:
        text = " ".join(text.split())
        if text:
            self._rec(iri).labels.append((text, lang.lower()))

    def add_synonym(self, iri: str, text: str, kind: str = "exact", lang: str = "") -> None:
        text = " ".join(text.split())
        if text:
            self._rec(iri).synonyms.append((text, kind, lang.lower()))

    def add_definition(self, iri: str, text: str, lang: str = "", fallback: bool = False) -> None:
        text = text.strip()
        if text:
            rec = self._rec(iri)
            (rec.fallback_definitions if fallback else rec.definitions).append((text, lang.lower()))

    def add_xref(self, iri: str, xref: str) -> None:
        xref = xref.strip()
        if xref:
            self._rec(iri).xrefs.append(xref)

    def add_type(self, iri: str, type_iri: str) -> None:
        self._rec(iri).types.append(type_iri)

    def set_kind(self, iri: str, kind: str) -> None:
        """Record a declared kind; with several declarations, property > class > individual."""
        rec = self._rec(iri)
        if rec.kind is None or _KIND_RANK[kind] < _KIND_RANK[rec.kind]:
            rec.kind = kind

    def mark_deprecated(self, iri: str, replaced_by: str | None = None) -> None:
        rec = self._rec(iri)
        rec.deprecated = True
        if replaced_by:
            rec.replaced_by = replaced_by

    def set_replaced_by(self, iri: str, replaced_by: str) -> None:
        self._rec(iri).replaced_by = replaced_by

    def add_edge(self, head: str, relation: str, tail: str) -> None:
        if head != tail or relation != RDFS_SUBCLASS_OF:
            self.edges.add((head, relation, tail))

    def label_relation(self, relation: str, label: str) -> None:
        self.relation_labels.setdefault(relation, label)

    def exclude(self, iri: str) -> None:
        """Never make `iri` an entity (ontology headers, for instance)."""
        self.excluded.add(iri)

    # ------------------------------------------------------------------ build
    def _lang_rank(self, lang: str) -> int:
        if lang == self.lang:
            return 0
        if not lang:
            return 1
        if lang.split("-")[0] == self.lang:
            return 2
        return 3

    def _pick(self, values: list[tuple[str, str]]) -> tuple[str | None, list[str]]:
        """The best text by language (then alphabetically), and the other texts in usable languages."""
        if not values:
            return None, []
        ranked = sorted(set(values), key=lambda v: (self._lang_rank(v[1]), v[0]))
        best = ranked[0][0]
        usable = self._lang_rank(ranked[0][1]) < 3
        rest = [t for t, lang in ranked[1:] if (self._lang_rank(lang) < 3 or not usable) and t != best]
        return best, rest

    def build(
        self,
        *,
        triples: int = 0,
        sources: list[str] | None = None,
        unresolved_imports: list[str] | None = None,
        include_deprecated: bool = False,
        warnings: list[str] | None = None,
    ) -> KnowledgeGraph:
        """Make the graph: every non-builtin, non-excluded IRI that has a fact or an edge."""
        dropped = set(self.excluded)
        if not include_deprecated:
            dropped |= {iri for iri, rec in self.records.items() if rec.deprecated}
        if self.drop_relations:
            self.edges = {e for e in self.edges if e[1] not in self.drop_relations}
        relations_used = {r for _, r, _ in self.edges}
        candidates = set(self.records)
        for h, _, t in self.edges:
            candidates.add(h)
            candidates.add(t)
        iris = sorted(i for i in candidates if i not in dropped and not is_builtin(i))

        subclass_targets = {t for _, r, t in self.edges if r == RDFS_SUBCLASS_OF}
        subclass_heads = {h for h, r, _ in self.edges if r == RDFS_SUBCLASS_OF}
        empty = _Record()
        entities = []
        for iri in iris:
            rec = self.records.get(iri, empty)
            label, other_labels = self._pick(rec.labels)
            synonyms: list[Synonym] = []
            seen = {label} if label else set()
            for text in other_labels:
                if text not in seen:
                    seen.add(text)
                    synonyms.append(Synonym(text, "exact"))
            for text, kind, lang in sorted(set(rec.synonyms), key=lambda s: (self._lang_rank(s[2]), s[0], s[1])):
                if self._lang_rank(lang) < 3 and text not in seen:
                    seen.add(text)
                    synonyms.append(Synonym(text, kind))
            definition, _ = self._pick(rec.definitions)
            if definition is None:
                definition, _ = self._pick(rec.fallback_definitions)
            kind = rec.kind
            if kind is None:
                if iri in relations_used:
                    kind = "property"
                elif iri in subclass_targets or iri in subclass_heads:
                    kind = "class"
                elif rec.types:
                    kind = "individual"
                else:
                    kind = "other"
            entities.append(
                Entity(
                    iri=iri,
                    label=label,
                    synonyms=synonyms,
                    definition=definition,
                    kind=kind,
                    types=sorted(set(t for t in rec.types if not is_builtin(t))),
                    xrefs=sorted(set(rec.xrefs)),
                    replaced_by=rec.replaced_by,
                )
            )

        index = {iri: i for i, iri in enumerate(iris)}
        kept = [(h, r, t) for h, r, t in self.edges if h in index and t in index]
        relations = sorted({r for _, r, _ in kept})
        rindex = {r: i for i, r in enumerate(relations)}
        if kept:
            arr = np.array([(index[h], rindex[r], index[t]) for h, r, t in kept], dtype=np.int64)
            arr = np.unique(arr, axis=0)  # sorted by head, relation, tail
        else:
            arr = np.zeros((0, 3), dtype=np.int64)
        labels = {r: self.relation_labels[r] for r in relations if r in self.relation_labels}
        for r in relations:  # a property declared in the ontology is named by its own label
            if r in index and entities[index[r]].label:
                labels[r] = entities[index[r]].label  # type: ignore[assignment]
            elif r not in labels and r in self.records:
                label, _ = self._pick(self.records[r].labels)
                if label:
                    labels[r] = label
        return KnowledgeGraph(
            entities,
            relations,
            arr,
            relation_labels=labels,
            triples=triples,
            sources=sources,
            unresolved_imports=sorted(set(unresolved_imports or [])),
            warnings=warnings,
        )
