"""kgenhance.graph: parsing, semantics, exports, storage, cache and bad input."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import rdflib

from kgenhance.errors import OntologyError
from kgenhance.graph import KnowledgeGraph, load_graph
from kgenhance.graph.vocab import RDF_TYPE, RDFS, RDFS_SUBCLASS_OF

from conftest import MED, TINY_TTL


def edge_set(g: KnowledgeGraph) -> set[tuple[str, str, str]]:
    return {(g.entities[h].iri, g.relations[r], g.entities[t].iri) for h, r, t in g.edges.tolist()}


def test_turtle_entities_names_and_kinds(tiny_graph):
    g = tiny_graph
    iris = [e.iri for e in g.entities]
    assert iris == sorted(iris), "entity ids follow sorted IRIs"
    expected = {MED + n for n in ("Disease", "HeartDisease", "Arrhythmia", "AtrialFibrillation", "NervousDisease",
                                  "Seizure", "Heart", "Patient", "affects", "hasCondition", "patient42")}
    assert set(iris) == expected  # no blank node, no ontology header, no deprecated OldTerm
    disease = g.entity(MED + "Disease")
    assert disease.label == "disease"  # English preferred over French
    assert disease.definition == "A disorder of structure or function."
    af = g.entity(MED + "AtrialFibrillation")
    assert ("AF", "exact") in {(s.text, s.kind) for s in af.synonyms}
    assert g.entity(MED + "affects").kind == "property"
    assert g.entity(MED + "patient42").kind == "individual"
    assert g.entity(MED + "patient42").types == [MED + "Patient"]
    assert g.entity(MED + "Heart").kind == "class"


def test_turtle_edges_are_typed(tiny_graph):
    edges = edge_set(tiny_graph)
    assert (MED + "HeartDisease", RDFS_SUBCLASS_OF, MED + "Disease") in edges
    # the owl:Restriction on a blank node becomes an edge typed by its property
    assert (MED + "AtrialFibrillation", MED + "affects", MED + "Heart") in edges
    assert (MED + "patient42", RDF_TYPE, MED + "Patient") in edges
    assert (MED + "patient42", MED + "hasCondition", MED + "AtrialFibrillation") in edges
    assert (MED + "affects", RDFS + "domain", MED + "Disease") in edges
    assert len(edges) == 9
    assert tiny_graph.relation_label(MED + "hasCondition") == "has condition"


def test_triple_count_matches_rdflib(tiny_graph, tiny_ttl):
    g = rdflib.Graph().parse(tiny_ttl, format="turtle")
    assert tiny_graph.triples == len(g)
    # independent SPARQL count of named classes (deprecated one included) vs our kinds
    q = "SELECT (COUNT(DISTINCT ?c) AS ?n) WHERE { ?c a <http://www.w3.org/2002/07/owl#Class> FILTER(isIRI(?c)) }"
    n_classes = int(next(iter(g.query(q)))[0])
    assert tiny_graph.stats()["classes"] == n_classes - 1  # OldTerm is deprecated


def test_unresolved_imports_are_listed_not_fetched(tiny_graph):
    assert tiny_graph.unresolved_imports == ["http://example.org/remote-ontology"]


def test_deprecated_kept_on_request(tiny_ttl):
    g = load_graph(tiny_ttl, include_deprecated=True, cache=False)
    assert MED + "OldTerm" in g


def test_language_choice(tiny_ttl):
    g = load_graph(tiny_ttl, lang="fr", cache=False)
    assert g.entity(MED + "Disease").label == "maladie"


def test_paths_and_descendants(tiny_graph):
    path = [e.display_label for e in tiny_graph.path_to_root(MED + "AtrialFibrillation")]
    assert path == ["atrial fibrillation", "arrhythmia", "heart disease", "disease"]
    # an individual goes to its class first, then up the hierarchy
    assert [e.display_label for e in tiny_graph.path_to_root(MED + "patient42")] == ["patient 42", "patient"]
    assert [e.iri for e in tiny_graph.types(MED + "patient42")] == [MED + "Patient"]
    below = {tiny_graph.entities[i].iri for i in tiny_graph.descendants(MED + "HeartDisease")}
    assert below == {MED + "HeartDisease", MED + "Arrhythmia", MED + "AtrialFibrillation"}


def test_exports(tiny_graph):
    nxg = tiny_graph.to_networkx()
    assert nxg.number_of_nodes() == len(tiny_graph)
    assert nxg.number_of_edges() == len(tiny_graph.edges)
    assert nxg.nodes[MED + "Seizure"]["label"] == "seizure"
    data = tiny_graph.to_pyg()
    assert tuple(data.edge_index.shape) == (2, 9)
    assert data.edge_type.shape == (9,)
    assert data.num_nodes == len(tiny_graph)
    h, r, t = tiny_graph.edges[0]
    assert (int(data.edge_index[0, 0]), int(data.edge_type[0]), int(data.edge_index[1, 0])) == (h, r, t)


def test_save_load_roundtrip_and_hash(tiny_graph, tmp_path):
    path = tmp_path / "g.kg"
    tiny_graph.save(path)
    back = KnowledgeGraph.load(path)
    assert back.content_hash == tiny_graph.content_hash
    assert [e.iri for e in back.entities] == [e.iri for e in tiny_graph.entities]
    assert back.entity(MED + "Seizure").synonyms == tiny_graph.entity(MED + "Seizure").synonyms
    np.testing.assert_array_equal(back.edges, tiny_graph.edges)
    assert back.unresolved_imports == tiny_graph.unresolved_imports


def test_content_hash_changes_with_edges(tiny_ttl, tmp_path):
    a = load_graph(tiny_ttl, cache=False)
    other = tmp_path / "other.ttl"
    other.write_text(TINY_TTL.replace(":Seizure a owl:Class ;", ":Seizure a owl:Class ; rdfs:subClassOf :Heart ;"))
    b = load_graph(other, cache=False)
    assert a.content_hash != b.content_hash


def test_corrupt_saved_graph_is_refused(tiny_graph, tmp_path):
    path = tmp_path / "g.kg"
    path.write_bytes(b"not a zip")
    with pytest.raises(Exception, match="cannot read the saved graph"):
        KnowledgeGraph.load(path)


def test_cache_hit_and_invalidation(tmp_path, monkeypatch):
    monkeypatch.setenv("KGENHANCE_CACHE", str(tmp_path / "cache"))
    onto = tmp_path / "o.ttl"
    onto.write_text(TINY_TTL)
    first = load_graph(onto)
    calls = []
    import kgenhance.graph.loader as loader

    real_build = loader._build
    monkeypatch.setattr(loader, "_build", lambda *a, **k: calls.append(1) or real_build(*a, **k))
    second = load_graph(onto)
    assert calls == [], "an unchanged file is read from the cache"
    assert second.content_hash == first.content_hash
    onto.write_text(TINY_TTL.replace('"heart"', '"heart organ"'))
    third = load_graph(onto)
    assert calls == [1], "a changed file invalidates the cache"
    assert third.entity(MED + "Heart").label == "heart organ"
    load_graph(onto, cache=False)
    assert calls == [1, 1]
    import kgenhance.graph.cache as cache

    monkeypatch.setattr(cache, "BUILD_VERSION", cache.BUILD_VERSION + 1)
    load_graph(onto)
    assert calls == [1, 1, 1], "a graph cached by an older loader is rebuilt"


OBO = r"""format-version: 1.2
ontology: tst
idspace: EX http://example.org/ex/

[Term]
id: TST:0000001
name: All

[Term]
id: TST:0000002
name: Atrial fibrillation
def: "An \"irregular\" heart rhythm." [PMID:1]
synonym: "AF" EXACT abbreviation []
synonym: "Auricular fibrillation" EXACT []
synonym: "Heart flutter" BROAD layperson []
xref: UMLS:C0004238
is_a: TST:0000003 ! Arrhythmia
relationship: part_of TST:0000004 ! Heart {source="x"}

[Term]
id: TST:0000003
name: Arrhythmia
is_a: TST:0000001

[Term]
id: TST:0000004
name: Heart
is_a: TST:0000001

[Term]
id: TST:0000005
name: obsolete Old
is_obsolete: true
replaced_by: TST:0000003

[Typedef]
id: part_of
name: part of
xref: BFO:0000050
"""


def test_obo_mapping(tmp_path):
    path = tmp_path / "t.obo"
    path.write_text(OBO)
    g = load_graph(path, cache=False)
    obo = "http://purl.obolibrary.org/obo/"
    af = g.entity(obo + "TST_0000002")
    assert af.label == "Atrial fibrillation"
    assert af.definition == 'An "irregular" heart rhythm.'
    kinds = {(s.text, s.kind) for s in af.synonyms}
    assert kinds == {("AF", "abbreviation"), ("Auricular fibrillation", "exact"), ("Heart flutter", "broad")}
    assert af.xrefs == ["UMLS:C0004238"]
    assert [e.iri for e in g.by_xref("UMLS:C0004238")] == [af.iri]
    edges = edge_set(g)
    assert (af.iri, RDFS_SUBCLASS_OF, obo + "TST_0000003") in edges
    assert (af.iri, obo + "BFO_0000050", obo + "TST_0000004") in edges
    assert g.relation_label(obo + "BFO_0000050") == "part of"
    assert obo + "TST_0000005" not in g  # obsolete
    kept = load_graph(path, include_deprecated=True, cache=False)
    assert kept.entity(obo + "TST_0000005").replaced_by == obo + "TST_0000003"


def test_obo_broken_stanza_names_line(tmp_path):
    path = tmp_path / "bad.obo"
    path.write_text("format-version: 1.2\n\n[Term]\nid: X:1\nname: ok\nthis line is broken\n")
    with pytest.raises(OntologyError, match=r"bad\.obo:6: malformed OBO line"):
        load_graph(path, cache=False)


def test_bad_turtle_names_file_and_line(tmp_path):
    path = tmp_path / "bad.ttl"
    path.write_text("@prefix : <http://e.org/> .\n:a :b :c .\n:d :e \n")
    with pytest.raises(OntologyError) as info:
        load_graph(path, cache=False)
    assert "bad.ttl" in str(info.value)
    assert info.value.line is not None


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.ttl", "", "empty"),
        ("unknown.xyz", "x", "unknown ontology format"),
        ("nolabels.ttl", "@prefix : <http://e.org/> .\n:a :b :c .\n", "no labelled entities"),
    ],
)
def test_bad_input_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(OntologyError, match=message):
        load_graph(path, cache=False)


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(OntologyError, match="no such file"):
        load_graph(tmp_path / "missing.owl", cache=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(OntologyError, match="no ontology files"):
        load_graph(tmp_path / "empty", cache=False)


def test_external_xml_entity_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    path = tmp_path / "xxe.rdf"
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#">\n'
        '<rdf:Description rdf:about="http://e.org/a"><rdfs:label>&x;</rdfs:label></rdf:Description>\n</rdf:RDF>\n'
    )
    with pytest.raises(OntologyError, match="external XML entity"):
        load_graph(path, cache=False)


def test_jsonld_remote_context_refused(tmp_path):
    path = tmp_path / "remote.jsonld"
    path.write_text(json.dumps({"@context": "https://example.org/context.jsonld", "@id": "http://e.org/a"}))
    with pytest.raises(OntologyError, match="remote"):
        load_graph(path, cache=False)


def test_rdfxml_and_jsonld_formats(tmp_path):
    rdfxml = tmp_path / "a.owl"
    rdfxml.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [<!ENTITY ex "http://e.org/">]>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#" xmlns:owl="http://www.w3.org/2002/07/owl#">\n'
        '<owl:Class rdf:about="&ex;A"><rdfs:label>alpha</rdfs:label>'
        '<rdfs:subClassOf rdf:resource="&ex;B"/></owl:Class>\n'
        '<owl:Class rdf:about="&ex;B"><rdfs:label>beta</rdfs:label></owl:Class>\n</rdf:RDF>\n'
    )
    jsonld = tmp_path / "b.jsonld"
    jsonld.write_text(json.dumps({
        "@context": {"rdfs": "http://www.w3.org/2000/01/rdf-schema#"},
        "@id": "http://e.org/C", "rdfs:label": "gamma", "rdfs:subClassOf": {"@id": "http://e.org/A"},
    }))
    g = load_graph(rdfxml, jsonld, cache=False)
    assert {e.label for e in g.entities} == {"alpha", "beta", "gamma"}
    assert ("http://e.org/C", RDFS_SUBCLASS_OF, "http://e.org/A") in edge_set(g)


def test_directory_with_catalog_follows_and_reports_imports(tmp_path):
    main = tmp_path / "main"
    lib = tmp_path / "lib"
    main.mkdir()
    lib.mkdir()
    (lib / "base.ttl").write_text(
        "@prefix owl: <http://www.w3.org/2002/07/owl#> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        "<http://e.org/base> a owl:Ontology .\n<http://e.org/Base> a owl:Class ; rdfs:label \"base thing\" .\n"
    )
    (main / "m.ttl").write_text(
        "@prefix owl: <http://www.w3.org/2002/07/owl#> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        "<http://e.org/m> a owl:Ontology ; owl:imports <http://e.org/base> , <http://e.org/gone> .\n"
        "<http://e.org/M> a owl:Class ; rdfs:label \"main thing\" ; rdfs:subClassOf <http://e.org/Base> .\n"
    )
    (main / "catalog-v001.xml").write_text(
        '<?xml version="1.0"?>\n<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">\n'
        '<uri name="http://e.org/base" uri="../lib/base.ttl"/>\n</catalog>\n'
    )
    # lib/ is outside the folder named, so following the catalog there must be allowed
    assert "http://e.org/Base" not in load_graph(main, cache=False) or \
        load_graph(main, cache=False).entity("http://e.org/Base").label is None
    g = load_graph(main, cache=False, allow_outside_imports=True)
    assert g.entity("http://e.org/Base").label == "base thing"
    assert g.unresolved_imports == ["http://e.org/gone"]
    assert len(g.sources) == 2  # the catalog itself is not parsed as RDF
    ignored = load_graph(main, imports="ignore", cache=False)
    assert ignored.entity("http://e.org/Base").label is None
    assert "http://e.org/base" in ignored.unresolved_imports


FIBO = Path(__file__).resolve().parents[2] / "shared" / "data" / "fibo"


@pytest.mark.slow
@pytest.mark.skipif(not FIBO.is_dir(), reason="shared FIBO data not present")
def test_fibo_counts():
    g = load_graph(FIBO, cache=False)
    stats = g.stats()
    # 76,383 triples from the 291 .rdf files + 108 from ACTUS/ACTUS-examples.ttl
    assert stats["triples"] == 76491
    assert stats["labelled_entities"] > 8000
    assert any(i.startswith("https://www.omg.org/spec/Commons/") for i in stats["unresolved_imports"])
    assert any(i.startswith("https://www.omg.org/spec/LCC/") for i in stats["unresolved_imports"])


@pytest.mark.parametrize("fmt", ["nt", "pyg", "networkx-graphml"])
def test_export_formats_roundtrip(fmt, tmp_path):
    import networkx as nx

    from kgenhance.graph.export import export_graph, load_pyg_export
    from test_owl_semantics import ONTOLOGY

    src = tmp_path / "x.ttl"
    src.write_text(ONTOLOGY, encoding="utf-8")
    g = load_graph(src, cache=False)
    out = tmp_path / f"export.{fmt}"
    written = export_graph(g, out, fmt)
    assert out in written and out.stat().st_size > 0
    assert not list(tmp_path.glob("*.tmp*")), "no temporary file left behind"
    if fmt == "nt":
        again = load_graph(out, cache=False)
        assert [e.iri for e in again.entities] == [e.iri for e in g.entities]
        assert edge_set(again) == edge_set(g)
        for a, b in zip(again.entities, g.entities):
            assert (a.label, a.definition, a.kind, a.xrefs, a.types, a.replaced_by) == \
                   (b.label, b.definition, b.kind, b.xrefs, b.types, b.replaced_by)
            assert {(s.text, s.kind) for s in a.synonyms} == {(s.text, s.kind) for s in b.synonyms}
    elif fmt == "pyg":
        data = load_pyg_export(out)
        ref = g.to_pyg()
        assert data.num_nodes == ref.num_nodes and data.relations == g.relations
        assert data.edge_index.tolist() == ref.edge_index.tolist()
        assert data.edge_type.tolist() == ref.edge_type.tolist()
        assert data.entities == [e.iri for e in g.entities]
    else:
        back = nx.read_graphml(out)
        assert back.number_of_nodes() == len(g) and back.number_of_edges() == len(g.edges)
        assert back.nodes["http://example.org/x#Heart"]["label"] == "heart"


def test_export_unknown_format_is_refused(tiny_graph, tmp_path):
    from kgenhance.errors import KGEnhanceError
    from kgenhance.graph.export import export_graph

    with pytest.raises(KGEnhanceError, match="unknown export format"):
        export_graph(tiny_graph, tmp_path / "x", "csv")
    assert not (tmp_path / "x").exists()


def test_ntriples_read_in_chunks_keeps_line_numbers_and_progress(tmp_path, monkeypatch):
    import gc

    from kgenhance.graph import rdf

    monkeypatch.setattr(rdf, "_CHUNK", 256)  # many chunks, most lines cut at a chunk border
    lines = [f'<http://e.org/c{i}> <{RDFS}label> "concept {i}" .' for i in range(200)]
    lines += [f"<http://e.org/c{i}> <{RDFS_SUBCLASS_OF}> <http://e.org/c{i - 1}> ." for i in range(1, 200)]
    path = tmp_path / "big.nt"
    path.write_text("\n".join(lines) + "\n")
    seen = []
    from kgenhance.graph.builder import GraphBuilder
    from kgenhance.graph.facts import FactCollector

    collector = FactCollector(GraphBuilder())
    rdf.parse_rdf_file(collector, path, "nt", progress=seen.append)
    assert sum(seen) == path.stat().st_size and len(seen) > 10
    g = load_graph(path, cache=False)
    assert g.triples == 399 and len(g) == 200 and len(g.edges) == 199
    assert g.entity("http://e.org/c150").label == "concept 150"
    assert gc.isenabled()

    bad = tmp_path / "bad.nt"
    bad.write_text("\n".join(lines[:150] + ['<http://e.org/x> <http://e.org/p> "unterminated .'] + lines[150:]) + "\n")
    with pytest.raises(OntologyError) as err:
        load_graph(bad, cache=False)
    assert err.value.line == 151


def test_blank_node_labels_are_local_to_each_file(tmp_path):
    head = "@prefix owl: <http://www.w3.org/2002/07/owl#> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
    (tmp_path / "a.ttl").write_text(head + '<http://e.org/A> rdfs:label "a" ; rdfs:subClassOf _:r .\n'
                                    '_:r owl:onProperty <http://e.org/p> ; owl:someValuesFrom <http://e.org/X> .\n')
    (tmp_path / "b.ttl").write_text(head + '<http://e.org/B> rdfs:label "b" ; rdfs:subClassOf _:r .\n'
                                    '_:r owl:onProperty <http://e.org/q> ; owl:someValuesFrom <http://e.org/Y> .\n')
    edges = edge_set(load_graph(tmp_path, cache=False))
    assert ("http://e.org/A", "http://e.org/p", "http://e.org/X") in edges
    assert ("http://e.org/B", "http://e.org/q", "http://e.org/Y") in edges
    assert ("http://e.org/A", "http://e.org/q", "http://e.org/Y") not in edges
