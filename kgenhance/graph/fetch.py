"""Fetching `owl:imports` over http(s) — only when the user passes ``allow_network=True``."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from pathlib import PurePosixPath
from urllib.parse import urlparse

from ..errors import OntologyError
from .rdf import RDF_SUFFIXES

log = logging.getLogger(__name__)

MAX_BYTES = 256 * 1024 * 1024
_CONTENT_TYPES = {
    "application/rdf+xml": "xml",
    "application/owl+xml": None,  # OWL/XML is not RDF: not parsed
    "text/turtle": "turtle",
    "application/x-turtle": "turtle",
    "application/n-triples": "nt",
    "application/ld+json": "json-ld",
    "application/xml": "xml",
    "text/xml": "xml",
}
ACCEPT = "application/rdf+xml, text/turtle;q=0.9, application/n-triples;q=0.8, application/ld+json;q=0.7, */*;q=0.1"


def is_remote(iri: str) -> bool:
    """True for http(s) IRIs."""
    return urlparse(iri).scheme in ("http", "https")


def fetch_ontology(iri: str, timeout: float = 30.0) -> tuple[bytes, str]:
    """Download an imported ontology: its bytes and the format name to parse them with."""
    request = urllib.request.Request(iri, headers={"Accept": ACCEPT, "User-Agent": "kgenhance"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only)
            data = response.read(MAX_BYTES + 1)
            content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            final_url = response.geturl()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise OntologyError(f"cannot fetch the import ({getattr(exc, 'reason', exc)})", iri) from exc
    if len(data) > MAX_BYTES:
        raise OntologyError(f"the import is larger than {MAX_BYTES // 2**20} MiB; refused", iri)
    fmt = _CONTENT_TYPES.get(content_type)
    if fmt is None:
        fmt = RDF_SUFFIXES.get(PurePosixPath(urlparse(final_url).path).suffix.lower())
    if fmt is None:
        fmt = "xml" if data.lstrip()[:1] == b"<" else "turtle"
    return data, fmt
