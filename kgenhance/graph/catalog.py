"""OASIS XML catalogs (catalog-v001.xml, as Protégé and FIBO write them): import IRI → local file."""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ..errors import OntologyError

CATALOG_NAMES = ("catalog-v001.xml", "catalog.xml")


def read_catalog(path: Path) -> dict[str, Path]:
    """Map each `<uri name=…>` of the catalog to the absolute file it points to."""
    try:
        root = SafeET.parse(str(path)).getroot()
    except (ParseError, DefusedXmlException) as exc:
        line = getattr(exc, "position", (None,))[0]
        raise OntologyError(f"cannot parse XML catalog ({exc})", str(path), line) from exc
    mapping: dict[str, Path] = {}
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "uri" and el.get("name") and el.get("uri"):
            target = el.get("uri", "")
            if target.startswith("file:"):
                target = target[5:].lstrip("/") if target.startswith("file:///") is False else target[7:]
            mapping[el.get("name", "")] = (path.parent / target).resolve()
    return mapping


def find_catalogs(paths: list[Path]) -> list[Path]:
    """Catalog files in the given directories, or beside the given files."""
    found: list[Path] = []
    for p in paths:
        folder = p if p.is_dir() else p.parent
        for name in CATALOG_NAMES:
            c = folder / name
            if c.is_file() and c not in found:
                found.append(c)
    return found
