"""A stream of RDF triples → names, kinds and typed edges in a `GraphBuilder`.

Triples arrive one at a time from any parser (`kgenhance.graph.rdf`) as plain Python
terms: an IRI is a `str`, a blank node a `Blank`, a literal a `Lit`. Nothing is kept per
triple except a 64-bit hash (to count distinct triples the way an RDF store does) and,
for blank nodes only, their outgoing triples, so that OWL class expressions can be
traversed once every file is read. Blank nodes never become entities.
"""

from __future__ import annotations

import re
from array import array
from collections import defaultdict
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

if TYPE_CHECKING:
    import pyoxigraph

from . import vocab as V
from .builder import GraphBuilder


class Blank(str):
    """A blank node's id (unique across the files of one load)."""

    __slots__ = ()


class Lit:
    """A literal: its lexical form, language tag ('' if none) and datatype IRI ('' if plain)."""

    __slots__ = ("value", "language", "datatype")

    def __init__(self, value: str, language: str = "", datatype: str = ""):
        self.value = value
        self.language = language
        self.datatype = datatype

    def key(self) -> tuple[str, str, str]:
        return (self.value, self.language, self.datatype)

    def __repr__(self) -> str:
        return f"Lit({self.value!r}, language={self.language!r}, datatype={self.datatype!r})"


Term = "str | Blank | Lit"

# Lexical forms of the XSD datatypes whose malformed values we count (and keep as text).
_XSD_LEXICAL = {
    V.XSD + "dateTime": re.compile(r"-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"),
    V.XSD + "dateTimeStamp": re.compile(r"-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"),
    V.XSD + "date": re.compile(r"-?\d{4,}-\d\d-\d\d(Z|[+-]\d\d:\d\d)?"),
    V.XSD + "time": re.compile(r"\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"),
    V.XSD + "gYear": re.compile(r"-?\d{4,}(Z|[+-]\d\d:\d\d)?"),
    V.XSD + "integer": re.compile(r"[+-]?\d+"),
    V.XSD + "int": re.compile(r"[+-]?\d+"),
    V.XSD + "long": re.compile(r"[+-]?\d+"),
    V.XSD + "nonNegativeInteger": re.compile(r"\+?\d+"),
    V.XSD + "positiveInteger": re.compile(r"\+?\d*[1-9]\d*"),
    V.XSD + "decimal": re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)"),
    V.XSD + "double": re.compile(r"[+-]?((\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|INF)|NaN"),
    V.XSD + "float": re.compile(r"[+-]?((\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|INF)|NaN"),
    V.XSD + "boolean": re.compile(r"true|false|1|0"),
}

_PLAIN_DATATYPES = frozenset({V.XSD + "string", V.RDF + "langString"})
_ON_PROPERTY = V.OWL + "onProperty"
_INVERSE_OF = V.OWL + "inverseOf"
_FILLERS = tuple(V.OWL + p for p in ("someValuesFrom", "allValuesFrom", "hasValue", "onClass"))
_INTERSECTION = V.OWL + "intersectionOf"
_UNION = V.OWL + "unionOf"
_RDF_FIRST = V.RDF + "first"
_RDF_REST = V.RDF + "rest"
_RDF_NIL = V.RDF + "nil"
_DOMAIN_RANGE = (V.RDFS + "domain", V.RDFS + "range")
UNION_MEMBER = V.OWL + "unionOf"  # edge S → M for S ⊑ (M ⊔ …): "S is covered by its union members"

# What a literal-valued predicate means: (kind, extra)
_LITERAL_ROLE: dict[str, tuple[str, str]] = {}
for _p in V.LABEL_PREDICATES:
    _LITERAL_ROLE[_p] = ("label", "")
for _p, _kind in V.SYNONYM_PREDICATES.items():
    _LITERAL_ROLE[_p] = ("synonym", _kind)
for _p in V.DEFINITION_PREDICATES:
    _LITERAL_ROLE[_p] = ("definition", "")
for _p in V.FALLBACK_DEFINITION_PREDICATES:
    _LITERAL_ROLE[_p] = ("fallback", "")
for _p in V.XREF_PREDICATES:
    _LITERAL_ROLE[_p] = ("xref", "")
for _p in V.REPLACED_BY_PREDICATES:
    _LITERAL_ROLE[_p] = ("replaced_by", "")
_LITERAL_ROLE[V.OWL_DEPRECATED] = ("deprecated", "")


class FactCollector:
    """Feeds a `GraphBuilder` from triples; call `add` for each, then `finish` once."""

    def __init__(self, builder: GraphBuilder):
        self.builder = builder
        self.ontologies: set[str] = set()
        self.imports: set[str] = set()
        self.malformed = 0
        self.malformed_example = ""
        self._version_iris: list[tuple[str, str]] = []
        self._annotation_props: set[str] = set()
        self._inverse_pairs: list[tuple[str, str]] = []
        self._bnodes: dict[Blank, list[tuple[str, object]]] = defaultdict(list)
        self._expressions: list[tuple[str, str, Blank]] = []  # (named subject, axiom predicate, bnode)
        self._hashes = array("q")

    # ------------------------------------------------------------------ stream
    def add_quads(self, quads: Iterable["pyoxigraph.Quad"], blank_prefix: str) -> None:
        """`add` pyoxigraph quads (graph names ignored); blank node ids get `blank_prefix`.

        The hot loop of loading: literals on named subjects (half of a typical ontology's
        triples) go straight to `_literal` without a `Lit` object; everything else goes
        through `add`. RDF-star triple terms are skipped.
        """
        import pyoxigraph as ox

        named, blank, literal = ox.NamedNode, ox.BlankNode, ox.Literal
        plain = _PLAIN_DATATYPES
        hashes = self._hashes.append
        for q in quads:
            s, o = q.subject, q.object
            p = q.predicate.value
            ts, to = type(s), type(o)
            if ts is named and to is literal:
                s = s.value
                value, lang = o.value, o.language
                if lang is None:
                    lang, dt = "", o.datatype.value
                    if dt in plain:
                        dt = ""
                else:
                    dt = ""
                hashes(hash((s, p, (value, lang, dt))))
                self._literal(s, p, value, lang, dt)
                continue
            if ts is named:
                s = s.value
            elif ts is blank:
                s = Blank(blank_prefix + s.value)
            else:
                continue
            if to is named:
                o = o.value
            elif to is literal:
                dt = o.datatype.value
                o = Lit(o.value, o.language or "", "" if dt in plain else dt)
            elif to is blank:
                o = Blank(blank_prefix + o.value)
            else:
                continue
            self.add(s, p, o)

    def add(self, s: str, p: str, o: object) -> None:
        """Take one triple: subject IRI or `Blank`, predicate IRI, object IRI, `Blank` or `Lit`."""
        okey = o.key() if type(o) is Lit else o
        self._hashes.append(hash((s, p, okey)))
        if type(s) is Blank:
            self._bnodes[s].append((p, o))
            return
        if type(o) is Lit:
            self._literal(s, p, o.value, o.language, o.datatype)
            return
        if p == V.RDF_TYPE:
            if type(o) is str:
                self._declare(s, o)
            return
        if p in V.XREF_PREDICATES:
            if type(o) is str:
                self.builder.add_xref(s, o)
            return
        if p in V.REPLACED_BY_PREDICATES:
            if type(o) is str:
                self.builder.set_replaced_by(s, o)
            return
        if p == V.OWL_IMPORTS:
            if type(o) is str:
                self.imports.add(o)
            return
        if p == V.OWL_VERSION_IRI:
            if type(o) is str:
                self._version_iris.append((s, o))
            return
        if type(o) is Blank:
            if p in (V.RDFS_SUBCLASS_OF, V.OWL_EQUIVALENT_CLASS) or p in _DOMAIN_RANGE:
                self._expressions.append((s, p, o))
            return
        if p == _INVERSE_OF:
            self._inverse_pairs.append((s, o))
        if p in V.EDGE_PREDICATES or not (V.is_builtin(p) or p.startswith(V.ANNOTATION_NAMESPACES)):
            if not V.is_builtin(o):
                self.builder.add_edge(s, p, o)

    def _count_malformed(self, s: str, p: str, value: str, datatype: str) -> None:
        self.malformed += 1
        if not self.malformed_example:
            self.malformed_example = f"{value!r} is not a valid {V.local_name(datatype)} ({s} {p})"

    def _literal(self, s: str, p: str, value: str, lang: str, datatype: str) -> None:
        """A literal on a named subject: checked against its XSD datatype, then given its role."""
        if datatype:
            pattern = _XSD_LEXICAL.get(datatype)
            if pattern is not None and not pattern.fullmatch(value.strip()):
                self._count_malformed(s, p, value, datatype)
        role = _LITERAL_ROLE.get(p)
        if role is None:
            return
        kind, extra = role
        b = self.builder
        if kind == "label":
            b.add_label(s, value, lang)
        elif kind == "synonym":
            b.add_synonym(s, value, extra, lang)
        elif kind == "definition":
            b.add_definition(s, value, lang)
        elif kind == "fallback":
            b.add_definition(s, value, lang, fallback=True)
        elif kind == "xref":
            b.add_xref(s, value)
        elif kind == "replaced_by":
            b.set_replaced_by(s, value)
        elif kind == "deprecated" and value.strip().lower() in ("true", "1"):
            b.mark_deprecated(s)

    def _declare(self, s: str, o: str) -> None:
        b = self.builder
        if o in V.CLASS_TYPES:
            b.set_kind(s, "class")
        elif o in V.PROPERTY_TYPES:
            b.set_kind(s, "property")
            if o in V.NON_EDGE_PROPERTY_TYPES:
                self._annotation_props.add(s)
        elif o in V.INDIVIDUAL_TYPES:
            b.set_kind(s, "individual")
        elif o == V.OWL_ONTOLOGY:
            self.ontologies.add(s)
        elif not V.is_builtin(o):
            b.set_kind(s, "individual")
            b.add_type(s, o)
            b.add_edge(s, V.RDF_TYPE, o)

    # ------------------------------------------------------------------ finish
    @property
    def triples(self) -> int:
        """Distinct triples seen so far (as an RDF store would count them)."""
        return int(np.unique(np.frombuffer(self._hashes, dtype=np.int64)).size) if self._hashes else 0

    def ontology_iris(self) -> set[str]:
        """Ontology headers and their version IRIs."""
        found = set(self.ontologies)
        found |= {v for s, v in self._version_iris if s in self.ontologies}
        return found

    def finish(self) -> dict[str, list[str]]:
        """Traverse class expressions, add inverse edges, drop non-edges; returns ontologies and imports."""
        b = self.builder
        for s, p, node in self._expressions:
            if p in _DOMAIN_RANGE:
                for _, target, _ in self._expression_targets(node, 0, union_as=p, default=p):
                    b.add_edge(s, p, target)
                continue
            union_as = UNION_MEMBER if p == V.RDFS_SUBCLASS_OF else "reverse"
            for rel, target, reverse in self._expression_targets(node, 0, union_as=union_as):
                if reverse:
                    b.add_edge(target, rel, s)
                else:
                    b.add_edge(s, rel, target)
        ontologies = self.ontology_iris()
        for o in ontologies:
            b.exclude(o)
        b.drop_relations |= self._annotation_props
        self._add_inverse_edges()
        return {"ontologies": sorted(ontologies), "imports": sorted(self.imports)}

    def _add_inverse_edges(self) -> None:
        inverse: dict[str, set[str]] = defaultdict(set)
        for p, q in self._inverse_pairs:
            inverse[p].add(q)
            inverse[q].add(p)
        if not inverse:
            return
        self.builder.add_inverse_edges(inverse)

    def _value(self, node: Blank, predicate: str) -> object | None:
        for p, o in self._bnodes.get(node, ()):
            if p == predicate:
                return o
        return None

    def _objects(self, node: Blank, predicate: str) -> Iterator[object]:
        for p, o in self._bnodes.get(node, ()):
            if p == predicate:
                yield o

    def _list_members(self, head: object) -> list[object]:
        members, seen = [], set()
        while type(head) is Blank and head not in seen:
            seen.add(head)
            first = self._value(head, _RDF_FIRST)
            if first is not None:
                members.append(first)
            head = self._value(head, _RDF_REST)
        return members

    def _expression_targets(self, node: Blank, depth: int, union_as: str = "reverse", default: str | None = None):
        """Yield (relation, named target, reverse?) for an OWL class expression.

        A restriction on P yields P-typed edges to its fillers (someValuesFrom, allValuesFrom,
        hasValue, onClass for qualified cardinalities); intersection members are super-classes;
        union members are sub-classes when the union is equivalent to the subject
        (``union_as="reverse"``) and `union_as`-typed edges otherwise.
        """
        if depth > 8:
            return
        sub = default or V.RDFS_SUBCLASS_OF
        prop = self._value(node, _ON_PROPERTY)
        if prop is not None:
            reverse = False
            if type(prop) is Blank:  # owl:inverseOf P as the restricted property
                inner = self._value(prop, _INVERSE_OF)
                if type(inner) is not str:
                    return
                prop, reverse = inner, True
            if type(prop) is not str:
                return
            for filler_pred in _FILLERS:
                for filler in self._objects(node, filler_pred):
                    if type(filler) is str:
                        if not V.is_builtin(filler):
                            yield prop, filler, reverse
                    elif type(filler) is Blank:
                        for _, target, _ in self._expression_targets(filler, depth + 1, UNION_MEMBER):
                            yield prop, target, reverse
            return
        for list_pred, is_union in ((_INTERSECTION, False), (_UNION, True)):
            head = self._value(node, list_pred)
            if head is None:
                continue
            for m in self._list_members(head):
                if type(m) is str:
                    if V.is_builtin(m):
                        continue
                    if not is_union:
                        yield sub, m, False
                    elif union_as == "reverse":
                        yield sub, m, True  # S ≡ A ⊔ B: A ⊑ S
                    else:
                        yield union_as, m, False
                elif type(m) is Blank:
                    inner_union = union_as if not is_union or union_as != "reverse" else UNION_MEMBER
                    yield from self._expression_targets(m, depth + 1, inner_union, default)
