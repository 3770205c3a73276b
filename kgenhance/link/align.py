"""Character spans of mentions → the word pieces a tokenizer made of the same text."""

from __future__ import annotations

from typing import Sequence

from .types import Mention


def align_mentions(
    mentions: Sequence[Mention], offsets: Sequence[tuple[int, int]]
) -> list[tuple[int, int] | None]:
    """For each mention, the first and last word-piece index that overlap its span.

    `offsets` is a fast tokenizer's ``offset_mapping`` for one encoded text (special
    tokens have empty ``(0, 0)`` spans and never match). A mention cut off by truncation
    gets ``None``.
    """
    spans: list[tuple[int, int] | None] = []
    pieces = [(i, s, e) for i, (s, e) in enumerate(offsets) if e > s]
    for m in mentions:
        inside = [i for i, s, e in pieces if s < m.end and e > m.start]
        spans.append((inside[0], inside[-1]) if inside else None)
    return spans
