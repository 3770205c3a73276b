"""Accumulates names, kinds and edges from any parser, then builds a `KnowledgeGraph`."""

from __future__ import annotations

from array import array

import numpy as np

from .model import Entity, KnowledgeGraph, Synonym
from .vocab import RELATION_LABELS, RDFS_SUBCLASS_OF, is_builtin

_KIND_RANK = {"property": 0, "class": 1, "individual": 2, "other": 3}


class _Record:
    """Facts about one IRI; each list exists only once it has a value (memory at UMLS scale)."""

    __slots__ = ("labels", "synonyms", "definitions", "fallback_definitions", "xrefs", "types", "kind",
                 "deprecated", "replaced_by")

    def __init__(self) -> None:
        self.labels: list[tuple[str, str]] | None = None  # (text, lang)
        self.synonyms: list[tuple[str, str, str]] | None = None  # (text, kind, lang)
        self.definitions: list[tuple[str, str]] | None = None
        self.fallback_definitions: list[tuple[str, str]] | None = None
        self.xrefs: list[str] | None = None
        self.types: list[str] | None = None
        self.kind: str | None = None
        self.deprecated = False
        self.replaced_by: str | None = None


class GraphBuilder:
    """Collects facts about IRIs; `build()` turns them into a sorted, typed graph."""

    def __init__(self, lang: str = "en"):
        self.lang = lang.lower()
        self.records: dict[str, _Record] = {}
        # Edges as integer triples (head node, relation, tail node) in a flat array: 24 bytes each.
        self._node_ids: dict[str, int] = {}
        self._nodes: list[str] = []
        self._relation_ids: dict[str, int] = {}
        self._relations: list[str] = []
        self._edges = array("q")
        self.relation_labels: dict[str, str] = dict(RELATION_LABELS)
        self.excluded: set[str] = set()
        self.drop_relations: set[str] = set()  # predicates that turned out not to be edges

    def _rec(self, iri: str) -> _Record:
        rec = self.records.get(iri)
        if rec is None:
            rec = self.records[iri] = _Record()
        return rec

    def _push(self, iri: str, slot: str, value: object) -> None:
        """Append to one of the record's lists, making it on first use."""
        rec = self._rec(iri)
        values = getattr(rec, slot)
        if values is None:
            setattr(rec, slot, [value])
        else:
            values.append(value)

    def add_label(self, iri: str, text: str, lang: str = "") -> None:
        text = " ".join(text.split())
        if text:
            self._push(iri, "labels", (text, lang.lower()))

    def add_synonym(self, iri: str, text: str, kind: str = "exact", lang: str = "") -> None:
        text = " ".join(text.split())
        if text:
            self._push(iri, "synonyms", (text, kind, lang.lower()))

    def add_definition(self, iri: str, text: str, lang: str = "", fallback: bool = False) -> None:
        text = text.strip()
        if text:
            self._push(iri, "fallback_definitions" if fallback else "definitions", (text, lang.lower()))

    def add_xref(self, iri: str, xref: str) -> None:
        xref = xref.strip()
        if xref:
            self._push(iri, "xrefs", xref)

    def add_type(self, iri: str, type_iri: str) -> None:
        self._push(iri, "types", type_iri)

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
        if head == tail and relation == RDFS_SUBCLASS_OF:
            return
        ids = self._node_ids
        h = ids.get(head)
        if h is None:
            h = ids[head] = len(self._nodes)
            self._nodes.append(head)
        t = ids.get(tail)
        if t is None:
            t = ids[tail] = len(self._nodes)
            self._nodes.append(tail)
        r = self._relation_ids.get(relation)
        if r is None:
            r = self._relation_ids[relation] = len(self._relations)
            self._relations.append(relation)
        self._edges.extend((h, r, t))

    def add_inverse_edges(self, inverse: dict[str, set[str]]) -> None:
        """For every edge (a, P, b) with P in `inverse`, add (b, Q, a) for each Q in inverse[P]."""
        e = self._edge_array().copy()  # no live view of the array while it grows
        new = []
        for p, qs in inverse.items():
            pid = self._relation_ids.get(p)
            if pid is None:
                continue
            rows = e[e[:, 1] == pid]
            for q in qs:
                if q not in self._relation_ids:
                    self._relation_ids[q] = len(self._relations)
                    self._relations.append(q)
                flipped = np.stack([rows[:, 2], np.full(len(rows), self._relation_ids[q]), rows[:, 0]], axis=1)
                new.append(flipped.astype(np.int64).ravel())
        for block in new:
            self._edges.frombytes(block.tobytes())

    def _edge_array(self) -> np.ndarray:
        return np.frombuffer(self._edges, dtype=np.int64).reshape(-1, 3) if self._edges else np.zeros((0, 3), np.int64)

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

    def _pick(self, values: list[tuple[str, str]] | None) -> tuple[str | None, list[str]]:
        """The best text by language (then alphabetically), and the other texts in usable languages."""
        if not values:
            return None, []
        if len(values) == 1:
            return values[0][0], []
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
        """Make the graph: every non-builtin, non-excluded IRI that has a fact or an edge (once: consumes the records)."""
        dropped = set(self.excluded)
        if not include_deprecated:
            dropped |= {iri for iri, rec in self.records.items() if rec.deprecated}
        e = self._edge_array().copy()
        if self.drop_relations:
            drop = [self._relation_ids[r] for r in self.drop_relations if r in self._relation_ids]
            e = e[~np.isin(e[:, 1], drop)]
        relations_used = {self._relations[r] for r in np.unique(e[:, 1]).tolist()}
        candidates = set(self.records)
        candidates.update(self._nodes[i] for i in np.unique(e[:, [0, 2]]).tolist())
        iris = sorted(i for i in candidates if i not in dropped and not is_builtin(i))

        sub = self._relation_ids.get(RDFS_SUBCLASS_OF, -1)
        in_hierarchy = {self._nodes[i] for i in np.unique(e[e[:, 1] == sub][:, [0, 2]]).tolist()}
        rank = {}
        empty = _Record()
        entities = []
        # Records are released as their entities are made: peak memory is one of the two, not both.
        records = self.records
        relation_records = {r: records[r] for r in self._relations if r in records}
        for iri in iris:
            rec = records.pop(iri, empty)
            label, other_labels = self._pick(rec.labels)
            synonyms: list[Synonym] = []
            seen = {label} if label else set()
            for text in other_labels:
                if text not in seen:
                    seen.add(text)
                    synonyms.append(Synonym(text, "exact"))
            if rec.synonyms:
                ranked = []
                for text, kind, lang in rec.synonyms:
                    r = rank.get(lang)
                    if r is None:
                        r = rank[lang] = self._lang_rank(lang)
                    if r < 3:
                        ranked.append((r, text, kind))
                if len(ranked) > 1:
                    ranked = sorted(set(ranked))
                for _, text, kind in ranked:
                    if text not in seen:
                        seen.add(text)
                        synonyms.append(Synonym(text, kind))
            definition, _ = self._pick(rec.definitions)
            if definition is None:
                definition, _ = self._pick(rec.fallback_definitions)
            kind = rec.kind
            if kind is None:
                if iri in relations_used:
                    kind = "property"
                elif iri in in_hierarchy:
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
                    types=sorted(set(t for t in rec.types if not is_builtin(t))) if rec.types else [],
                    xrefs=sorted(set(rec.xrefs)) if rec.xrefs else [],
                    replaced_by=rec.replaced_by,
                )
            )

        index = {iri: i for i, iri in enumerate(iris)}
        node_to_entity = np.fromiter((index.get(n, -1) for n in self._nodes), dtype=np.int64, count=len(self._nodes))
        heads, tails = node_to_entity[e[:, 0]], node_to_entity[e[:, 2]]
        keep = (heads >= 0) & (tails >= 0)
        used = np.unique(e[keep, 1])
        relations = sorted(self._relations[r] for r in used.tolist())
        relation_to_new = np.full(len(self._relations), -1, dtype=np.int64)
        for new_id, r in enumerate(relations):
            relation_to_new[self._relation_ids[r]] = new_id
        arr = np.stack([heads[keep], relation_to_new[e[keep, 1]], tails[keep]], axis=1)
        arr = _unique_rows(arr)  # sorted by head, relation, tail
        labels = {r: self.relation_labels[r] for r in relations if r in self.relation_labels}
        for r in relations:  # a property declared in the ontology is named by its own label
            if r in index and entities[index[r]].label:
                labels[r] = entities[index[r]].label  # type: ignore[assignment]
            elif r not in labels and r in relation_records:
                label, _ = self._pick(relation_records[r].labels)
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


def _unique_rows(arr: np.ndarray) -> np.ndarray:
    """Distinct rows of an (E, 3) int array, sorted by column 0, then 1, then 2."""
    if len(arr) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    order = np.lexsort((arr[:, 2], arr[:, 1], arr[:, 0]))
    arr = arr[order]
    first = np.ones(len(arr), dtype=bool)
    first[1:] = np.any(arr[1:] != arr[:-1], axis=1)
    return np.ascontiguousarray(arr[first], dtype=np.int64)
