"""Ontology loading: RDF/OWL/OBO files → a typed `KnowledgeGraph`."""

from .cache import GraphCache, cache_dir
from .loader import load_graph
from .model import Entity, KnowledgeGraph, Synonym

__all__ = ["Entity", "GraphCache", "KnowledgeGraph", "Synonym", "cache_dir", "load_graph"]
