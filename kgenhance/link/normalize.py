"""Text normalisation shared by the lexicon and the linker, with offsets back to the original."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_TOKEN = re.compile(r"\w+")
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS)


@lru_cache(maxsize=1 << 16)
def normalize_token(token: str) -> str:
    """Unicode NFKC, then case folding; ASCII tokens take the fast path."""
    if token.isascii():
        return token.lower()
    return unicodedata.normalize("NFKC", token).casefold()


@dataclass
class TokenizedText:
    """A text cut into word tokens: normalised forms and their character offsets."""

    tokens: list[str]
    starts: list[int]
    ends: list[int]

    def key(self) -> str:
        """The search string: normalised tokens joined and framed by single spaces."""
        return " " + " ".join(self.tokens) + " " if self.tokens else " "


def tokenize(text: str) -> TokenizedText:
    """Split on anything that is not a letter, digit or underscore; normalise each token.

    Hyphens, slashes, apostrophes and other punctuation therefore all act as spaces,
    so "atrial-fibrillation" and "Atrial fibrillation" have the same tokens.
    """
    tokens, starts, ends = [], [], []
    for m in _TOKEN.finditer(text):
        tokens.append(normalize_token(m.group()))
        starts.append(m.start())
        ends.append(m.end())
    return TokenizedText(tokens, starts, ends)


def normalize_term(text: str) -> str:
    """The search key of a label or synonym (same normalisation as the text)."""
    return tokenize(text).key()


def is_stopword_only(key: str) -> bool:
    """True when every token of a key is a stop word or a number: such names are never linked."""
    toks = key.split()
    return all(t in STOP_WORDS or t.isdigit() for t in toks)
