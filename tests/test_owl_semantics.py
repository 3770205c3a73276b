"""kgenhance.graph: each OWL/RDFS/SKOS rule of the loader on an ontology written here, cross-checked by SPARQL."""

from __future__ import annotations

import logging

import pytest
import rdflib

from kgenhance.graph import load_graph
from kgenhance.graph.vocab import OWL, RDF_TYPE, RDFS, RDFS_SUBCLASS_OF, SKOS

X = "http://example.org/x#"

ONTOLOGY = """\
@prefix : <http://example.org/x#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix oboInOwl: <http://www.geneontology.org/formats/oboInOwl#> .
@prefix obo: <http://purl.obolibrary.org/obo/> .
@prefix dct: <http://purl.org/dc/terms/> .

<http://example.org/x> a owl:Ontology ;
    owl:versionIRI <http://example.org/x/1.0> ;
    dct:modified "2025-6-24T18:00:00"^^xsd:dateTime .

:Organism a owl:Class ; rdfs:label "organism" .
:Tissue a owl:Class ; rdfs:label "tissue" .
:Heart a owl:Class ; rdfs:label "heart"@en , "cœur"@fr , "Herz"@de .
:Chamber a owl:Class ; rdfs:label "chamber" .
:Valve a owl:Class ; rdfs:label "valve" .
:Drug a owl:Class ; rdfs:label "drug" .
:Disease a owl:Class ; rdfs:label "Krankheit"@de , "maladie"@fr .
:Agent a owl:Class ; rdfs:label "agent" .
:Person a owl:Class ; rdfs:label "person" .
:Company a owl:Class ; rdfs:label "company" .

:CardiacTissue a owl:Class ;
    rdfs:label "cardiac tissue" ;
    owl:equivalentClass [ a owl:Class ;
        owl:intersectionOf ( :Tissue [ a owl:Restriction ; owl:onProperty :partOf ; owl:someValuesFrom :Heart ] ) ] .

:FourChamberedHeart a owl:Class ;
    rdfs:label "four-chambered heart" ;
    rdfs:subClassOf :Heart ,
        [ a owl:Restriction ; owl:onProperty :hasPart ; owl:qualifiedCardinality "4"^^xsd:nonNegativeInteger ;
          owl:onClass :Chamber ] ,
        [ a owl:Restriction ; owl:onProperty :hasPart ; owl:allValuesFrom :Tissue ] ,
        [ a owl:Restriction ; owl:onProperty :hasPart ; owl:minQualifiedCardinality "1"^^xsd:nonNegativeInteger ;
          owl:onClass :Valve ] .

:AspirinTreated a owl:Class ;
    rdfs:label "aspirin-treated organism" ;
    rdfs:subClassOf :Organism , [ a owl:Restriction ; owl:onProperty :treatedWith ; owl:hasValue :aspirin ] .

:LegalPerson a owl:Class ;
    rdfs:label "legal person" ;
    owl:equivalentClass [ a owl:Class ; owl:unionOf ( :Person :Company ) ] .

:Party a owl:Class ;
    rdfs:label "party" ;
    rdfs:subClassOf [ a owl:Class ; owl:unionOf ( :Person :Company ) ] .

:Organ a owl:Class ;
    rdfs:label "organ" ;
    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty [ owl:inverseOf :partOf ] ; owl:someValuesFrom :Organism ] .

:partOf a owl:ObjectProperty ; rdfs:label "part of" ;
    owl:inverseOf :hasPart ;
    rdfs:domain :Tissue ;
    rdfs:range [ a owl:Class ; owl:unionOf ( :Heart :Organism ) ] .
:hasPart a owl:ObjectProperty ; rdfs:label "has part" .
:treatedWith a owl:ObjectProperty ; rdfs:label "treated with" ; rdfs:range :Drug ;
    rdfs:subPropertyOf :relatedTo .
:relatedTo a owl:ObjectProperty ; rdfs:label "related to" .
:note a owl:AnnotationProperty ; rdfs:label "note" .
:weight a owl:DatatypeProperty ; rdfs:label "weight" .

:aspirin a owl:NamedIndividual , :Drug ;
    rdfs:label "aspirin" ;
    oboInOwl:hasExactSynonym "acetylsalicylic acid" ;
    oboInOwl:hasRelatedSynonym "salicylate" ;
    oboInOwl:hasBroadSynonym "painkiller" ;
    oboInOwl:hasNarrowSynonym "low-dose aspirin" ;
    obo:IAO_0000115 "A drug that reduces pain."@en ;
    oboInOwl:hasDbXref "UMLS:C0004057" , "MESH:D001241" ;
    :weight "180.16"^^xsd:decimal ;
    :note :heart1 .
:heart1 a :Heart ; rdfs:label "heart one" ; :partOf :patient1 .
:patient1 a :Organism ; rdfs:label "patient one" ; :treatedWith :aspirin .
:ASA a owl:NamedIndividual ; skos:prefLabel "ASA" ; skos:altLabel "aspirin (abbrev.)" .

:Cardiology a skos:Concept ; skos:prefLabel "cardiology" ;
    skos:broader :Medicine ; skos:related :Surgery .
:Medicine a skos:Concept ; skos:prefLabel "medicine" ; skos:narrower :Cardiology .
:Surgery a skos:Concept ; skos:prefLabel "surgery" .

:OldHeart a owl:Class ; rdfs:label "old heart" ; owl:deprecated true ;
    obo:IAO_0100001 :Heart ; rdfs:subClassOf :Organism .
"""


@pytest.fixture(scope="module")
def ttl(tmp_path_factory):
    path = tmp_path_factory.mktemp("owl") / "x.ttl"
    path.write_text(ONTOLOGY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def graph(ttl):
    return load_graph(ttl, cache=False)


@pytest.fixture(scope="module")
def edges(graph):
    return {(graph.entities[h].iri, graph.relations[r], graph.entities[t].iri) for h, r, t in graph.edges.tolist()}


def test_no_blank_node_or_ontology_header_is_an_entity(graph):
    assert all(e.iri.startswith(X) for e in graph.entities)
    assert "http://example.org/x" not in graph and "http://example.org/x/1.0" not in graph


def test_subclass_of_named_class(edges):
    assert (X + "FourChamberedHeart", RDFS_SUBCLASS_OF, X + "Heart") in edges


def test_restrictions_become_edges_typed_by_their_property(edges):
    assert (X + "FourChamberedHeart", X + "hasPart", X + "Chamber") in edges  # qualifiedCardinality + onClass
    assert (X + "FourChamberedHeart", X + "hasPart", X + "Valve") in edges  # minQualifiedCardinality
    assert (X + "FourChamberedHeart", X + "hasPart", X + "Tissue") in edges  # allValuesFrom
    assert (X + "AspirinTreated", X + "treatedWith", X + "aspirin") in edges  # hasValue (an individual)


def test_restriction_on_an_inverse_property_points_back(edges):
    assert (X + "Organism", X + "partOf", X + "Organ") in edges


def test_equivalent_intersection_gives_superclass_and_typed_edge(edges):
    assert (X + "CardiacTissue", RDFS_SUBCLASS_OF, X + "Tissue") in edges
    assert (X + "CardiacTissue", X + "partOf", X + "Heart") in edges


def test_union_members(edges):
    # LegalPerson ≡ Person ⊔ Company: each member is a sub-class of LegalPerson
    assert (X + "Person", RDFS_SUBCLASS_OF, X + "LegalPerson") in edges
    assert (X + "Company", RDFS_SUBCLASS_OF, X + "LegalPerson") in edges
    # Party ⊑ Person ⊔ Company: not a sub-class of either, "covered by" them
    assert (X + "Party", RDFS_SUBCLASS_OF, X + "Person") not in edges
    assert (X + "Party", OWL + "unionOf", X + "Person") in edges
    assert (X + "Party", OWL + "unionOf", X + "Company") in edges


def test_property_domain_range_subproperty(edges, graph):
    assert (X + "partOf", RDFS + "domain", X + "Tissue") in edges
    assert (X + "partOf", RDFS + "range", X + "Heart") in edges  # range given as a union
    assert (X + "partOf", RDFS + "range", X + "Organism") in edges
    assert (X + "treatedWith", RDFS + "range", X + "Drug") in edges
    assert (X + "treatedWith", RDFS + "subPropertyOf", X + "relatedTo") in edges
    assert graph.entity(X + "treatedWith").kind == "property"


def test_inverse_of_adds_inverse_edges(edges):
    assert (X + "heart1", X + "partOf", X + "patient1") in edges
    assert (X + "patient1", X + "hasPart", X + "heart1") in edges  # added from owl:inverseOf
    assert (X + "partOf", OWL + "inverseOf", X + "hasPart") in edges


def test_skos_relations(edges):
    assert (X + "Cardiology", SKOS + "broader", X + "Medicine") in edges
    assert (X + "Medicine", SKOS + "narrower", X + "Cardiology") in edges
    assert (X + "Cardiology", SKOS + "related", X + "Surgery") in edges


def test_individuals_types_and_assertions(graph, edges):
    aspirin = graph.entity(X + "aspirin")
    assert aspirin.kind == "individual" and aspirin.types == [X + "Drug"]
    assert (X + "aspirin", RDF_TYPE, X + "Drug") in edges
    assert (X + "patient1", X + "treatedWith", X + "aspirin") in edges


def test_annotation_and_datatype_properties_are_not_edges(graph, edges):
    assert not any(r in (X + "note", X + "weight") for _, r, _ in edges)
    assert X + "note" not in graph.relations


def test_synonyms_keep_their_kind_and_definitions_and_xrefs(graph):
    aspirin = graph.entity(X + "aspirin")
    kinds = {(s.text, s.kind) for s in aspirin.synonyms}
    assert kinds == {("acetylsalicylic acid", "exact"), ("salicylate", "related"),
                     ("painkiller", "broad"), ("low-dose aspirin", "narrow")}
    assert aspirin.definition == "A drug that reduces pain."
    assert aspirin.xrefs == ["MESH:D001241", "UMLS:C0004057"]
    assert [e.iri for e in graph.by_xref("UMLS:C0004057")] == [X + "aspirin"]
    assert [e.iri for e in graph.by_xref("MESH:D001241")] == [X + "aspirin"]
    assert graph.by_xref("UMLS:C0000000") == []
    asa = graph.entity(X + "ASA")
    assert asa.label == "ASA" and [s.text for s in asa.synonyms] == ["aspirin (abbrev.)"]


def test_labels_prefer_the_language_then_fall_back_deterministically(ttl, graph):
    assert graph.entity(X + "Heart").label == "heart"
    assert load_graph(ttl, lang="fr", cache=False).entity(X + "Heart").label == "cœur"
    assert load_graph(ttl, lang="de", cache=False).entity(X + "Heart").label == "Herz"
    # no English label: the fallback is the same every time (tag order, then text)
    assert graph.entity(X + "Disease").label == "Krankheit"
    assert load_graph(ttl, lang="fr", cache=False).entity(X + "Disease").label == "maladie"


def test_deprecated_excluded_with_replaced_by_kept(ttl, graph):
    assert X + "OldHeart" not in graph
    kept = load_graph(ttl, include_deprecated=True, cache=False)
    assert kept.entity(X + "OldHeart").replaced_by == X + "Heart"


def test_malformed_literal_one_summary_warning(ttl, caplog):
    with caplog.at_level(logging.WARNING, logger="kgenhance"):
        g = load_graph(ttl, cache=False)
    summary = [w for w in g.warnings if "malformed" in w]
    assert len(summary) == 1 and summary[0].startswith("1 literal(s)")
    assert "2025-6-24T18:00:00" in summary[0]
    assert sum("malformed" in r.getMessage() for r in caplog.records) == 1


def test_counts_agree_with_an_independent_sparql_count(ttl, graph, edges):
    rdf = rdflib.Graph().parse(ttl, format="turtle")
    assert graph.triples == len(rdf)

    def count(query: str) -> int:
        return int(next(iter(rdf.query(query)))[0])

    named_subclass = count(
        "SELECT (COUNT(*) AS ?n) WHERE { ?a rdfs:subClassOf ?b FILTER(isIRI(?a) && isIRI(?b)) "
        "FILTER NOT EXISTS { ?a owl:deprecated true } }"
    )
    ours = sum(1 for h, r, t in edges if r == RDFS_SUBCLASS_OF and not h.endswith(("Person", "Company")))
    assert ours == named_subclass + 1  # + CardiacTissue ⊑ Tissue from its equivalent intersection
    labelled = count(
        "SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE { { ?e rdfs:label ?l } UNION { ?e skos:prefLabel ?l } "
        "FILTER(isIRI(?e)) FILTER NOT EXISTS { ?e owl:deprecated true } FILTER NOT EXISTS { ?e a owl:Ontology } }"
    )
    assert graph.stats()["labelled_entities"] == labelled
    asserted = count(
        "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o . ?p a owl:ObjectProperty FILTER(isIRI(?s) && isIRI(?o)) }"
    )
    ours_asserted = sum(1 for h, r, t in edges if r in (X + "partOf", X + "treatedWith")
                        and not h[len(X):][0].isupper())
    assert ours_asserted == asserted


def test_same_graph_from_rdfxml(tmp_path, graph):
    rdf = rdflib.Graph().parse(data=ONTOLOGY, format="turtle")
    path = tmp_path / "x.owl"
    path.write_text(rdf.serialize(format="xml"), encoding="utf-8")
    again = load_graph(path, cache=False)
    assert [e.iri for e in again.entities] == [e.iri for e in graph.entities]
    assert again.triples == graph.triples
    assert again.edges.tolist() == graph.edges.tolist()
