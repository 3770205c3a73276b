"""RDF/OWL files → triples (pyoxigraph's parsers, after safety checks) → a `FactCollector`."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
import pyoxigraph as ox
from defusedxml import DefusedXmlException

from ..errors import OntologyError
from .facts import FactCollector

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

_OX_FORMATS = {
    "xml": ox.RdfFormat.RDF_XML,
    "turtle": ox.RdfFormat.TURTLE,
    "n3": ox.RdfFormat.N3,
    "nt": ox.RdfFormat.N_TRIPLES,
    "nquads": ox.RdfFormat.N_QUADS,
    "trig": ox.RdfFormat.TRIG,
    "json-ld": ox.RdfFormat.JSON_LD,
}
_LINE_FORMATS = {"nt", "nquads"}  # one statement per line: safe to read in chunks
_CHUNK = 32 << 20
_parse_counter = itertools.count()


def rdf_format(path: Path) -> str | None:
    """The format name for a file, from its suffix (None if not an RDF file)."""
    return RDF_SUFFIXES.get(path.suffix.lower())


def parse_rdf_file(
    collector: FactCollector, path: Path, fmt: str, *, allow_network: bool = False, progress=None
) -> None:
    """Parse one file into `collector`; `progress(n_bytes)` is called as line-based files are read."""
    try:
        if fmt in _LINE_FORMATS:
            _parse_lines(collector, path, fmt, progress)
            return
        data = path.read_bytes()
    except OSError as exc:
        raise OntologyError(f"cannot read file ({exc.strerror or exc})", str(path)) from exc
    parse_rdf_data(collector, data, fmt, str(path), path.resolve().as_uri(), allow_network=allow_network)
    if progress is not None:
        progress(len(data))


def _parse_lines(collector: FactCollector, path: Path, fmt: str, progress) -> None:
    """N-Triples/N-Quads in chunks of whole lines: bounded memory, a progress callback, true line numbers."""
    line = 0
    empty = True
    with path.open("rb") as fh:
        rest = b""
        while True:
            block = fh.read(_CHUNK)
            data = rest + block
            if not block:
                rest = b""
            else:
                cut = data.rfind(b"\n") + 1
                data, rest = data[:cut], data[cut:]
            if data.strip():
                empty = False
                _parse_into(collector, data, fmt, str(path), None, line_offset=line)
            line += data.count(b"\n")
            if progress is not None:
                progress(len(data))
            if not block:
                break
    if empty:
        raise OntologyError("the file is empty", str(path))


def parse_rdf_data(
    collector: FactCollector, data: bytes, fmt: str, source: str, base_iri: str, *, allow_network: bool = False
) -> None:
    """Parse RDF bytes (from a file or a download) into `collector`, after the safety checks; `source` names it."""
    if not data.strip():
        raise OntologyError("the file is empty", source)
    if fmt == "xml":
        _check_xml(data, source)
    if fmt == "json-ld" and not allow_network:
        _refuse_remote_context(data, source)
    _parse_into(collector, data, fmt, source, None if fmt in _LINE_FORMATS else base_iri)


def _parse_into(collector: FactCollector, data: bytes, fmt: str, source: str, base_iri: str | None,
                line_offset: int = 0) -> None:
    try:
        quads = ox.parse(data, format=_OX_FORMATS[fmt], base_iri=base_iri)
        collector.add_quads(quads, f"b{next(_parse_counter)}_")  # blank node labels are local to one parse
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        raise OntologyError(_parse_message(exc), source, line + line_offset if line else None) from exc


def _check_xml(data: bytes, source: str) -> None:
    """Refuse external entities and entity-expansion bombs before the parser sees the file.

    pyoxigraph's RDF/XML parser expands internal entities without a limit (a "billion
    laughs" file would exhaust memory), so every RDF/XML file is first parsed by defusedxml
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


def _parse_message(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    if len(msg) > 300:
        msg = msg[:300] + "…"
    return f"cannot parse ({type(exc).__name__}: {msg})"


# ---------------------------------------------------------------------- extraction
