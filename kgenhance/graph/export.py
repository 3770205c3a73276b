"""Write a `KnowledgeGraph` to GraphML (networkx), PyG tensors (safetensors) or N-Triples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._io import atomic_path
from ..errors import KGEnhanceError
from . import vocab as V
from .model import KnowledgeGraph

if TYPE_CHECKING:
    import torch_geometric

EXPORT_FORMATS = ("networkx-graphml", "pyg", "nt")

_SYNONYM_PREDICATE = {
    "exact": V.OBO_IN_OWL + "hasExactSynonym",
    "related": V.OBO_IN_OWL + "hasRelatedSynonym",
    "broad": V.OBO_IN_OWL + "hasBroadSynonym",
    "narrow": V.OBO_IN_OWL + "hasNarrowSynonym",
    "abbreviation": V.CMNS_AV + "abbreviation",
}


def export_graph(graph: KnowledgeGraph, out: str | Path, fmt: str) -> list[Path]:
    """Write `graph` as `fmt` to `out` (atomically); returns the files written.

    * ``networkx-graphml``: `to_networkx()` as GraphML (nodes: IRI, label, kind; edges: relation).
    * ``pyg``: `edge_index` (2, E) and `edge_type` (E,) int64 tensors in a safetensors file
      (no pickle), num_nodes / relation IRIs in its metadata, and the entity IRIs in id order
      in ``OUT.entities.txt`` beside it.
    * ``nt``: N-Triples of the entities' labels, synonyms, definitions, xrefs, replacements
      and every typed edge; loading it back gives the same entities and edges.
    """
    if fmt not in EXPORT_FORMATS:
        raise KGEnhanceError(f"unknown export format {fmt!r} (choose from {', '.join(EXPORT_FORMATS)})")
    out = Path(out)
    if fmt == "networkx-graphml":
        import networkx as nx

        with atomic_path(out) as tmp:
            nx.write_graphml(graph.to_networkx(), tmp)
        return [out]
    if fmt == "pyg":
        return _write_pyg(graph, out)
    return [_write_ntriples(graph, out)]


def _write_pyg(graph: KnowledgeGraph, out: Path) -> list[Path]:
    import torch
    from safetensors.torch import save_file

    data = graph.to_pyg()
    meta = {
        "format": "kgenhance-pyg",
        "num_nodes": str(data.num_nodes),
        "num_relations": str(data.num_relations),
        "relations": json.dumps(graph.relations),
        "content_hash": graph.content_hash,
    }
    tensors = {"edge_index": data.edge_index.to(torch.int64).contiguous(),
               "edge_type": data.edge_type.to(torch.int64).contiguous()}
    names = out.with_name(out.name + ".entities.txt")
    with atomic_path(names) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            for e in graph.entities:
                fh.write(e.iri + "\n")
    with atomic_path(out) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return [out, names]


def load_pyg_export(path: str | Path) -> "torch_geometric.data.Data":
    """Read a ``pyg`` export back into a PyG `Data` (with `relations` and `entities` lists)."""
    from safetensors import safe_open
    from torch_geometric.data import Data

    path = Path(path)
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
        if meta.get("format") != "kgenhance-pyg":
            raise KGEnhanceError(f"{path}: not a kgenhance PyG export")
        edge_index, edge_type = fh.get_tensor("edge_index"), fh.get_tensor("edge_type")
    entities = path.with_name(path.name + ".entities.txt").read_text(encoding="utf-8").splitlines()
    return Data(edge_index=edge_index, edge_type=edge_type, num_nodes=int(meta["num_nodes"]),
                num_relations=int(meta["num_relations"]), relations=json.loads(meta["relations"]),
                entities=entities)


def _write_ntriples(graph: KnowledgeGraph, out: Path) -> Path:
    import pyoxigraph as ox

    iri = ox.NamedNode
    label, definition = iri(V.RDFS_LABEL), iri(V.DEFINITION_PREDICATES[1])
    xref, rdf_type = iri(V.OBO_IN_OWL + "hasDbXref"), iri(V.RDF_TYPE)
    replaced = iri(V.OBO + "IAO_0100001")
    kinds = {"class": iri(V.OWL + "Class"), "property": iri(V.OWL + "ObjectProperty"),
             "individual": iri(V.OWL + "NamedIndividual")}
    synonym = {k: iri(p) for k, p in _SYNONYM_PREDICATE.items()}
    nodes = [iri(e.iri) for e in graph.entities]
    relations = [iri(r) for r in graph.relations]

    def triples():
        for node, e in zip(nodes, graph.entities):
            if e.kind in kinds:
                yield ox.Triple(node, rdf_type, kinds[e.kind])
            if e.label:
                yield ox.Triple(node, label, ox.Literal(e.label))
            for s in e.synonyms:
                yield ox.Triple(node, synonym.get(s.kind, synonym["exact"]), ox.Literal(s.text))
            if e.definition:
                yield ox.Triple(node, definition, ox.Literal(e.definition))
            for x in e.xrefs:
                yield ox.Triple(node, xref, ox.Literal(x))
            if e.replaced_by:
                yield ox.Triple(node, replaced, _iri_or_literal(e.replaced_by))
        for h, r, t in np.asarray(graph.edges).tolist():
            yield ox.Triple(nodes[h], relations[r], nodes[t])

    with atomic_path(out) as tmp:
        ox.serialize(triples(), output=str(tmp), format=ox.RdfFormat.N_TRIPLES)
    return out


def _iri_or_literal(value: str):
    import pyoxigraph as ox

    try:
        return ox.NamedNode(value) if ":" in value and " " not in value else ox.Literal(value)
    except ValueError:
        return ox.Literal(value)
