"""Entity linking: ontology names found in text, aligned to word pieces."""

from .align import align_mentions
from .lexicon import Lexicon, LexiconEntry
from .linker import Candidate, EntityLinker, LinkerConfig, Mention
from .normalize import normalize_term, tokenize

__all__ = [
    "Candidate",
    "EntityLinker",
    "Lexicon",
    "LexiconEntry",
    "LinkerConfig",
    "Mention",
    "align_mentions",
    "normalize_term",
    "tokenize",
]
