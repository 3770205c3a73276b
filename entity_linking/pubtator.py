"""Read PubTator files (BC5CDR): documents with typed, MeSH-normalised mention offsets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class GoldMention:
    """One annotated mention: character offsets into title + " " + abstract."""

    start: int
    end: int
    surface: str
    type: str  # "Disease" or "Chemical"
    ids: tuple[str, ...]  # MeSH ids ("D006973"); empty when the annotators gave -1


@dataclass
class Document:
    pmid: str
    text: str
    mentions: list[GoldMention] = field(default_factory=list)


def read_pubtator(path: str | Path) -> list[Document]:
    """Every document of a PubTator file; a malformed line raises ValueError naming file and line."""
    path = Path(path)
    docs: list[Document] = []
    current: Document | None = None
    title = ""
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.rstrip("\n")
            if not line.strip():
                current = None
                continue
            if "|t|" in line[:20]:
                pmid, _, title = line.split("|", 2)
                continue
            if "|a|" in line[:20]:
                pmid, _, abstract = line.split("|", 2)
                current = Document(pmid, title + " " + abstract)
                docs.append(current)
                continue
            parts = line.split("\t")
            if len(parts) == 4 and parts[1] == "CID":
                continue  # chemical-induced-disease relation: not a mention
            if current is None or len(parts) < 6:
                raise ValueError(f"{path}:{lineno}: not a PubTator title, abstract or annotation line")
            start, end = int(parts[1]), int(parts[2])
            if current.text[start:end] != parts[3]:
                raise ValueError(f"{path}:{lineno}: offsets {start}-{end} do not hold {parts[3]!r}")
            ids = tuple(i for i in parts[5].split("|") if i and i != "-1")
            current.mentions.append(GoldMention(start, end, parts[3], parts[4], ids))
    return docs
