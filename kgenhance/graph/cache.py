"""Content-hash cache of built graphs: a second load of unchanged files is near-instant."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from .._io import write_json_atomic
from ..errors import KGEnhanceError
from .model import FORMAT_VERSION, KnowledgeGraph

# Bump when the loader turns the same files into a different graph (new OWL rules, say):
# graphs cached by an older loader are then rebuilt instead of served.
# 2: pyoxigraph parsing, owl:inverseOf edges, union and domain/range rules (stop 12).
BUILD_VERSION = 2

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """`$KGENHANCE_CACHE` if set, else the platform's user cache directory for kgenhance."""
    env = os.environ.get("KGENHANCE_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kgenhance"))


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class GraphCache:
    """Graphs keyed by the named files' contents and the load options.

    An entry also records every file read while building it (imports followed through
    catalogs); it is used only while all of those still have the recorded contents.
    """

    def __init__(self, root: Path | None = None):
        self.root = (root or cache_dir()) / "graphs"

    def _key(self, files: list[Path], options: dict) -> str:
        h = hashlib.sha256(f"v{FORMAT_VERSION}-b{BUILD_VERSION}".encode())
        h.update(json.dumps(options, sort_keys=True).encode())
        for f in files:
            h.update(file_digest(f).encode())
        return h.hexdigest()[:32]

    def get(self, files: list[Path], options: dict) -> KnowledgeGraph | None:
        try:
            key = self._key(files, options)
            manifest = self.root / f"{key}.json"
            if not manifest.is_file():
                return None
            recorded = json.loads(manifest.read_text(encoding="utf-8"))
            for path, digest in recorded["read"].items():
                if not Path(path).is_file() or file_digest(Path(path)) != digest:
                    return None
            return KnowledgeGraph.load(self.root / f"{key}.kg")
        except (OSError, ValueError, KeyError, KGEnhanceError) as exc:
            log.debug("graph cache miss (%s)", exc)
            return None

    def put(self, files: list[Path], read: list[Path], options: dict, graph: KnowledgeGraph) -> None:
        try:
            key = self._key(files, options)
            self.root.mkdir(parents=True, exist_ok=True)
            graph.save(self.root / f"{key}.kg")
            write_json_atomic(
                self.root / f"{key}.json",
                {"read": {str(p.resolve()): file_digest(p) for p in read}, "options": options},
            )
        except OSError as exc:  # a cache that cannot be written is not an error
            log.warning("could not write the graph cache under %s (%s)", self.root, exc)
