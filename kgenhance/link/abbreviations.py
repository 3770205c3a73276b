"""In-text abbreviation definitions ("atrial fibrillation (AF)"), after Schwartz & Hearst (2003).

A definition is a long form followed by a parenthesised short form (or the reverse, when
the parenthesised part is the longer one). The long form is the shortest run of words
before the parenthesis, at most ``min(|SF| + 5, 2·|SF|)`` words, whose characters can
be matched right-to-left by the short form's letters and digits, the short form's first
character starting a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PAREN = re.compile(r"\(([^()]{1,40})\)")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Abbreviation:
    """A short form defined in the text and the long form it stands for (character offsets)."""

    short: str
    long: str
    short_start: int
    short_end: int
    long_start: int
    long_end: int


def _is_short_form(candidate: str) -> bool:
    """2–10 characters, one word (or two joined by a hyphen), a letter first, at least one capital."""
    if not 2 <= len(candidate) <= 10 or len(candidate.split()) > 2:
        return False
    if not candidate[0].isalnum() or not any(c.isalpha() for c in candidate):
        return False
    return any(c.isupper() for c in candidate)


def _best_long_form(short: str, long: str) -> int | None:
    """Where in `long` the long form starts, or None (Schwartz & Hearst's right-to-left match)."""
    s, l_ = len(short) - 1, len(long) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        while l_ >= 0 and (long[l_].lower() != c or (s == 0 and l_ > 0 and long[l_ - 1].isalnum())):
            l_ -= 1
        if l_ < 0:
            return None
        l_ -= 1
        s -= 1
    return long.rfind(" ", 0, l_ + 1) + 1


def find_abbreviations(text: str) -> list[Abbreviation]:
    """Every "long form (SF)" definition in `text`, in text order."""
    found: list[Abbreviation] = []
    for m in _PAREN.finditer(text):
        inner = m.group(1).strip()
        inner = re.split(r"[;,] ", inner)[0].strip()
        if not inner:
            continue
        before_end = m.start()
        while before_end > 0 and text[before_end - 1] == " ":
            before_end -= 1
        if not _is_short_form(inner):
            continue
        max_words = min(len(inner) + 5, 2 * len(inner))
        words = list(_WORD.finditer(text, max(0, before_end - 400), before_end))
        # stop at a sentence or clause boundary
        cut = len(words)
        for i in range(len(words) - 1, -1, -1):
            if words[i].group().endswith((".", ";", ":")) and i != len(words) - 1:
                break
            cut = i
        words = words[cut:][-max_words:]
        if not words:
            continue
        window_start = words[0].start()
        window = text[window_start:before_end]
        offset = _best_long_form(inner, window)
        if offset is None:
            continue
        long_start = window_start + offset
        long = text[long_start:before_end].strip(" ,;:")
        if len(long) <= len(inner) or not long:
            continue
        s_start = m.start(1) + m.group(1).index(inner)
        found.append(Abbreviation(inner, long, s_start, s_start + len(inner), long_start, long_start + len(long)))
    return found


def short_form_occurrences(text: str, short: str, start: int = 0) -> list[tuple[int, int]]:
    """Character spans of `short` from `start` on (whole words, same case; a plural "s" included)."""
    pattern = re.compile(r"(?<![\w-])" + re.escape(short) + r"s?(?![\w-])")
    return [(m.start(), m.end()) for m in pattern.finditer(text, start)]
