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
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from .lexicon import Lexicon
from .normalize import head_block


@dataclass(frozen=True)
class FuzzyHit:
    """A lexicon name similar to a query, with its cosine similarity."""

    key: str
    score: float


class FuzzyIndex:
    """Character n-gram TF-IDF vectors of every name, blocked by head word (and word count)."""

    def __init__(self, lexicon: Lexicon, ngram: int = 3, memo_size: int = 200_000):
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(ngram, ngram), dtype=np.float32)
        names: list[str] = []
        block_of: list[int] = []
        self.block_id: dict[str, int] = {}
        self.block_rows: list[np.ndarray] = []
        self.block_lengths: list[frozenset[int]] = []
        head_blocks: dict[str, list[str]] = {}  # names by the first letters of their last word
        for key in lexicon.entries:
            head_blocks.setdefault(head_block(key.rsplit(None, 1)[-1]), []).append(key)
        for head, keys in head_blocks.items():
            b = len(self.block_rows)
            self.block_id[head] = b
            self.block_rows.append(np.arange(len(names), len(names) + len(keys)))
            self.block_lengths.append(frozenset(k.count(" ") - 1 for k in keys))
            names.extend(keys)
            block_of.extend([b] * len(keys))
        self.names = names
        self.matrix = self.vectorizer.fit_transform([k.strip() for k in names]).tocsr()
        self.block_of = np.asarray(block_of, dtype=np.int32)
        self.lengths = np.asarray([k.count(" ") - 1 for k in names], dtype=np.int32)
        self._memo: dict[tuple[str, str, int | None, int], list[FuzzyHit]] = {}
        self._memo_size = memo_size
        self._analyze = self.vectorizer.build_analyzer()
        self._word_grams: dict[str, np.ndarray] = {}
        self._vocabulary = self.vectorizer.vocabulary_
        self._idf = self.vectorizer.idf_.astype(np.float32)

    def _vectors(self, texts: list[str]) -> csr_matrix:
        """TF-IDF rows of `texts`, exactly as the fitted vectorizer's `transform` (without its overhead).

        Character n-grams are taken word by word (``char_wb``), so a text's counts are the
        sum of its words' counts, and each word is analysed once (memoised).
        """
        vocabulary, grams = self._vocabulary, self._word_grams
        parts: list[np.ndarray] = []
        indptr = [0]
        for text in texts:
            n = indptr[-1]
            for word in text.split():
                found = grams.get(word)
                if found is None:
                    found = np.fromiter((vocabulary[g] for g in self._analyze(word) if g in vocabulary), np.int32)
                    if len(grams) > self._memo_size:
                        grams.clear()
                    grams[word] = found
                parts.append(found)
                n += len(found)
            indptr.append(n)
        cols = np.concatenate(parts) if parts else np.zeros(0, np.int32)
        # one entry per n-gram occurrence; summing the duplicates gives the counts
        rows = csr_matrix((np.ones(len(cols), np.float32), cols, np.asarray(indptr, dtype=np.int64)),
                          shape=(len(texts), len(vocabulary)))
        rows.sum_duplicates()
        rows.data *= self._idf[rows.indices]
        return normalize(rows, copy=False)

    def has_head(self, head: str) -> bool:
        """True when some name's last word starts like this (see `normalize.head_block`)."""
        return head in self.block_id

    def has_length(self, head: str, words: int, extra_tokens: int = 0) -> bool:
        """True when the head's block holds a name of `words` to `words + extra_tokens` words."""
        b = self.block_id.get(head)
        if b is None:
            return False
        lengths = self.block_lengths[b]
        return any(n in lengths for n in range(words, words + extra_tokens + 1))

    def search_all(
        self, queries: list[tuple[str, str]], k: int = 5, extra_tokens: int | None = None
    ) -> list[list[FuzzyHit]]:
        """For each ``(query text, head block)``, the `k` most similar names of its block, best first.

        With `extra_tokens`, only names with as many words as the query, or up to
        `extra_tokens` more, are considered; names with fewer words never are. All
        queries are scored in one sparse product; answers are memoised.
        """
        results: list[list[FuzzyHit] | None] = []
        todo: dict[tuple[str, str, int | None, int], list[int]] = {}
        for i, (query, head) in enumerate(queries):
            key = (query, head, extra_tokens, k)
            hit = self._memo.get(key)
            if hit is None and head in self.block_id:
                todo.setdefault(key, []).append(i)
            results.append(hit if hit is not None else [])
        if todo:
            keys = list(todo)
            blocks = np.array([self.block_id[h] for _, h, _, _ in keys], dtype=np.int32)
            wanted = np.unique(blocks)
            cols = np.concatenate([self.block_rows[b] for b in wanted])
            vectors = self._vectors([q for q, _, _, _ in keys])
            sims = (vectors @ self.matrix[cols].T).toarray()
            sims *= self.block_of[cols][None, :] == blocks[:, None]
            if extra_tokens is not None:
                words = np.array([q.count(" ") + 1 for q, _, _, _ in keys], dtype=np.int32)[:, None]
                lengths = self.lengths[cols][None, :]
                sims *= (lengths >= words) & (lengths <= words + extra_tokens)
            kk = min(k, sims.shape[1])
            top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            if len(self._memo) > self._memo_size:
                self._memo.clear()
            for row, key in enumerate(keys):
                order = top[row][np.argsort(-sims[row, top[row]], kind="stable")]
                hits = [FuzzyHit(self.names[cols[j]], float(sims[row, j])) for j in order if sims[row, j] > 0]
                self._memo[key] = hits
                for i in todo[key]:
                    results[i] = hits
        return results  # type: ignore[return-value]

    def search(self, query: str, head: str, k: int = 5, extra_tokens: int | None = None) -> list[FuzzyHit]:
        """The `k` names most similar to `query` (normalised tokens joined by spaces) in its block."""
        return self.search_all([(query, head)], k, extra_tokens)[0]
