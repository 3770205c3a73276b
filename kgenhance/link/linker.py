"""`EntityLinker`: finds the graph's entities in text, with candidates and scores."""

from __future__ import annotations

import math
import multiprocessing
import os
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from ..errors import ConfigError
from ..graph.model import KnowledgeGraph
from .abbreviations import find_abbreviations, short_form_occurrences
from .lexicon import Lexicon, LexiconEntry
from .normalize import STOP_WORDS, TokenizedText, common_word_zipf, ensure_text, head_block, tokenize
from .types import MATCH_KINDS, Candidate, LinkerConfig, Mention

if TYPE_CHECKING:  # pragma: no cover
    from .detector import DetectedSpan

@dataclass
class _Match:
    first: int  # token indices, inclusive
    last: int
    start: int  # character offsets
    end: int
    match: str
    quality: float
    entries: tuple[LexiconEntry, ...]

    @property
    def order(self) -> tuple:
        return (self.start, -(self.end - self.start), MATCH_KINDS.index(self.match), -self.quality)


class EntityLinker:
    """Ontology-built entity linker: dictionary, lemma, abbreviation and fuzzy matching.

    Text and names are normalised the same way (`kgenhance.link.normalize`); an
    Aho–Corasick automaton over lemma keys finds every name on token boundaries in one
    pass. In-text abbreviation definitions link their short forms to the long form's
    entity; spans that miss the dictionary may get character n-gram candidates (`fuzzy`);
    ambiguous names keep every entity as a candidate, ranked by the kind of name (label >
    exact synonym > abbreviation > related > broad/narrow), the entity's degree in the
    graph and, with `context`, the similarity of the sentence to each candidate's label
    and definition. The longest leftmost mentions win unless `overlapping`.
    """

    def __init__(self, graph: KnowledgeGraph, config: LinkerConfig | None = None, **overrides):
        cfg = config or LinkerConfig()
        if overrides:
            unknown = set(overrides) - set(LinkerConfig.__dataclass_fields__)
            if unknown:
                raise ConfigError(f"unknown linker setting(s): {', '.join(sorted(unknown))}")
            cfg = LinkerConfig.from_dict({**cfg.to_dict(), **overrides})
        cfg.validate()
        self.graph = graph
        self.config = cfg
        cache = None
        if cfg.cache:
            from ..graph.cache import cache_dir

            cache = cache_dir() / "lexicons"
        self.lexicon = Lexicon(
            graph,
            entity_kinds=cfg.entity_kinds,
            case_sensitive_max_length=cfg.case_sensitive_max_length,
            exclude_branches=cfg.exclude_branches,
            cache_dir=cache,
        )
        self._fuzzy = None
        self._context = None
        self._detector = None
        if cfg.detector is not None:
            from .detector import CONFIG_FILE

            if not (Path(cfg.detector) / CONFIG_FILE).is_file():
                raise ConfigError(f"detector {cfg.detector}: not a trained mention detector (no {CONFIG_FILE})")

    @classmethod
    def from_graph(cls, graph: KnowledgeGraph, **settings) -> "EntityLinker":
        """A linker over every labelled class, individual and untyped entity of `graph`."""
        return cls(graph, **settings)

    @property
    def fuzzy_index(self):
        """The character n-gram index (built on first use)."""
        if self._fuzzy is None:
            from .fuzzy import FuzzyIndex

            self._fuzzy = FuzzyIndex(self.lexicon)
        return self._fuzzy

    @property
    def detector(self):
        """The learned mention detector of `LinkerConfig.detector` (loaded on first use), or None."""
        if self._detector is None and self.config.detector is not None:
            from .detector import MentionDetector

            self._detector = MentionDetector.load(self.config.detector)
        return self._detector

    @property
    def context_encoder(self):
        """The sentence/entity encoder used by `context` re-ranking (loaded on first use)."""
        if self._context is None:
            from .context import ContextEncoder

            self._context = ContextEncoder(self.graph, self.config.backbone, self.config.context_mode)
        return self._context

    # ------------------------------------------------------------------ linking
    def link(self, text: str | bytes) -> list[Mention]:
        """The mentions of entities in `text`, in text order."""
        text = ensure_text(text)
        detected = self.detector.detect([text])[0] if self.config.detector is not None else None
        return self._link(text, detected)

    def _link(self, text: str, detected: "list[DetectedSpan] | None") -> list[Mention]:
        tt = tokenize(text)
        if not tt.tokens:
            return []
        cfg = self.config
        matches = self._dictionary_matches(text, tt)
        if cfg.abbreviations and "(" in text:
            matches = self._abbreviation_matches(text, tt, matches)
        matches.sort(key=lambda m: m.order)
        chosen = self._resolve_overlaps(matches)
        if cfg.generic_zipf is not None:
            chosen = [m for m in chosen if not self._is_generic(tt, m)]
        nil: list[Mention] = []
        if detected is not None:
            chosen, nil = self._detected_matches(text, tt, detected, chosen)
        elif cfg.fuzzy:
            chosen = sorted(chosen + self._fuzzy_matches(tt, chosen), key=lambda m: m.order)
        mentions = [self._mention(text, m) for m in chosen]
        if cfg.context and mentions:
            self._rerank_by_context(text, mentions)
        mentions = [m for m in mentions if m.score >= cfg.min_score]
        if nil and cfg.keep_unlinked:
            mentions = sorted(mentions + nil, key=lambda m: (m.start, -m.end))
        return mentions

    def _detected_matches(self, text: str, tt: TokenizedText, detected: "list[DetectedSpan]",
                          dictionary: list[_Match]) -> tuple[list[_Match], list[Mention]]:
        """Detected spans linked through the lexicon, combined with the dictionary's mentions
        as `detector_mode` says; returns the linked matches and the nil mentions.

        A dictionary match on exactly a detected span is taken as it is (abbreviations
        included); otherwise the span's own name is looked up: exact, lemma, then the best
        fuzzy name at `detector_fuzzy_threshold` or above; failing all, the span is nil.
        """
        mode = self.config.detector_mode

        def overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
            return any(start < e and s < end for s, e in spans)

        spans = []  # (first token, last token, detector score)
        for d in detected:
            first = bisect_left(tt.ends, d.start + 1)
            last = bisect_right(tt.starts, d.end - 1) - 1
            if first <= last < len(tt.tokens):
                spans.append((first, last, d.score))
        detected_chars = [(tt.starts[f], tt.ends[la]) for f, la, _ in spans]
        if mode == "fill":
            kept = list(dictionary)
        elif mode == "confirm":
            kept = [m for m in dictionary if overlaps(m.start, m.end, detected_chars)]
        else:
            kept = []
        taken = [(m.start, m.end) for m in kept]
        by_span = {(m.start, m.end): m for m in dictionary}
        out, nil = kept, []
        for (first, last, score), (start, end) in zip(spans, detected_chars):
            if overlaps(start, end, taken):
                continue
            m = by_span.get((start, end)) or self._span_match(tt, first, last)
            if m is not None:
                out.append(m)
            else:
                nil.append(Mention(start, end, text[start:end], "", "", score, [], "nil"))
        if mode == "union":
            out += [m for m in dictionary if not overlaps(m.start, m.end, detected_chars)]
        return sorted(out, key=lambda m: m.order), nil

    def _span_match(self, tt: TokenizedText, first: int, last: int) -> _Match | None:
        """The lexicon's entities for exactly tokens first..last: exact, lemma, then fuzzy."""
        lex = self.lexicon
        start, end = tt.starts[first], tt.ends[last]
        entries = lex.entries.get(tt.span_key(first, last))
        if entries:
            return _Match(first, last, start, end, "exact", 1.0, entries)
        if self.config.lemmatize:
            entries = lex.lemma_entries.get(tt.span_key(first, last, lemmatized=True))
            if entries:
                return _Match(first, last, start, end, "lemma", self.config.lemma_quality, entries)
        toks = tt.tokens[first : last + 1]
        head = head_block(toks[-1])
        hits = self.fuzzy_index.search(" ".join(toks), head, k=1) if self.fuzzy_index.has_head(head) else []
        if hits and hits[0].score >= self.config.detector_fuzzy_threshold:
            return _Match(first, last, start, end, "fuzzy", hits[0].score, lex.entries[hits[0].key])
        return None

    def _dictionary_matches(self, text: str, tt: TokenizedText) -> list[_Match]:
        lex = self.lexicon
        lemmatized = self.config.lemmatize
        key = tt.key(lemmatized=lemmatized)
        automaton = lex.automaton if lemmatized else lex.exact_automaton
        hits = list(automaton.iter(key))
        if not hits:
            return []
        ends = tt.token_ends_in_key(lemmatized=lemmatized)
        found = []
        for end_idx, name in hits:
            first = bisect_right(ends, end_idx - len(name) + 1)
            last = bisect_left(ends, end_idx)
            exact = tt.span_key(first, last) if lemmatized else name
            entries = lex.entries.get(exact)
            if entries is not None:
                kind, quality = "exact", 1.0
                if lemmatized and self.config.prefer_namespaces:
                    # every entity named by a variant of this name competes, so that a
                    # preferred ontology's "seizure" beats another's exact "seizures"
                    entries = lex.lemma_entries[name]
            elif lemmatized:
                entries, kind, quality = lex.lemma_entries[name], "lemma", self.config.lemma_quality
            else:
                continue
            start, end = tt.starts[first], tt.ends[last]
            # short names ("AF", "PET") must keep their case: an exact match is judged by its
            # own key, a lemma match by the name's ("pets" is not "PET", "PETs" is)
            if lex.needs_case(exact if kind == "exact" else name):
                surface = text[start:end]
                entries = tuple(e for e in entries if surface in e.forms or surface.rstrip("s") in e.forms)
                if not entries:
                    continue
            found.append(_Match(first, last, start, end, kind, quality, entries))
        return found

    def _abbreviation_matches(self, text: str, tt: TokenizedText, matches: list[_Match]) -> list[_Match]:
        """Short forms defined in the text take their long form's entities; others are blocked.

        Each occurrence of a short form belongs to the closest definition before it.
        """
        definitions = find_abbreviations(text)
        if not definitions:
            return matches
        by_end: dict[int, list[_Match]] = {}
        for m in matches:
            by_end.setdefault(m.end, []).append(m)
        by_short: dict[str, list[tuple[int, tuple[LexiconEntry, ...]]]] = {}
        for d in definitions:
            entries: tuple[LexiconEntry, ...] = ()
            inside = [m for m in by_end.get(d.long_end, ()) if m.start >= d.long_start]
            if inside:
                best = min(inside, key=lambda m: m.start)
                # the match must cover most of the long form ("heart failure" in "congestive
                # heart failure" is fine; "failure" alone is not)
                if (best.end - best.start) >= 0.5 * (d.long_end - d.long_start):
                    entries = best.entries
            by_short.setdefault(d.short, []).append((d.short_start, entries))
        blocked: set[tuple[int, int]] = set()
        added: list[_Match] = []
        quality = self.config.abbreviation_quality
        for short, defs in by_short.items():
            starts = [s for s, _ in defs]
            for s, e in short_form_occurrences(text, short, starts[0]):
                entries = defs[bisect_right(starts, s) - 1][1]
                blocked.add((s, e))
                if entries:
                    first = bisect_left(tt.starts, s)
                    last = bisect_left(tt.ends, e)
                    if first <= last < len(tt.tokens):
                        added.append(_Match(first, last, tt.starts[first], tt.ends[last], "abbreviation", quality, entries))
        kept = [m for m in matches if (m.start, m.end) not in blocked]
        return kept + added

    def _resolve_overlaps(self, matches: list[_Match]) -> list[_Match]:
        if self.config.overlapping:
            seen, out = set(), []
            for m in matches:  # one mention per span: the best kind
                if (m.start, m.end) not in seen:
                    seen.add((m.start, m.end))
                    out.append(m)
            return out
        chosen, covered_until = [], -1
        for m in matches:
            if m.first > covered_until:
                chosen.append(m)
                covered_until = m.last
        return chosen

    def _fuzzy_matches(self, tt: TokenizedText, chosen: list[_Match]) -> list[_Match]:
        """Character n-gram candidates for spans of uncovered tokens ending in a known head word."""
        covered = np.zeros(len(tt.tokens), dtype=bool)
        for m in chosen:
            covered[m.first : m.last + 1] = True
        index = self.fuzzy_index
        extra = self.config.fuzzy_extra_tokens
        queries, spans = [], []
        toks = tt.tokens
        for i, tok in enumerate(toks):
            if covered[i] or len(tok) < 4 or not tok.isalpha() or tok in STOP_WORDS:
                continue
            head = head_block(tok)
            if not index.has_head(head):
                continue
            for j in range(i, max(-1, i - self.config.fuzzy_max_tokens), -1):
                if covered[j] or not toks[j].isalnum():
                    break
                if toks[j] in STOP_WORDS or not index.has_length(head, i - j + 1, extra):
                    continue
                queries.append((" ".join(toks[j : i + 1]), head))
                spans.append((j, i))
        if not queries:
            return []
        # per head word, the best span ending there: highest similarity, then the longest
        best: dict[int, tuple[float, int, str]] = {}
        for (j, i), hits in zip(spans, index.search_all(queries, k=1, extra_tokens=extra)):
            if hits and hits[0].score >= self.config.fuzzy_threshold:
                cand = (hits[0].score, i - j + 1, hits[0].key)
                if i not in best or cand[:2] > best[i][:2]:
                    best[i] = cand
        out: list[_Match] = []
        taken = np.zeros(len(toks), dtype=bool)
        for i, (score, length, key) in sorted(best.items(), key=lambda kv: -kv[1][0]):
            j = i - length + 1
            if taken[j : i + 1].any():
                continue
            taken[j : i + 1] = True
            out.append(_Match(j, i, tt.starts[j], tt.ends[i], "fuzzy", score, self.lexicon.entries[key]))
        return out

    def _ranked(self, entries: tuple[LexiconEntry, ...], limit: int | None = None) -> list[Candidate]:
        """Candidates with probabilities: priors, re-weighted by `prefer_namespaces`, best first."""
        ents = self.graph.entities
        prefs = self.config.prefer_namespaces
        weights = [e.prior for e in entries]
        if prefs and len(entries) > 1:
            for i, e in enumerate(entries):
                iri = ents[e.entity_id].iri
                rank = next((r for r, p in enumerate(prefs) if iri.startswith(p)), len(prefs))
                weights[i] *= 0.1**rank
        total = sum(weights) or 1.0
        cands = [
            Candidate(ents[e.entity_id].iri, ents[e.entity_id].display_label, w / total, e.entity_id)
            for e, w in zip(entries, weights)
        ]
        if prefs:
            cands.sort(key=lambda c: (-c.score, c.entity_id))
        return cands[: limit or self.config.max_candidates]

    def _is_generic(self, tt: TokenizedText, m: _Match) -> bool:
        """A one-word dictionary match on a common English word or its plural/inflection (in-text
        abbreviations never are)."""
        if m.first != m.last or m.match == "abbreviation":
            return False
        zipf = max(common_word_zipf(tt.tokens[m.first]), common_word_zipf(tt.lemmas[m.first]))
        return zipf >= self.config.generic_zipf  # type: ignore[operator]

    def _mention(self, text: str, m: _Match) -> Mention:
        cands = self._ranked(m.entries)
        best = cands[0]
        return Mention(m.start, m.end, text[m.start : m.end], best.entity, best.label, m.quality * best.score, cands, m.match)

    def _rerank_by_context(self, text: str, mentions: list[Mention]) -> None:
        """Mix each ambiguous mention's priors with softmax(context similarity / 0.05)."""
        from .context import sentence_around

        ambiguous = [m for m in mentions if len(m.candidates) > 1]
        if not ambiguous:
            return
        enc = self.context_encoder
        sentences = [sentence_around(text, m.start, m.end) for m in ambiguous]
        unique = sorted(set(sentences))
        sent_vec = dict(zip(unique, enc.embed(unique)))
        for m, s in zip(ambiguous, sentences):
            quality = m.score / m.candidates[0].score if m.candidates[0].score > 0 else 1.0
            m.candidates = self._mix(m.candidates, sent_vec[s])
            best = m.candidates[0]
            m.entity, m.label, m.score = best.entity, best.label, quality * best.score

    def _mix(self, cands: list[Candidate], sentence_vector: np.ndarray) -> list[Candidate]:
        w = self.config.context_weight
        vecs = self.context_encoder.entity_vectors([c.entity_id for c in cands])
        sims = vecs @ sentence_vector / 0.05
        sims = np.exp(sims - sims.max())
        sims /= sims.sum()
        total = sum(c.score for c in cands) or 1.0
        mixed = [
            Candidate(c.entity, c.label, (1 - w) * c.score / total + w * float(s), c.entity_id)
            for c, s in zip(cands, sims)
        ]
        return sorted(mixed, key=lambda c: (-c.score, c.entity_id))

    # ------------------------------------------------------------------ other entry points
    def candidates(self, surface: str, k: int = 5, context: str | None = None) -> list[Candidate]:
        """The `k` best entities for a given span: dictionary, lemma, then fuzzy; re-ranked by `context`."""
        tt = tokenize(ensure_text(surface))
        if not tt.tokens:
            return []
        lex = self.lexicon
        entries = lex.entries.get(tt.key())
        if not entries or self.config.prefer_namespaces:
            entries = lex.lemma_entries.get(tt.key(lemmatized=True)) or entries
        if not entries:
            toks = tt.tokens
            head = head_block(toks[-1])
            hits = self.fuzzy_index.search(" ".join(toks), head, k=k) if self.fuzzy_index.has_head(head) else []
            pooled: dict[int, float] = {}
            for h in hits:
                for e in lex.entries[h.key]:
                    pooled[e.entity_id] = max(pooled.get(e.entity_id, 0.0), h.score * e.prior)
            entries = tuple(
                LexiconEntry(eid, "fuzzy", p, ()) for eid, p in sorted(pooled.items(), key=lambda kv: (-kv[1], kv[0]))
            )
            if not entries:
                return []
        cands = self._ranked(entries, limit=k)
        if context is not None and len(cands) > 1:
            cands = self._mix(cands, self.context_encoder.embed([context])[0])
        return cands[:k]

    def link_batch(self, texts: Iterable[str], n_process: int = 1, chunksize: int = 64) -> list[list[Mention]]:
        """`link` for every text; with ``n_process > 1`` the texts are shared out over forked processes.

        With a mention detector, the detector reads all the texts in batches in this process
        (on the GPU when there is one) and `n_process` is not used.
        """
        texts = list(texts)
        if n_process < 1:
            raise ConfigError("n_process must be at least 1")
        if self.config.detector is not None:  # the detector reads the texts in batches, in this process
            texts = [ensure_text(t) for t in texts]
            return [self._link(t, d) for t, d in zip(texts, self.detector.detect(texts))]
        n_process = min(n_process, os.cpu_count() or 1, max(1, math.ceil(len(texts) / chunksize)))
        if n_process == 1 or "fork" not in multiprocessing.get_all_start_methods():
            return [self.link(t) for t in texts]
        global _WORKER_LINKER
        _WORKER_LINKER = self
        try:
            with multiprocessing.get_context("fork").Pool(n_process) as pool:
                return pool.map(_link_in_worker, texts, chunksize=chunksize)
        finally:
            _WORKER_LINKER = None

    def report(self, texts: Iterable[str], top: int = 20):
        """Coverage, mentions per text, ambiguity and the most frequent unlinked phrases of a corpus."""
        from .report import build_report

        return build_report(self, list(texts), top=top)


_WORKER_LINKER: EntityLinker | None = None


def _link_in_worker(text: str) -> list[Mention]:
    assert _WORKER_LINKER is not None
    return _WORKER_LINKER.link(text)
