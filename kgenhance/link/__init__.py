"""Entity linking: ontology names found in text, aligned to word pieces."""

from .abbreviations import Abbreviation, find_abbreviations
from .aliases import add_aliases, read_aliases
from .align import align_mentions
from .lexicon import Lexicon, LexiconEntry
from .linker import EntityLinker
from .types import Candidate, LinkerConfig, Mention
from .normalize import lemma_term, normalize_term, tokenize
from .report import LinkReport

_DETECTOR = ("AnnotatedText", "DetectedSpan", "DetectorConfig", "MentionDetector", "train_mention_detector")


def __getattr__(name: str):
    """The mention detector's names, imported on first use (they need torch and transformers)."""
    if name in _DETECTOR:
        from . import detector

        return getattr(detector, name)
    raise AttributeError(f"module 'kgenhance.link' has no attribute {name!r}")


__all__ = [
    "Abbreviation",
    "AnnotatedText",
    "DetectedSpan",
    "DetectorConfig",
    "MentionDetector",
    "train_mention_detector",
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
