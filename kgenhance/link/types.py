"""Typed data of entity linking: candidates, mentions, and the linker's settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import ConfigError

# How a mention was found; earlier kinds win ties between spans that are equally long.
MATCH_KINDS = ("abbreviation", "exact", "lemma", "fuzzy", "nil")
DETECTOR_MODES = ("spans", "union", "fill", "confirm")


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
    match: str = "exact"  # one of MATCH_KINDS; "nil": a detected span no entity fits (entity "")

    @property
    def entity_id(self) -> int:
        return self.candidates[0].entity_id if self.candidates else -1

    def to_dict(self, candidates: bool = False) -> dict:
        """The JSON form: start, end, surface, entity, label, score (plus match and candidates if asked)."""
        d = {
            "start": self.start,
            "end": self.end,
            "surface": self.surface,
            "entity": self.entity,
            "label": self.label,
            "score": round(self.score, 4),
        }
        if candidates:
            d["match"] = self.match
            d["candidates"] = [
                {"entity": c.entity, "label": c.label, "score": round(c.score, 4)} for c in self.candidates
            ]
        return d


@dataclass
class LinkerConfig:
    """Settings of an `EntityLinker` (saved with models so prediction links the same way)."""

    max_candidates: int = 5
    min_score: float = 0.0
    overlapping: bool = False  # keep nested mentions ("small cell lung cancer" and "lung cancer")
    entity_kinds: tuple[str, ...] = ("class", "individual", "other")
    case_sensitive_max_length: int = 3
    exclude_branches: tuple[str, ...] = ()  # IRIs whose whole subtree is never linked
    lemmatize: bool = True  # match inflected forms ("seizures" → "seizure")
    lemma_quality: float = 0.9  # score factor of a lemma-only match
    abbreviations: bool = True  # in-text definitions: "atrial fibrillation (AF) … AF"
    abbreviation_quality: float = 0.9
    fuzzy: bool = False  # character n-gram candidates for spans that miss the dictionary
    fuzzy_threshold: float = 0.9  # minimum cosine similarity (0.9 best of 0.8/0.85/0.9/0.95 on BC5CDR train)
    fuzzy_max_tokens: int = 5
    fuzzy_extra_tokens: int = 0  # a fuzzy name may have this many more words than the span
    context: bool = False  # re-rank ambiguous mentions by sentence ↔ label+definition similarity
    context_mode: str = "static"  # "static" (word-piece embeddings) or "contextual" (full encoder)
    context_weight: float = 0.5
    backbone: str | None = None  # encoder for context similarity; None = the default MiniLM
    cache: bool = True  # keep the normalised lexicon in the kgenhance cache
    # IRI prefixes, most preferred first: when one name belongs to entities of several
    # ontologies (e.g. DOID and HPO loaded together), each step down this list costs ×0.1
    prefer_namespaces: tuple[str, ...] = ()
    # Leave unlinked a one-word name that is a common English word of at least this Zipf
    # frequency ("well" 6.0, "group" 5.6, "share" 5.2; "heart" 5.3, "cancer" 4.9): None = off.
    generic_zipf: float | None = None
    # A trained `MentionDetector` directory: its spans join the dictionary's mentions as
    # detector_mode says, each linked through the lexicon (exact, lemma, then fuzzy at
    # detector_fuzzy_threshold; with a detector, fuzzy candidates are sought for its spans only).
    detector: str | None = None
    detector_fuzzy_threshold: float = 0.9  # 0.8 linked more spans wrongly than rightly (BC5CDR train)
    # how detected spans and dictionary mentions combine: "spans" (detected spans only),
    # "union" (+ dictionary mentions outside them), "fill" (dictionary mentions, + detected
    # spans outside them), "confirm" (dictionary mentions a detected span overlaps, + the rest
    # of the detected spans)
    detector_mode: str = "fill"
    keep_unlinked: bool = False  # return detected spans no entity fits, as "nil" mentions (entity "")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["entity_kinds"] = list(self.entity_kinds)
        d["exclude_branches"] = list(self.exclude_branches)
        d["prefer_namespaces"] = list(self.prefer_namespaces)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LinkerConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for name in ("entity_kinds", "exclude_branches", "prefer_namespaces"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)

    def validate(self) -> None:
        """Raise `ConfigError` naming the first setting out of range."""
        if self.max_candidates < 1:
            raise ConfigError("max_candidates must be at least 1")
        if self.min_score < 0:
            raise ConfigError(f"min_score must not be negative, not {self.min_score}")
        for name in ("lemma_quality", "abbreviation_quality", "fuzzy_threshold", "context_weight",
                     "detector_fuzzy_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, not {value}")
        if self.fuzzy_max_tokens < 1:
            raise ConfigError("fuzzy_max_tokens must be at least 1")
        if self.generic_zipf is not None and not 4.0 <= self.generic_zipf <= 8.0:
            raise ConfigError(f"generic_zipf must be between 4.0 and 8.0 (or None), not {self.generic_zipf}")
        if self.detector_mode not in DETECTOR_MODES:
            raise ConfigError(f"detector_mode must be one of {', '.join(DETECTOR_MODES)}, not {self.detector_mode!r}")
        if self.context_mode not in ("static", "contextual"):
            raise ConfigError(f"context_mode must be 'static' or 'contextual', not {self.context_mode!r}")
