"""IRIs of the vocabularies kgenhance understands, and what each predicate means to it."""

from __future__ import annotations

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
XSD = "http://www.w3.org/2001/XMLSchema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
DC = "http://purl.org/dc/elements/1.1/"
DCT = "http://purl.org/dc/terms/"
OBO = "http://purl.obolibrary.org/obo/"
OBO_IN_OWL = "http://www.geneontology.org/formats/oboInOwl#"
CMNS_AV = "https://www.omg.org/spec/Commons/AnnotationVocabulary/"
FIBO_AV = "https://spec.edmcouncil.org/fibo/ontology/FND/Utilities/AnnotationVocabulary/"

RDF_TYPE = RDF + "type"
RDFS_SUBCLASS_OF = RDFS + "subClassOf"
RDFS_SUBPROPERTY_OF = RDFS + "subPropertyOf"
RDFS_LABEL = RDFS + "label"
OWL_EQUIVALENT_CLASS = OWL + "equivalentClass"
OWL_IMPORTS = OWL + "imports"
OWL_ONTOLOGY = OWL + "Ontology"
OWL_VERSION_IRI = OWL + "versionIRI"
OWL_DEPRECATED = OWL + "deprecated"

# Namespaces whose own IRIs are vocabulary, never domain entities.
BUILTIN_NAMESPACES = (RDF, RDFS, OWL, XSD, SKOS, DC, DCT, OBO_IN_OWL)

LABEL_PREDICATES = {RDFS_LABEL, SKOS + "prefLabel"}

# predicate -> synonym kind
SYNONYM_PREDICATES = {
    SKOS + "altLabel": "exact",
    SKOS + "hiddenLabel": "exact",
    OBO_IN_OWL + "hasExactSynonym": "exact",
    OBO_IN_OWL + "hasRelatedSynonym": "related",
    OBO_IN_OWL + "hasBroadSynonym": "broad",
    OBO_IN_OWL + "hasNarrowSynonym": "narrow",
    CMNS_AV + "synonym": "exact",
    CMNS_AV + "abbreviation": "abbreviation",
    FIBO_AV + "synonym": "exact",
    FIBO_AV + "abbreviation": "abbreviation",
    FIBO_AV + "preferredDesignation": "exact",
    FIBO_AV + "commonDesignation": "exact",
    OBO + "IAO_0000118": "exact",  # alternative label
}

DEFINITION_PREDICATES = (SKOS + "definition", OBO + "IAO_0000115")
# Used only when an entity has no definition from the predicates above.
FALLBACK_DEFINITION_PREDICATES = (RDFS + "comment", DCT + "description", CMNS_AV + "explanatoryNote")

XREF_PREDICATES = {OBO_IN_OWL + "hasDbXref", SKOS + "exactMatch", SKOS + "closeMatch"}
REPLACED_BY_PREDICATES = {OBO + "IAO_0100001", DCT + "isReplacedBy"}

CLASS_TYPES = {OWL + "Class", RDFS + "Class"}
INDIVIDUAL_TYPES = {OWL + "NamedIndividual"}
PROPERTY_TYPES = {
    RDF + "Property",
    OWL + "ObjectProperty",
    OWL + "DatatypeProperty",
    OWL + "AnnotationProperty",
    OWL + "TransitiveProperty",
    OWL + "SymmetricProperty",
    OWL + "AsymmetricProperty",
    OWL + "ReflexiveProperty",
    OWL + "IrreflexiveProperty",
    OWL + "FunctionalProperty",
    OWL + "InverseFunctionalProperty",
}
NON_EDGE_PROPERTY_TYPES = {OWL + "AnnotationProperty", OWL + "DatatypeProperty"}

# Predicates from the builtin namespaces that do become typed edges.
EDGE_PREDICATES = {
    RDFS_SUBCLASS_OF,
    RDFS_SUBPROPERTY_OF,
    RDFS + "domain",
    RDFS + "range",
    OWL_EQUIVALENT_CLASS,
    OWL + "inverseOf",
    OWL + "equivalentProperty",
    OWL + "disjointWith",
    OWL + "sameAs",
    RDF_TYPE,
    SKOS + "broader",
    SKOS + "narrower",
    SKOS + "related",
    SKOS + "broadMatch",
    SKOS + "narrowMatch",
    SKOS + "relatedMatch",
    OWL + "unionOf",  # only IRI-valued in kgenhance's own exports: S ⊑ (A ⊔ …) as S → A
}

# Annotation vocabularies whose predicates never become edges, declared or not.
ANNOTATION_NAMESPACES = (CMNS_AV, FIBO_AV, DC, DCT, OBO_IN_OWL, "http://purl.org/vocab/vann/")

RELATION_LABELS = {
    RDFS_SUBCLASS_OF: "subClassOf",
    RDFS_SUBPROPERTY_OF: "subPropertyOf",
    RDFS + "domain": "domain",
    RDFS + "range": "range",
    RDF_TYPE: "type",
    OWL_EQUIVALENT_CLASS: "equivalentClass",
    OWL + "inverseOf": "inverseOf",
    OWL + "disjointWith": "disjointWith",
    SKOS + "broader": "broader",
    SKOS + "narrower": "narrower",
    SKOS + "related": "related",
    OWL + "unionOf": "covered by (union member)",
}


def is_builtin(iri: str) -> bool:
    """True for IRIs of RDF/RDFS/OWL/XSD/SKOS/DC and other vocabulary namespaces."""
    return iri.startswith(BUILTIN_NAMESPACES)


def local_name(iri: str) -> str:
    """The part of an IRI after its last '#', '/' or ':' (trailing '/' ignored)."""
    stripped = iri.rstrip("/#")
    for sep in ("#", "/", ":"):
        pos = stripped.rfind(sep)
        if pos >= 0:
            return stripped[pos + 1 :] or stripped
    return stripped
