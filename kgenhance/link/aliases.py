"""User aliases: extra names for ontology entities (e.g. spellings seen in annotated text)."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Iterable

from ..errors import DataError
from ..graph.model import SYNONYM_KINDS, KnowledgeGraph, Synonym


def read_aliases(path: str | Path) -> list[tuple[str, str]]:
    """``(name, entity IRI)`` pairs from a two-column TSV file (``#`` lines are comments)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such aliases file")
    pairs = []
    with path.open(encoding="utf-8", newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), 1):
            if not row or not "".join(row).strip() or row[0].startswith("#"):
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise DataError(f"{path}:{lineno}: expected 'name<TAB>entity IRI', got {row!r}")
            pairs.append((row[0].strip(), row[1].strip()))
    return pairs


def add_aliases(graph: KnowledgeGraph, aliases: Iterable[tuple[str, str]], kind: str = "exact") -> KnowledgeGraph:
    """A copy of `graph` whose entities also carry the given names (as synonyms of `kind`).

    Names already on the entity are skipped; an IRI that is not in the graph is an error.
    The copy has the same entities, relations and edges, hence the same content hash:
    entity embeddings trained on `graph` stay valid.
    """
    if kind not in SYNONYM_KINDS:
        raise DataError(f"alias kind must be one of {', '.join(SYNONYM_KINDS)}, not {kind!r}")
    extra: dict[int, list[str]] = {}
    for name, iri in aliases:
        if iri not in graph:
            raise DataError(f"alias {name!r}: {iri} is not an entity of the graph")
        extra.setdefault(graph.id_of(iri), []).append(name)
    entities = list(graph.entities)
    for eid, names in extra.items():
        ent = entities[eid]
        have = {s.text for s in ent.names()}
        new = [Synonym(n, kind) for n in dict.fromkeys(names) if n not in have]
        if new:
            entities[eid] = dataclasses.replace(ent, synonyms=[*ent.synonyms, *new])
    copy = KnowledgeGraph(
        entities,
        graph.relations,
        graph.edges,
        relation_labels=graph.relation_labels,
        triples=graph.triples,
        sources=graph.sources,
        unresolved_imports=graph.unresolved_imports,
        warnings=graph.warnings,
    )
    copy._hash = graph._hash
    return copy
