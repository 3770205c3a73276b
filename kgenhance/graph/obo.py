"""OBO 1.2/1.4 flat files → facts for the `GraphBuilder`, mapped as the OBO→OWL mapping does.

`is_a` becomes rdfs:subClassOf, `relationship: R X` a typed edge R, `intersection_of`
genus/differentia become subClassOf and typed edges, `union_of` members point to the
union class, ids become OBO PURLs (``HP:0000001`` → ``http://purl.obolibrary.org/obo/HP_0000001``).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import OntologyError
from . import vocab as V
from .builder import GraphBuilder

_SYNONYM_SCOPES = {"EXACT": "exact", "RELATED": "related", "BROAD": "broad", "NARROW": "narrow"}
_ABBREVIATION_TYPES = {"abbreviation", "acronym", "ABBREVIATION", "OMO:0003000", "OMO:0003012"}
_ID_SPACE = re.compile(r"^([A-Za-z][\w.-]*):([^\s:]+)$")
# Relations spelled without a prefix map to their standard RO/BFO ids when well known.
_KNOWN_RELATIONS = {"part_of": "BFO:0000050", "has_part": "BFO:0000051"}


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append({"n": "\n", "t": "\t", "W": " "}.get(nxt, nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _quoted(value: str) -> tuple[str, str] | None:
    """Split ``"text" rest`` into (text, rest), honouring backslash escapes."""
    if not value.startswith('"'):
        return None
    i = 1
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        if value[i] == '"':
            return _unescape(value[1:i]), value[i + 1 :].strip()
        i += 1
    return None


def _strip_comment(value: str) -> str:
    """Remove a trailing ``! comment`` and ``{modifiers}`` outside quotes."""
    in_quote, i = False, 0
    while i < len(value):
        c = value[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            in_quote = not in_quote
        elif c == "!" and not in_quote:
            value = value[:i]
            break
        i += 1
    value = value.strip()
    if value.endswith("}") and "{" in value:
        value = value[: value.rfind("{")].strip()
    return value


class OboReader:
    """Reads one OBO document into a `GraphBuilder`."""

    def __init__(self, path: Path, builder: GraphBuilder):
        self.path = path
        self.builder = builder
        self.idspaces: dict[str, str] = {}
        self.ontology = path.stem
        self.relation_ids: dict[str, str] = {}
        self.statements = 0

    def iri(self, ident: str) -> str:
        """The IRI of an OBO identifier (prefixed id, URL, or unprefixed relation name)."""
        ident = ident.strip()
        if ident.startswith(("http://", "https://", "urn:")):
            return ident
        if ident in self.relation_ids:
            return self.iri(self.relation_ids[ident])
        m = _ID_SPACE.match(ident)
        if m:
            prefix, local = m.groups()
            if prefix in self.idspaces:
                return self.idspaces[prefix] + local
            return f"{V.OBO}{prefix}_{local}"
        if ident in _KNOWN_RELATIONS:
            return self.iri(_KNOWN_RELATIONS[ident])
        return f"{V.OBO}{self.ontology}#{ident}"

    def read(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            line = self.path.read_bytes()[: exc.start].count(b"\n") + 1
            raise OntologyError("the file is not valid UTF-8", str(self.path), line) from exc
        except OSError as exc:
            raise OntologyError(f"cannot read file ({exc.strerror or exc})", str(self.path)) from exc
        if not text.strip():
            raise OntologyError("the file is empty", str(self.path))
        stanzas = self._stanzas(text)
        # Typedefs first: relationship tags may name them before they are defined.
        for kind, tags, _ in stanzas:
            if kind == "Typedef":
                for ident in tags.get("id", []):
                    for x in tags.get("xref", []):
                        x = x.split()[0]
                        if _ID_SPACE.match(x) and x.split(":")[0] in ("RO", "BFO"):
                            self.relation_ids[ident] = x
                            break
        for kind, tags, line in stanzas:
            self._stanza(kind, tags, line)

    def _stanzas(self, text: str) -> list[tuple[str, dict[str, list[str]], int]]:
        stanzas: list[tuple[str, dict[str, list[str]], int]] = []
        kind, tags, start = "header", {}, 1
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("!"):
                continue
            if line.startswith("[") and line.endswith("]"):
                stanzas.append((kind, tags, start))
                kind, tags, start = line[1:-1].strip(), {}, lineno
                continue
            if ":" not in line:
                raise OntologyError(f"malformed OBO line (no 'tag: value'): {line[:80]!r}", str(self.path), lineno)
            tag, value = line.split(":", 1)
            tags.setdefault(tag.strip(), []).append(value.strip())
        stanzas.append((kind, tags, start))
        header = stanzas[0][1]
        for entry in header.get("idspace", []):
            parts = entry.split()
            if len(parts) >= 2:
                self.idspaces[parts[0]] = parts[1]
        if header.get("ontology"):
            self.ontology = header["ontology"][0].removesuffix(".obo")
        return stanzas

    def _stanza(self, kind: str, tags: dict[str, list[str]], line: int) -> None:
        if kind not in ("Term", "Typedef", "Instance"):
            return
        ids = tags.get("id")
        if not ids:
            raise OntologyError(f"[{kind}] stanza without an id", str(self.path), line)
        b = self.builder
        s = self.iri(ids[0])
        n = 1
        b.set_kind(s, {"Term": "class", "Typedef": "property", "Instance": "individual"}[kind])
        for name in tags.get("name", []):
            b.add_label(s, _unescape(name))
            n += 1
        if kind == "Typedef" and tags.get("name"):
            b.label_relation(s, _unescape(tags["name"][0]))
        for value in tags.get("synonym", []):
            parsed = _quoted(value)
            if parsed is None:
                raise OntologyError(f"malformed synonym {value[:80]!r}", str(self.path), line)
            text, rest = parsed
            words = rest.split("[")[0].split()
            scope = _SYNONYM_SCOPES.get(words[0].upper(), "related") if words else "related"
            if len(words) > 1 and words[1] in _ABBREVIATION_TYPES:
                scope = "abbreviation"
            if len(words) > 1 and words[1] == "obsolete_synonym":
                continue
            b.add_synonym(s, text, scope)
            n += 1
        for value in tags.get("def", []):
            parsed = _quoted(value)
            if parsed is None:
                raise OntologyError(f"malformed def {value[:80]!r}", str(self.path), line)
            b.add_definition(s, parsed[0])
            n += 1
        for value in tags.get("comment", []):
            b.add_definition(s, _unescape(value), fallback=True)
            n += 1
        for value in tags.get("xref", []):
            b.add_xref(s, _strip_comment(value).split()[0] if _strip_comment(value) else "")
            n += 1
        obsolete = any(v.strip().lower() == "true" for v in tags.get("is_obsolete", []))
        replaced = [self.iri(_strip_comment(v)) for v in tags.get("replaced_by", [])]
        if obsolete:
            b.mark_deprecated(s, replaced[0] if replaced else None)
            n += 1 + len(replaced)
        for value in tags.get("is_a", []):
            target = _strip_comment(value).split()[0]
            b.add_edge(s, V.RDFS_SUBPROPERTY_OF if kind == "Typedef" else V.RDFS_SUBCLASS_OF, self.iri(target))
            n += 1
        for value in tags.get("relationship", []):
            parts = _strip_comment(value).split()
            if len(parts) < 2:
                raise OntologyError(f"malformed relationship {value[:80]!r}", str(self.path), line)
            b.add_edge(s, self.iri(parts[0]), self.iri(parts[1]))
            n += 1
        for value in tags.get("intersection_of", []):
            parts = _strip_comment(value).split()
            if len(parts) == 1:
                b.add_edge(s, V.RDFS_SUBCLASS_OF, self.iri(parts[0]))
            elif len(parts) >= 2:
                b.add_edge(s, self.iri(parts[0]), self.iri(parts[1]))
            n += 1
        for value in tags.get("union_of", []):
            parts = _strip_comment(value).split()
            if parts:
                b.add_edge(self.iri(parts[-1]), V.RDFS_SUBCLASS_OF, s)
                n += 1
        for value in tags.get("disjoint_from", []):
            b.add_edge(s, V.OWL + "disjointWith", self.iri(_strip_comment(value).split()[0]))
            n += 1
        for value in tags.get("instance_of", []):
            target = self.iri(_strip_comment(value).split()[0])
            b.add_type(s, target)
            b.add_edge(s, V.RDF_TYPE, target)
            n += 1
        for value in tags.get("inverse_of", []):
            b.add_edge(s, V.OWL + "inverseOf", self.iri(_strip_comment(value).split()[0]))
            n += 1
        self.statements += n


def read_obo(path: Path, builder: GraphBuilder) -> int:
    """Parse an OBO file into `builder`; returns the number of OBO statements read."""
    reader = OboReader(path, builder)
    reader.read()
    return reader.statements
