"""Fuzzy candidates: character 3-gram TF-IDF nearest neighbours among the lexicon's names.

Spans that miss the dictionary are compared only with names whose last word starts with
the same four letters (the span's head block), so "carcinoma of the colon" is never
compared with "colon" and a search costs one sparse product with a small block, not with
40k names. When linking running text, names must also have as many words as the span
(or `extra_tokens` more): "hemorrhage" is not "oral hemorrhage".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from .lexicon import Lexicon


@dataclass(frozen=True)
class FuzzyHit:
    """A lexicon name similar to a query, with its cosine similarity."""

    key: str
    score: float


class FuzzyIndex:
    """Character n-gram TF-IDF vectors of every name, blocked by head word and length."""

    def __init__(self, lexicon: Lexicon, ngram: int = 3):
        keys = list(lexicon.entries)
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(ngram, ngram), dtype=np.float32)
        matrix = self.vectorizer.fit_transform([k.strip() for k in keys]).tocsr()
        row_of = {k: i for i, k in enumerate(keys)}
        self.blocks = {}
        for head, names in lexicon.head_blocks.items():
            rows = [row_of[k] for k in names]
            lengths = np.array([k.count(" ") - 1 for k in names], dtype=np.int32)
            self.blocks[head] = (matrix[rows].T.tocsc(), names, lengths)

    def has_head(self, head: str) -> bool:
        """True when some name's last word starts like this (see `normalize.head_block`)."""
        return head in self.blocks

    def search_all(
        self, queries: list[tuple[str, str]], k: int = 5, extra_tokens: int | None = None
    ) -> list[list[FuzzyHit]]:
        """For each ``(query text, head block)``, the `k` most similar names of its block, best first.

        With `extra_tokens`, only names with as many words as the query, or up to
        `extra_tokens` more, are considered; names with fewer words never are.
        """
        if not queries:
            return []
        vectors = self.vectorizer.transform([q for q, _ in queries]).tocsr()
        results: list[list[FuzzyHit]] = []
        for i, (query, head) in enumerate(queries):
            block = self.blocks.get(head)
            if block is None:
                results.append([])
                continue
            matrix, names, lengths = block
            sims = (vectors[i] @ matrix).toarray().ravel()
            if extra_tokens is not None:
                n = query.count(" ") + 1
                sims[(lengths < n) | (lengths > n + extra_tokens)] = 0.0
            top = np.argsort(-sims, kind="stable")[:k]
            results.append([FuzzyHit(names[j], float(sims[j])) for j in top if sims[j] > 0])
        return results

    def search(self, query: str, head: str, k: int = 5, extra_tokens: int | None = None) -> list[FuzzyHit]:
        """The `k` names most similar to `query` (normalised tokens joined by spaces) in its block."""
        return self.search_all([(query, head)], k, extra_tokens)[0]
