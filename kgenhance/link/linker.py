"""`EntityLinker`: finds the graph's entities in text, with candidates and scores."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable

from ..errors import ConfigError
from ..graph.model import KnowledgeGraph
from .lexicon import Lexicon
from .normalize import tokenize


@dataclass(frozen=True)
class Candidate:
    """An entity a mention may refer to, with the linker's probability for it."""

    entity: str  # IRI
    label: str
    score: float
    entity_id: int = field(default=-1, compare=False)


@dataclass
class Mention:
    """A span of text linked to an entity; `candidates` holds the alternatives, best first."""

    start: int
    end: int
    surface: str
    entity: str
    label: str
    score: float
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def entity_id(self) -> int:
        return self.candidates[0].entity_id if self.candidates else -1

    def to_dict(self, candidates: bool = False) -> dict:
        """The JSON form: start, end, surface, entity, label, score (and candidates if asked)."""
        d = {
            "start": self.start,
            "end": self.end,
            "surface": self.surface,
            "entity": self.entity,
            "label": self.label,
            "score": round(self.score, 4),
        }
        if candidates:
            d["candidates"] = [
                {"entity": c.entity, "label": c.label, "score": round(c.score, 4)} for c in self.candidates
            ]
        return d


@dataclass
class LinkerConfig:
    """Settings of an `EntityLinker` (saved with models so prediction links the same way)."""

    max_candidates: int = 4
    min_score: float = 0.0
    overlapping: bool = False
    entity_kinds: tuple[str, ...] = ("class", "individual", "other")
    case_sensitive_max_length: int = 3
    exclude_branches: tuple[str, ...] = ()  # IRIs whose whole subtree is never linked

    def to_dict(self) -> dict:
        d = asdict(self)
        d["entity_kinds"] = list(self.entity_kinds)
        d["exclude_branches"] = list(self.exclude_branches)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LinkerConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for name in ("entity_kinds", "exclude_branches"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)


class EntityLinker:
    """Dictionary linker over a graph's labels and synonyms.

    Text and names are normalised the same way (Unicode NFKC, case folding, punctuation
    and hyphens as spaces); an Aho–Corasick automaton finds every name on token
    boundaries in one pass; the longest leftmost matches win unless `overlapping`.
    Names shared by several entities keep all of them as candidates, ranked by the kind of
    name (label > exact synonym > abbreviation > related > broad/narrow) and the entity's
    degree in the graph.
    """

    def __init__(self, graph: KnowledgeGraph, config: LinkerConfig | None = None, **overrides):
        cfg = config or LinkerConfig()
        if overrides:
            cfg = LinkerConfig.from_dict({**cfg.to_dict(), **overrides})
        if cfg.max_candidates < 1:
            raise ConfigError("max_candidates must be at least 1")
        self.graph = graph
        self.config = cfg
        self.lexicon = Lexicon(
            graph,
            entity_kinds=cfg.entity_kinds,
            case_sensitive_max_length=cfg.case_sensitive_max_length,
            exclude_branches=cfg.exclude_branches,
        )

    @classmethod
    def from_graph(cls, graph: KnowledgeGraph, **settings) -> "EntityLinker":
        """A linker over every labelled class, individual and untyped entity of `graph`."""
        return cls(graph, **settings)

    def link(self, text: str) -> list[Mention]:
        """The mentions of entities in `text`, in text order."""
        if not isinstance(text, str):
            raise ConfigError(f"link() takes a string, not {type(text).__name__}")
        tt = tokenize(text)
        if not tt.tokens:
            return []
        key = tt.key()
        start_at, end_at, pos = {}, {}, 1
        for i, tok in enumerate(tt.tokens):
            start_at[pos] = i
            end_at[pos + len(tok)] = i
            pos += len(tok) + 1
        found: list[tuple[int, int, str]] = []
        lex = self.lexicon
        for end_idx, name in lex.automaton.iter(key):
            first = start_at[end_idx - len(name) + 2]
            last = end_at[end_idx]
            found.append((first, last, name))
        if not found:
            return []
        found.sort(key=lambda m: (m[0], -(m[1] - m[0]), m[2]))
        mentions: list[Mention] = []
        covered_until = -1
        for first, last, name in found:
            if not self.config.overlapping and first <= covered_until:
                continue
            mention = self._mention(text, tt.starts[first], tt.ends[last], name)
            if mention is None:
                continue
            mentions.append(mention)
            covered_until = max(covered_until, last)
        return mentions

    def link_batch(self, texts: Iterable[str]) -> list[list[Mention]]:
        """`link` for every text."""
        return [self.link(t) for t in texts]

    def _mention(self, text: str, start: int, end: int, name: str) -> Mention | None:
        entries = self.lexicon.entries[name]
        surface = text[start:end]
        if self.lexicon.needs_case(name):
            entries = tuple(e for e in entries if surface in e.forms)
            if not entries:
                return None
            total = sum(e.prior for e in entries)
        else:
            total = 1.0
        ents = self.graph.entities
        cands = [
            Candidate(ents[e.entity_id].iri, ents[e.entity_id].display_label, e.prior / total, e.entity_id)
            for e in entries[: self.config.max_candidates]
        ]
        best = cands[0]
        if best.score < self.config.min_score:
            return None
        return Mention(start, end, surface, best.entity, best.label, best.score, cands)
