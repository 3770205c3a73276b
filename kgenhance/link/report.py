"""`LinkReport`: how well a linker covers a corpus, and what it misses."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from .normalize import STOP_WORDS, tokenize

if TYPE_CHECKING:  # pragma: no cover
    from .linker import EntityLinker
    from .types import Mention


@dataclass
class LinkReport:
    """Corpus-level linking diagnostics."""

    texts: int
    coverage: float  # share of texts with at least one mention
    mentions: int
    mentions_per_text: float
    ambiguity_rate: float  # share of mentions with more than one candidate
    match_kinds: dict[str, int]  # mentions by how they were found (exact, lemma, abbreviation, fuzzy)
    distinct_entities: int
    top_entities: list[tuple[str, str, int]] = field(default_factory=list)  # (IRI, label, count)
    unlinked_phrases: list[tuple[str, int]] = field(default_factory=list)  # lemmatised, 2+ words

    def to_dict(self) -> dict:
        return asdict(self)

    def format(self) -> str:
        """A plain-text summary for terminals."""
        lines = [
            f"texts                {self.texts}",
            f"coverage             {self.coverage:.1%} of texts have >= 1 mention",
            f"mentions             {self.mentions} ({self.mentions_per_text:.2f} per text)",
            f"ambiguous mentions   {self.ambiguity_rate:.1%}",
            "match kinds          " + ", ".join(f"{k} {v}" for k, v in sorted(self.match_kinds.items())),
            f"distinct entities    {self.distinct_entities}",
            "most linked:",
            *(f"  {n:6d}  {label}  <{iri}>" for iri, label, n in self.top_entities),
            "most frequent unlinked phrases (lemmatised, 2+ words):",
            *(f"  {n:6d}  {phrase}" for phrase, n in self.unlinked_phrases),
        ]
        return "\n".join(lines)


def unlinked_phrases(text: str, mentions: "list[Mention]", max_tokens: int = 4, min_tokens: int = 2) -> list[str]:
    """Maximal runs of `min_tokens`+ content words (no stop words, numbers or punctuation) no mention touches.

    Words are lemmatised, so "renal injuries" and "renal injury" count as one phrase; a
    run longer than `max_tokens` keeps its last words (the head of an English noun phrase).
    """
    tt = tokenize(text)
    covered = [False] * len(tt.tokens)
    for m in mentions:
        for i, (s, e) in enumerate(zip(tt.starts, tt.ends)):
            if s < m.end and e > m.start:
                covered[i] = True
    phrases, run = [], []
    for i, tok in enumerate(tt.tokens):
        content = not covered[i] and tok.isalpha() and len(tok) > 2 and tok not in STOP_WORDS
        gap = run and text[tt.ends[run[-1]] : tt.starts[i]].strip() not in ("", "-")
        if content and not gap:
            run.append(i)
            continue
        if len(run) >= min_tokens:
            phrases.append(" ".join(tt.lemmas[j] for j in run[-max_tokens:]))
        run = [i] if content else []
    if len(run) >= min_tokens:
        phrases.append(" ".join(tt.lemmas[j] for j in run[-max_tokens:]))
    return phrases


def build_report(linker: "EntityLinker", texts: list[str], top: int = 20) -> LinkReport:
    """Link every text and summarise."""
    all_mentions = linker.link_batch(texts)
    n_mentions = sum(len(m) for m in all_mentions)
    entity_counts: Counter[tuple[str, str]] = Counter()
    kinds: Counter[str] = Counter()
    phrases: Counter[str] = Counter()
    ambiguous = 0
    for text, mentions in zip(texts, all_mentions):
        for m in mentions:
            if m.entity:  # a detected span no entity fits ("nil") names none
                entity_counts[(m.entity, m.label)] += 1
            kinds[m.match] += 1
            ambiguous += len(m.candidates) > 1
        phrases.update(unlinked_phrases(text, mentions))
    n = len(texts)
    return LinkReport(
        texts=n,
        coverage=sum(1 for m in all_mentions if m) / n if n else 0.0,
        mentions=n_mentions,
        mentions_per_text=n_mentions / n if n else 0.0,
        ambiguity_rate=ambiguous / n_mentions if n_mentions else 0.0,
        match_kinds=dict(kinds),
        distinct_entities=len(entity_counts),
        top_entities=[(iri, label, c) for (iri, label), c in entity_counts.most_common(top)],
        unlinked_phrases=phrases.most_common(top),
    )
