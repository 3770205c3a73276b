"""The typed knowledge graph every other part of kgenhance reads."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from .._io import atomic_path
from ..errors import KGEnhanceError
from .vocab import RDF_TYPE, RDFS_SUBCLASS_OF, local_name

if TYPE_CHECKING:  # pragma: no cover
    import networkx
    import torch_geometric.data

FORMAT_VERSION = 1

SYNONYM_KINDS = ("label", "exact", "related", "broad", "narrow", "abbreviation")


@dataclass(frozen=True, slots=True)
class Synonym:
    """An alternative name of an entity and how close it is to the entity's meaning."""

    text: str
    kind: str = "exact"  # one of SYNONYM_KINDS


@dataclass(slots=True)
class Entity:
    """One named resource of the ontology: a class, an individual or a property."""

    iri: str
    label: str | None = None
    synonyms: list[Synonym] = field(default_factory=list)
    definition: str | None = None
    kind: str = "class"  # class | individual | property | other
    types: list[str] = field(default_factory=list)
    xrefs: list[str] = field(default_factory=list)
    replaced_by: str | None = None

    @property
    def display_label(self) -> str:
        """The label, or the IRI's local name when the ontology gives none."""
        return self.label or local_name(self.iri)

    def names(self) -> Iterator[Synonym]:
        """The label (kind "label") followed by every synonym."""
        if self.label:
            yield Synonym(self.label, "label")
        yield from self.synonyms


class KnowledgeGraph:
    """Entities with stable integer ids, typed edges between them, and their names.

    Entities are sorted by IRI, so an entity's id is the same every time the same
    ontology is loaded. `edges` is an ``(E, 3)`` int64 array of ``(head, relation, tail)``
    ids, de-duplicated and sorted; `relations` lists relation IRIs by id.
    """

    def __init__(
        self,
        entities: list[Entity],
        relations: list[str],
        edges: np.ndarray,
        *,
        relation_labels: dict[str, str] | None = None,
        triples: int = 0,
        sources: list[str] | None = None,
        unresolved_imports: list[str] | None = None,
        warnings: list[str] | None = None,
    ):
        self.entities = entities
        self.relations = relations
        self.edges = np.asarray(edges, dtype=np.int64).reshape(-1, 3)
        self.relation_labels = dict(relation_labels or {})
        self.triples = int(triples)
        self.sources = list(sources or [])
        self.unresolved_imports = list(unresolved_imports or [])
        self.warnings = list(warnings or [])
        self._ids = {e.iri: i for i, e in enumerate(entities)}
        self._relation_ids = {r: i for i, r in enumerate(relations)}
        self._xref_index: dict[str, list[int]] | None = None
        self._hash: str | None = None
        self._degree: np.ndarray | None = None
        self._children: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ lookup
    def __len__(self) -> int:
        return len(self.entities)

    def __contains__(self, iri: object) -> bool:
        return iri in self._ids

    def __repr__(self) -> str:
        return (
            f"KnowledgeGraph(entities={len(self.entities)}, relations={len(self.relations)}, "
            f"edges={len(self.edges)}, triples={self.triples})"
        )

    def id_of(self, iri: str) -> int:
        """The integer id of the entity with this IRI (KeyError if absent)."""
        return self._ids[iri]

    def entity(self, key: str | int) -> Entity:
        """The entity with this IRI or integer id."""
        return self.entities[key if isinstance(key, int) else self._ids[key]]

    def relation_id(self, iri: str) -> int:
        """The integer id of a relation IRI (KeyError if absent)."""
        return self._relation_ids[iri]

    def relation_label(self, rel: str | int) -> str:
        """A readable name for a relation, from its label or its IRI."""
        iri = self.relations[rel] if isinstance(rel, int) else rel
        return self.relation_labels.get(iri) or local_name(iri)

    def by_xref(self, xref: str) -> list[Entity]:
        """Entities that carry this cross-reference (e.g. ``"UMLS:C0004238"``)."""
        if self._xref_index is None:
            index: dict[str, list[int]] = {}
            for i, e in enumerate(self.entities):
                for x in e.xrefs:
                    index.setdefault(x, []).append(i)
            self._xref_index = index
        return [self.entities[i] for i in self._xref_index.get(xref, [])]

    @property
    def degree(self) -> np.ndarray:
        """Number of edges touching each entity (in + out), by entity id."""
        if self._degree is None:
            n = len(self.entities)
            deg = np.bincount(self.edges[:, 0], minlength=n) + np.bincount(self.edges[:, 2], minlength=n)
            self._degree = deg.astype(np.int64)
        return self._degree

    def parents(self, key: str | int) -> list[Entity]:
        """Direct super-classes (rdfs:subClassOf targets) of an entity, sorted by IRI."""
        return self._targets(key, RDFS_SUBCLASS_OF)

    def types(self, key: str | int) -> list[Entity]:
        """The classes an individual is an instance of (rdf:type targets), sorted by IRI."""
        return self._targets(key, RDF_TYPE)

    def _targets(self, key: str | int, relation: str) -> list[Entity]:
        if relation not in self._relation_ids:
            return []
        eid = key if isinstance(key, int) else self._ids[key]
        rel = self._relation_ids[relation]
        lo, hi = np.searchsorted(self.edges[:, 0], [eid, eid + 1])
        block = self.edges[lo:hi]
        return [self.entities[int(t)] for t in block[block[:, 1] == rel][:, 2]]

    def descendants(self, key: str | int) -> set[int]:
        """Ids of the entity and of everything below it through rdfs:subClassOf (or rdf:type)."""
        root = key if isinstance(key, int) else self._ids[key]
        rels = [self._relation_ids[r] for r in (RDFS_SUBCLASS_OF, RDF_TYPE) if r in self._relation_ids]
        if self._children is None:
            mask = np.isin(self.edges[:, 1], rels)
            sub = self.edges[mask]
            order = np.argsort(sub[:, 2], kind="stable")
            self._children = (sub[order, 2], sub[order, 0])
        tails, heads = self._children
        seen, frontier = {root}, [root]
        while frontier:
            lo = np.searchsorted(tails, frontier, side="left")
            hi = np.searchsorted(tails, frontier, side="right")
            nxt = []
            for a, b in zip(lo.tolist(), hi.tolist()):
                for child in heads[a:b].tolist():
                    if child not in seen:
                        seen.add(child)
                        nxt.append(child)
            frontier = nxt
        return seen

    def path_to_root(self, key: str | int, max_depth: int = 32) -> list[Entity]:
        """The entity followed by its first super-class, that one's, … up to a root.

        An individual's first step is to its first class (rdf:type), then up the class hierarchy.
        """
        path = [self.entity(key)]
        seen = {path[0].iri}
        while len(path) < max_depth:
            parents = self.parents(path[-1].iri) or (self.types(path[-1].iri) if len(path) == 1 else [])
            parents = [p for p in parents if p.iri not in seen]
            if not parents:
                break
            path.append(parents[0])
            seen.add(parents[0].iri)
        return path

    # ------------------------------------------------------------------ summary
    def stats(self) -> dict:
        """Counts that describe the graph (the `kgenhance graph stats` contract)."""
        return {
            "triples": self.triples,
            "entities": len(self.entities),
            "relations": len(self.relations),
            "edges": int(len(self.edges)),
            "classes": sum(1 for e in self.entities if e.kind == "class"),
            "individuals": sum(1 for e in self.entities if e.kind == "individual"),
            "properties": sum(1 for e in self.entities if e.kind == "property"),
            "labelled_entities": sum(1 for e in self.entities if e.label),
            "synonyms": sum(len(e.synonyms) for e in self.entities),
            "definitions": sum(1 for e in self.entities if e.definition),
            "xrefs": sum(len(e.xrefs) for e in self.entities),
            "sources": len(self.sources),
            "unresolved_imports": list(self.unresolved_imports),
        }

    def relation_counts(self) -> dict[str, int]:
        """Edge count per relation IRI, largest first."""
        counts = np.bincount(self.edges[:, 1], minlength=len(self.relations))
        order = np.argsort(-counts, kind="stable")
        return {self.relations[i]: int(counts[i]) for i in order if counts[i]}

    @property
    def content_hash(self) -> str:
        """SHA-256 of the graph's entities, relations and edges: what embeddings are tied to."""
        if self._hash is None:
            h = hashlib.sha256()
            h.update(f"kgenhance-graph-v{FORMAT_VERSION}\n".encode())
            for e in self.entities:
                h.update(e.iri.encode("utf-8"))
                h.update(b"\n")
            h.update(b"\x00relations\n")
            for r in self.relations:
                h.update(r.encode("utf-8"))
                h.update(b"\n")
            h.update(b"\x00edges\n")
            h.update(np.ascontiguousarray(self.edges, dtype="<i8").tobytes())
            self._hash = h.hexdigest()
        return self._hash

    # ------------------------------------------------------------------ exports
    def to_networkx(self) -> "networkx.MultiDiGraph":
        """A networkx MultiDiGraph: nodes are IRIs with label/kind, edges carry their relation IRI."""
        import networkx as nx

        g = nx.MultiDiGraph()
        for e in self.entities:
            g.add_node(e.iri, label=e.display_label, kind=e.kind)
        iris = [e.iri for e in self.entities]
        g.add_edges_from(
            (iris[h], iris[t], {"relation": self.relations[r]}) for h, r, t in self.edges.tolist()
        )
        return g

    def to_pyg(self) -> "torch_geometric.data.Data":
        """A PyG `Data` with `edge_index` (2, E), `edge_type` (E,), `num_nodes`, `num_relations`."""
        import torch
        from torch_geometric.data import Data

        edges = torch.from_numpy(np.ascontiguousarray(self.edges))
        return Data(
            edge_index=edges[:, [0, 2]].t().contiguous(),
            edge_type=edges[:, 1].contiguous(),
            num_nodes=len(self.entities),
            num_relations=len(self.relations),
        )

    # ------------------------------------------------------------------ storage
    def save(self, path: str | Path) -> None:
        """Write the graph to one zip file (JSON + a NumPy edge array), atomically."""
        meta = {
            "format": "kgenhance-graph",
            "version": FORMAT_VERSION,
            "relations": self.relations,
            "relation_labels": self.relation_labels,
            "triples": self.triples,
            "sources": self.sources,
            "unresolved_imports": self.unresolved_imports,
            "warnings": self.warnings,
            "content_hash": self.content_hash,
        }
        entities = [_entity_to_json(e) for e in self.entities]
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(self.edges, dtype="<i8"), allow_pickle=False)
        with atomic_path(path) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                zf.writestr("meta.json", json.dumps(meta, ensure_ascii=False))
                zf.writestr("entities.json", json.dumps(entities, ensure_ascii=False, separators=(",", ":")))
                zf.writestr("edges.npy", buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "KnowledgeGraph":
        """Read a graph written by `save` (never unpickles anything)."""
        try:
            with zipfile.ZipFile(path) as zf:
                meta = json.loads(zf.read("meta.json"))
                if meta.get("format") != "kgenhance-graph" or meta.get("version") != FORMAT_VERSION:
                    raise KGEnhanceError(f"{path}: not a kgenhance graph file of version {FORMAT_VERSION}")
                entities = [_entity_from_json(d) for d in json.loads(zf.read("entities.json"))]
                edges = np.load(io.BytesIO(zf.read("edges.npy")), allow_pickle=False)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise KGEnhanceError(f"{path}: cannot read the saved graph ({exc})") from exc
        graph = cls(
            entities,
            meta["relations"],
            edges,
            relation_labels=meta.get("relation_labels"),
            triples=meta.get("triples", 0),
            sources=meta.get("sources"),
            unresolved_imports=meta.get("unresolved_imports"),
            warnings=meta.get("warnings"),
        )
        if meta.get("content_hash") and graph.content_hash != meta["content_hash"]:
            raise KGEnhanceError(f"{path}: the saved graph is corrupt (content hash mismatch)")
        return graph


def _entity_to_json(e: Entity) -> dict:
    d = asdict(e)
    d["synonyms"] = [[s.text, s.kind] for s in e.synonyms]
    return {k: v for k, v in d.items() if v not in (None, [], "")}


def _entity_from_json(d: dict) -> Entity:
    return Entity(
        iri=d["iri"],
        label=d.get("label"),
        synonyms=[Synonym(t, k) for t, k in d.get("synonyms", [])],
        definition=d.get("definition"),
        kind=d.get("kind", "class"),
        types=list(d.get("types", [])),
        xrefs=list(d.get("xrefs", [])),
        replaced_by=d.get("replaced_by"),
    )


def iter_names(graph: KnowledgeGraph) -> Iterable[tuple[int, Synonym]]:
    """Every (entity id, name) pair of the graph, labels first within an entity."""
    for i, e in enumerate(graph.entities):
        for s in e.names():
            yield i, s
