"""Text normalisation shared by the lexicon and the linker, with offsets back to the original.

Every name of the ontology and every text go through the same steps, so a match on the
normalised forms is a match on the meaning-preserving variants of a name:

1. tokens are runs of letters and digits (``\\w+``): hyphens, slashes, apostrophes and
   every other punctuation mark act as spaces ("Atrial-fibrillation" = "atrial fibrillation");
2. each token is Unicode NFKC-normalised and case-folded ("ＡＦ" → "af", "Straße" → "strasse");
3. British spellings of medical words become American ones ("haemorrhage" → "hemorrhage",
   "oesophageal" → "esophageal", "tumour" → "tumor", "hospitalisation" → "hospitalization");
4. for the lemma key, each token is lemmatised with simplemma's English dictionary
   ("seizures" → "seizure", "kidneys" → "kidney"), so plurals and inflections match;
5. a possessive "'s" is dropped ("Crohn's disease" = "Crohn disease").

The fuzzy matcher compares a span only with names whose last word starts with the same
four letters (`head_block`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate

import simplemma

from ..errors import DataError
from .stopwords import ENGLISH_STOP_WORDS

_TOKEN = re.compile(r"\w+")
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS)
NORMALIZATION_VERSION = 2  # bump when any rule changes: cached lexicons are rebuilt

# British → American spelling, applied to case-folded tokens of 5 characters or more.
# Each rule is (pattern, replacement); they are tried in order and all that match apply.
SPELLING_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"haem", "hem"),  # haemorrhage, haematoma, haemoglobin
        (r"aem", "em"),  # anaemia, leukaemia, ischaemic, septicaemia
        (r"^paed", "ped"),  # paediatric
        (r"paedic", "pedic"),  # orthopaedic
        (r"^oe(?=soph|dem|str)", "e"),  # oesophagus, oedema, oestrogen
        (r"^coel", "cel"),  # coeliac
        (r"^foet", "fet"),  # foetal
        (r"rrhoea", "rrhea"),  # diarrhoea, gonorrhoea
        (r"^anaesth", "anesth"),  # anaesthesia
        (r"^gynaec", "gynec"),  # gynaecological
        (r"^(tum|col|behavi|hum|fav|lab|od|vap|rum|hon|neighb|vig)our", r"\1or"),  # tumour, behaviour
        (r"isation$", "ization"),  # hospitalisation
        (r"isations$", "izations"),
        (r"ised$", "ized"),  # localised, generalised
        (r"ising$", "izing"),
        (r"(?<=[^aeiou])tre$", "ter"),  # centre, fibre, litre
        (r"(?<=[^aeiou])tres$", "ters"),
    )
)


@lru_cache(maxsize=1 << 17)
def normalize_token(token: str) -> str:
    """NFKC, case folding, then British → American spelling for tokens of 5+ characters."""
    t = token.lower() if token.isascii() else unicodedata.normalize("NFKC", token).casefold()
    if len(t) >= 5:
        for pattern, repl in SPELLING_RULES:
            t = pattern.sub(repl, t)
    return t


@lru_cache(maxsize=1 << 17)
def lemma(token: str) -> str:
    """The dictionary lemma of a normalised token (simplemma, English); digits stay as they are."""
    if len(token) < 4 or not token.isalpha():
        return token
    return simplemma.lemmatize(token, lang="en").casefold()


def head_block(token: str) -> str:
    """The fuzzy matcher's block of a span with this last word: its first four letters."""
    return token[:4]


def ensure_text(text: object, *, where: str = "text") -> str:
    """`text` as a `str`; UTF-8 bytes are decoded, anything else is a `DataError` naming `where`."""
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{where}: not valid UTF-8 (byte {e.start}: {bytes(text)[e.start:e.start + 1]!r})") from e
    raise DataError(f"{where}: expected text, got {type(text).__name__}")


@dataclass
class TokenizedText:
    """A text cut into word tokens: normalised forms, lemmas and character offsets."""

    tokens: list[str]
    starts: list[int]
    ends: list[int]
    _lemmas: list[str] | None = field(default=None, repr=False)

    @property
    def lemmas(self) -> list[str]:
        """The lemma of every token (computed once)."""
        if self._lemmas is None:
            self._lemmas = [lemma(t) for t in self.tokens]
        return self._lemmas

    def key(self, lemmatized: bool = False) -> str:
        """The search string: tokens (or lemmas) joined and framed by single spaces."""
        toks = self.lemmas if lemmatized else self.tokens
        return " " + " ".join(toks) + " " if toks else " "

    def token_ends_in_key(self, lemmatized: bool = False) -> list[int]:
        """For each token, the position just after it in `key(lemmatized)` (for mapping matches back)."""
        toks = self.lemmas if lemmatized else self.tokens
        return list(accumulate((len(t) + 1 for t in toks), initial=0))[1:]

    def span_key(self, first: int, last: int, lemmatized: bool = False) -> str:
        """The key of tokens ``first..last`` (inclusive)."""
        toks = self.lemmas if lemmatized else self.tokens
        return " " + " ".join(toks[first : last + 1]) + " "


def tokenize(text: str) -> TokenizedText:
    """Split on anything that is not a letter, digit or underscore; normalise each token."""
    tokens, starts, ends = [], [], []
    for m in _TOKEN.finditer(text):
        if m.group() in ("s", "S") and m.start() > 0 and text[m.start() - 1] in "'’":
            continue  # possessive
        tokens.append(normalize_token(m.group()))
        starts.append(m.start())
        ends.append(m.end())
    return TokenizedText(tokens, starts, ends)


def normalize_term(text: str) -> str:
    """The exact search key of a label or synonym (same normalisation as the text)."""
    return tokenize(text).key()


def lemma_term(text: str) -> str:
    """The lemma search key of a label or synonym."""
    return tokenize(text).key(lemmatized=True)


def is_stopword_only(key: str) -> bool:
    """True when every token of a key is a stop word or a number: such names are never linked."""
    return all(t in STOP_WORDS or t.isdigit() for t in key.split())


@lru_cache(maxsize=1)
def _common_words() -> dict[str, float]:
    import gzip
    from pathlib import Path

    path = Path(__file__).with_name("data") / "common_words_en.tsv.gz"
    table: dict[str, float] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                word, zipf = line.rstrip("\n").split("\t")
                table[word] = float(zipf)
    return table


def common_word_zipf(token: str) -> float:
    """English Zipf frequency of a normalised token (0 for words outside the 7,080 most common)."""
    return _common_words().get(token.lower(), 0.0)
