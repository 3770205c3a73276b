"""RDF/OWL files → rdflib graph (safely) → facts for the `GraphBuilder`."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
import rdflib
from defusedxml import DefusedXmlException
from rdflib import BNode, Literal, URIRef
from rdflib.collection import Collection

from ..errors import OntologyError
from . import vocab as V
from .builder import GraphBuilder

RDF_SUFFIXES = {
    ".rdf": "xml",
    ".owl": "xml",
    ".xml": "xml",
    ".ttl": "turtle",
    ".turtle": "turtle",
    ".n3": "n3",
    ".nt": "nt",
    ".ntriples": "nt",
    ".nq": "nquads",
    ".trig": "trig",
    ".jsonld": "json-ld",
    ".json-ld": "json-ld",
}

_EXTERNAL_ENTITY = re.compile(rb"<!ENTITY\s+%?\s*[\w.:-]+\s+(SYSTEM|PUBLIC)\b", re.IGNORECASE)

_T_RDF_TYPE = URIRef(V.RDF_TYPE)
_T_SUBCLASS = URIRef(V.RDFS_SUBCLASS_OF)
_T_EQUIV = URIRef(V.OWL_EQUIVALENT_CLASS)
_T_ON_PROPERTY = URIRef(V.OWL + "onProperty")
_T_INVERSE_OF = URIRef(V.OWL + "inverseOf")
_FILLERS = tuple(URIRef(V.OWL + p) for p in ("someValuesFrom", "allValuesFrom", "hasValue", "onClass"))
_T_INTERSECTION = URIRef(V.OWL + "intersectionOf")
_T_UNION = URIRef(V.OWL + "unionOf")


def rdf_format(path: Path) -> str | None:
    """The rdflib format name for a file, from its suffix (None if not an RDF file)."""
    return RDF_SUFFIXES.get(path.suffix.lower())


class _CountingHandler(logging.Handler):
    """Counts rdflib's per-literal conversion warnings instead of printing each one."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.example = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if not self.example:
            self.example = record.getMessage().splitlines()[0][:160]


def parse_rdf_file(graph: rdflib.Graph, path: Path, fmt: str, *, allow_network: bool = False) -> int:
    """Parse one file into `graph`; returns how many malformed literals rdflib warned about."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OntologyError(f"cannot read file ({exc.strerror or exc})", str(path)) from exc
    return parse_rdf_data(graph, data, fmt, str(path), path.resolve().as_uri(), allow_network=allow_network)


def parse_rdf_data(
    graph: rdflib.Graph, data: bytes, fmt: str, source: str, public_id: str, *, allow_network: bool = False
) -> int:
    """Parse RDF bytes (from a file or a download) into `graph`, after the safety checks; `source` names it."""
    if not data.strip():
        raise OntologyError("the file is empty", source)
    if fmt == "xml":
        _check_xml(data, source)
    if fmt == "json-ld" and not allow_network:
        _refuse_remote_context(data, source)

    rdflib_logger = logging.getLogger("rdflib")
    handler = _CountingHandler()
    old_propagate = rdflib_logger.propagate
    rdflib_logger.addHandler(handler)
    rdflib_logger.propagate = False
    try:
        graph.parse(data=data, format=fmt, publicID=public_id)
    except Exception as exc:  # rdflib raises many types; all mean "cannot parse this file"
        raise OntologyError(_parse_message(exc), source, _error_line(exc)) from exc
    finally:
        rdflib_logger.removeHandler(handler)
        rdflib_logger.propagate = old_propagate
    return handler.count


def _check_xml(data: bytes, source: str) -> None:
    """Refuse external entities and entity-expansion bombs before rdflib's SAX parser sees the file.

    rdflib's parser neither refuses external entities nor stops a "billion laughs"
    expansion in reasonable time, so every RDF/XML file is first parsed by defusedxml
    (expat with external references forbidden and its input-amplification limit on).
    """
    head = data[: data.find(b"<rdf:RDF") if b"<rdf:RDF" in data else 65536]
    if _EXTERNAL_ENTITY.search(head):
        raise OntologyError("the file declares an external XML entity (SYSTEM/PUBLIC); refused for safety", source)
    try:
        SafeET.fromstring(data, forbid_dtd=False, forbid_entities=False, forbid_external=True)
    except DefusedXmlException as exc:
        raise OntologyError(f"unsafe XML refused ({type(exc).__name__})", source) from exc
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        if "amplification" in str(exc):
            raise OntologyError("XML entity expansion too large (an entity bomb?); refused", source, line) from exc
        raise OntologyError(f"not well-formed XML ({str(exc).split(':')[0]})", source, line) from exc


def _refuse_remote_context(data: bytes, source: str) -> None:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise OntologyError(f"invalid JSON ({exc.msg})", source, getattr(exc, "lineno", None)) from exc

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ctx = node.get("@context")
            for c in ctx if isinstance(ctx, list) else [ctx]:
                if isinstance(c, str) and re.match(r"^[a-zA-Z][\w+.-]*:", c):
                    raise OntologyError(
                        f"JSON-LD @context {c!r} is remote; pass allow_network=True to fetch it", source
                    )
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)


def _error_line(exc: BaseException) -> int | None:
    for attr in ("getLineNumber",):
        fn = getattr(exc, attr, None)
        if callable(fn):
            try:
                return int(fn())
            except Exception:  # pragma: no cover - defensive
                return None
    line = getattr(exc, "lines", None) or getattr(exc, "lineno", None)
    if isinstance(line, int):
        return line
    m = re.search(r"line (\d+)", str(exc))
    return int(m.group(1)) if m else None


def _parse_message(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    if len(msg) > 300:
        msg = msg[:300] + "…"
    return f"cannot parse ({type(exc).__name__}: {msg})"


# ---------------------------------------------------------------------- extraction
def _text(lit: Literal) -> str:
    # Malformed typed literals (e.g. a bad xsd:dateTime) keep their lexical form.
    return str(lit)


def extract_facts(g: rdflib.Graph, builder: GraphBuilder) -> dict[str, list[str]]:
    """Feed labels, synonyms, definitions, kinds and typed edges of `g` into `builder`.

    Returns ``{"ontologies": [...], "imports": [...]}`` for import resolution.
    """
    ontologies: set[str] = set()
    imports: set[str] = set()
    annotation_props: set[str] = set()
    for s, _, o in g.triples((None, _T_RDF_TYPE, None)):
        if not isinstance(s, URIRef) or not isinstance(o, URIRef):
            continue
        o_s, s_s = str(o), str(s)
        if o_s == V.OWL_ONTOLOGY:
            ontologies.add(s_s)
        elif o_s in V.NON_EDGE_PROPERTY_TYPES:
            annotation_props.add(s_s)
    for ont in list(ontologies):
        builder.exclude(ont)
        for v in g.objects(URIRef(ont), URIRef(V.OWL_VERSION_IRI)):
            if isinstance(v, URIRef):
                ontologies.add(str(v))
                builder.exclude(str(v))
        for imp in g.objects(URIRef(ont), URIRef(V.OWL_IMPORTS)):
            if isinstance(imp, URIRef):
                imports.add(str(imp))

    syn_preds = V.SYNONYM_PREDICATES
    for s, p, o in g:
        if not isinstance(s, URIRef):
            continue  # blank nodes are traversed from their named subject, never entities
        s_s, p_s = str(s), str(p)
        if isinstance(o, Literal):
            lang = o.language or ""
            if p_s in V.LABEL_PREDICATES:
                builder.add_label(s_s, _text(o), lang)
            elif p_s in syn_preds:
                builder.add_synonym(s_s, _text(o), syn_preds[p_s], lang)
            elif p_s in V.DEFINITION_PREDICATES:
                builder.add_definition(s_s, _text(o), lang)
            elif p_s in V.FALLBACK_DEFINITION_PREDICATES:
                builder.add_definition(s_s, _text(o), lang, fallback=True)
            elif p_s in V.XREF_PREDICATES:
                builder.add_xref(s_s, _text(o))
            elif p_s == V.OWL_DEPRECATED and _text(o).strip().lower() in ("true", "1"):
                builder.mark_deprecated(s_s)
            elif p_s in V.REPLACED_BY_PREDICATES:
                builder.set_replaced_by(s_s, _text(o))
            continue
        if p_s == V.RDF_TYPE:
            if isinstance(o, URIRef):
                _declare(builder, s_s, str(o))
            continue
        if p_s in V.XREF_PREDICATES and isinstance(o, URIRef):
            builder.add_xref(s_s, str(o))
            continue
        if p_s in V.REPLACED_BY_PREDICATES and isinstance(o, URIRef):
            builder.set_replaced_by(s_s, str(o))
            continue
        if s_s in ontologies:
            continue
        if p_s in (V.RDFS_SUBCLASS_OF, V.OWL_EQUIVALENT_CLASS):
            _class_axiom(g, builder, s_s, p_s, o)
            continue
        if not _is_edge_predicate(p_s, annotation_props):
            continue
        if isinstance(o, URIRef) and str(o) not in ontologies and not V.is_builtin(str(o)):
            builder.add_edge(s_s, p_s, str(o))
    return {"ontologies": sorted(ontologies), "imports": sorted(imports)}


def _declare(builder: GraphBuilder, s: str, o: str) -> None:
    if o in V.CLASS_TYPES:
        builder.set_kind(s, "class")
    elif o in V.PROPERTY_TYPES:
        builder.set_kind(s, "property")
    elif o in V.INDIVIDUAL_TYPES:
        builder.set_kind(s, "individual")
    elif o == V.OWL_ONTOLOGY or V.is_builtin(o):
        return
    else:
        builder.set_kind(s, "individual")
        builder.add_type(s, o)
        builder.add_edge(s, V.RDF_TYPE, o)


def _is_edge_predicate(p: str, annotation_props: set[str]) -> bool:
    if p in V.EDGE_PREDICATES:
        return True
    if V.is_builtin(p) or p.startswith(V.ANNOTATION_NAMESPACES) or p in annotation_props:
        return False
    return True


def _class_axiom(g: rdflib.Graph, builder: GraphBuilder, s: str, p: str, o: object) -> None:
    """subClassOf / equivalentClass: a named class is an edge; an expression is traversed."""
    if isinstance(o, URIRef):
        if not V.is_builtin(str(o)):
            builder.add_edge(s, p, str(o))
        return
    if not isinstance(o, BNode):
        return
    for rel, target, reverse in _expression_targets(g, o, depth=0):
        rel = rel or V.RDFS_SUBCLASS_OF
        if reverse:
            builder.add_edge(target, rel, s)
        else:
            builder.add_edge(s, rel, target)


def _expression_targets(g: rdflib.Graph, node: BNode, depth: int):
    """Yield (relation or None, named target, reverse?) for an OWL class expression."""
    if depth > 8:
        return
    prop = g.value(node, _T_ON_PROPERTY)
    if prop is not None:
        reverse = False
        if isinstance(prop, BNode):  # owl:inverseOf P as the property
            inner = g.value(prop, _T_INVERSE_OF)
            if not isinstance(inner, URIRef):
                return
            prop, reverse = inner, True
        for filler_pred in _FILLERS:
            for filler in g.objects(node, filler_pred):
                if isinstance(filler, URIRef):
                    if not V.is_builtin(str(filler)):
                        yield str(prop), str(filler), reverse
                elif isinstance(filler, BNode):
                    for _, target, _ in _expression_targets(g, filler, depth + 1):
                        yield str(prop), target, reverse
        return
    for list_pred, is_union in ((_T_INTERSECTION, False), (_T_UNION, True)):
        head = g.value(node, list_pred)
        if head is None:
            continue
        try:
            members = list(Collection(g, head))
        except Exception:  # a malformed RDF list: nothing to traverse
            members = []
        for m in members:
            if isinstance(m, URIRef):
                if not V.is_builtin(str(m)):
                    # intersection: S ⊑ M; union used as superclass: keep S ⊑ (M ⊔ …) as S→M
                    yield None, str(m), False
            elif isinstance(m, BNode):
                yield from _expression_targets(g, m, depth + 1)
