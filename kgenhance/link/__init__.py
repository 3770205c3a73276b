"""Entity linking: ontology names found in text, aligned to word pieces."""

from .abbreviations import Abbreviation, find_abbreviations
from .aliases import add_aliases, read_aliases
from .align import align_mentions
from .lexicon import Lexicon, LexiconEntry
from .linker import Candidate, EntityLinker, LinkerConfig, Mention
from .normalize import lemma_term, normalize_term, tokenize
from .report import LinkReport

__all__ = [
    "Abbreviation",
    "Candidate",
    "EntityLinker",
    "Lexicon",
    "LexiconEntry",
    "LinkReport",
    "LinkerConfig",
    "Mention",
    "add_aliases",
    "align_mentions",
    "find_abbreviations",
    "lemma_term",
    "normalize_term",
    "read_aliases",
    "tokenize",
]
