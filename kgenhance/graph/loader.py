"""`load_graph`: files and directories of RDF/OWL/OBO → one `KnowledgeGraph`."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from ..errors import OntologyError
from .builder import GraphBuilder
from .cache import GraphCache
from .catalog import find_catalogs, read_catalog
from .model import KnowledgeGraph
from .obo import read_obo
from .facts import FactCollector
from .rdf import parse_rdf_file, rdf_format

log = logging.getLogger(__name__)
_RDF_MARKER = b"http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def _ontology_files(path: Path) -> list[Path]:
    """The ontology files a path names: itself, or every RDF/OWL/OBO file under a directory."""
    if not path.exists():
        raise OntologyError("no such file or directory", str(path))
    if path.is_file():
        if path.suffix.lower() != ".obo" and rdf_format(path) is None:
            raise OntologyError(
                "unknown ontology format (expected .owl .rdf .ttl .nt .n3 .nq .trig .jsonld .obo)", str(path)
            )
        return [path]
    files = []
    for f in sorted(path.rglob("*")):
        if not f.is_file() or any(part.startswith(".") for part in f.relative_to(path).parts):
            continue
        suffix = f.suffix.lower()
        if suffix == ".xml":  # catalogs and other XML: only files that are RDF
            with f.open("rb") as fh:
                if _RDF_MARKER not in fh.read(65536) or f.name.startswith("catalog"):
                    continue
        if suffix == ".obo" or rdf_format(f) is not None:
            files.append(f)
    if not files:
        raise OntologyError("the directory holds no ontology files", str(path))
    return files


def load_graph(
    *paths: str | Path,
    imports: str = "follow",
    lang: str = "en",
    include_deprecated: bool = False,
    allow_network: bool = False,
    allow_outside_imports: bool = False,
    cache: bool = True,
    progress: bool = False,
) -> KnowledgeGraph:
    """Load ontology files or directories (RDF/XML, Turtle, N-Triples, JSON-LD, OWL, OBO).

    `owl:imports` are resolved against the files loaded and XML catalogs
    (catalog-v001.xml) beside them; with ``imports="follow"`` a catalogued file that was
    not named is loaded too. Nothing is fetched from the network unless `allow_network`:
    then http(s) imports that no local file provides are downloaded (and theirs), JSON-LD
    remote contexts are allowed, and the graph cache is bypassed (remote content is not
    tracked). Imports that cannot be resolved are listed in `graph.unresolved_imports`. A catalog entry pointing
    outside the named directories (or the folders of the named files) is not followed
    unless `allow_outside_imports`; it is listed in `graph.warnings`. With `cache`, a graph
    built before from identical file contents and options is read back instead of re-parsed.
    """
    if not paths:
        raise OntologyError("no ontology path given")
    if imports not in ("follow", "ignore"):
        raise OntologyError(f"imports must be 'follow' or 'ignore', not {imports!r}")
    roots = [Path(p).expanduser() for p in paths]
    files: list[Path] = []
    seen: set[Path] = set()
    for root in roots:
        for f in _ontology_files(root):
            resolved = f.resolve()
            if resolved not in seen:
                seen.add(resolved)
                files.append(f)
    options = {"imports": imports, "lang": lang, "include_deprecated": include_deprecated}
    if allow_outside_imports:
        options["allow_outside_imports"] = True
    store = GraphCache() if cache and not allow_network else None
    if store is not None:
        hit = store.get(files, options)
        if hit is not None:
            return hit
    # The build allocates millions of small objects and frees none of them until it ends:
    # the cyclic garbage collector's passes over them (each longer as the heap grows) are
    # pure overhead, so it is paused for the build (reference counting still frees memory).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        graph, read = _build(
            roots, files, imports, lang, include_deprecated, allow_network, progress, allow_outside_imports
        )
    finally:
        if gc_was_enabled:
            gc.enable()
    if store is not None:
        store.put(files, read, options, graph)
    return graph


def _inside(path: Path, folders: list[Path]) -> bool:
    return any(path == f or f in path.parents for f in folders)


def _build(roots, files, imports, lang, include_deprecated, allow_network, progress, allow_outside=False):
    builder = GraphBuilder(lang=lang)
    folders = [(r if r.is_dir() else r.parent).resolve() for r in roots]
    refused: list[str] = []
    collector = FactCollector(builder)
    obo_statements = 0
    catalog: dict[str, Path] = {}
    for c in find_catalogs(roots + files):
        for name, target in read_catalog(c).items():
            catalog.setdefault(name, target)

    queue = list(files)
    loaded: list[Path] = []
    seen = {f.resolve() for f in files}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        sizes = sum(f.stat().st_size for f in queue)
        bar = tqdm(total=sizes, desc="parsing ontology files", unit="B", unit_scale=True, disable=None)
    rdf_loaded = False
    try:
        while queue:
            f = queue.pop(0)
            if f.suffix.lower() == ".obo":
                obo_statements += read_obo(f, builder)
                if bar is not None:
                    bar.update(f.stat().st_size)
            else:
                parse_rdf_file(collector, f, rdf_format(f) or "xml", allow_network=allow_network,
                               progress=bar.update if bar is not None else None)
                rdf_loaded = True
            loaded.append(f)
            if not queue and imports == "follow" and rdf_loaded:
                # Follow owl:imports that a catalog maps to a file not loaded yet.
                for imp in collector.imports - collector.ontology_iris():
                    target = catalog.get(imp)
                    if target is not None and not allow_outside and not _inside(target.resolve(), folders):
                        if imp not in refused:
                            refused.append(imp)
                        continue
                    if target is not None and target.is_file() and target.resolve() not in seen:
                        seen.add(target.resolve())
                        queue.append(target)
                        if bar is not None:
                            bar.total += target.stat().st_size
    finally:
        if bar is not None:
            bar.close()

    fetched: list[str] = []
    if allow_network and imports == "follow" and rdf_loaded:
        _fetch_remote_imports(collector, fetched)
    warnings: list[str] = []
    for imp in refused:
        msg = f"import {imp} maps to {catalog[imp]}, outside the loaded folders: not followed (allow_outside_imports=True)"
        warnings.append(msg)
        log.warning(msg)
    unresolved: list[str] = []
    if rdf_loaded:
        info = collector.finish()
        unresolved = sorted(set(info["imports"]) - set(info["ontologies"]) - set(fetched))
    if collector.malformed:
        msg = (f"{collector.malformed} literal(s) had a value malformed for their datatype; their lexical "
               f"form was kept (first: {collector.malformed_example})")
        warnings.append(msg)
        log.warning(msg)
    if unresolved:
        log.info("%d owl:imports could not be resolved locally (not fetched)", len(unresolved))
    graph = builder.build(
        triples=collector.triples + obo_statements,
        sources=[str(f.resolve()) for f in loaded] + fetched,
        unresolved_imports=unresolved,
        include_deprecated=include_deprecated,
        warnings=warnings,
    )
    if not any(e.label for e in graph.entities):
        raise OntologyError("the ontology has no labelled entities (rdfs:label, skos:prefLabel or OBO name)",
                            str(roots[0]))
    return graph, loaded


def _fetch_remote_imports(collector: FactCollector, fetched: list[str]) -> None:
    """Download http(s) imports (and theirs) that no local file provides; failures stay unresolved."""
    from .fetch import fetch_ontology, is_remote
    from .rdf import parse_rdf_data

    tried: set[str] = set()
    while True:
        todo = sorted(i for i in collector.imports - collector.ontology_iris() if is_remote(i) and i not in tried)
        if not todo:
            return
        for iri in todo:
            tried.add(iri)
            try:
                data, fmt = fetch_ontology(iri)
                parse_rdf_data(collector, data, fmt, iri, iri, allow_network=True)
                fetched.append(iri)
                log.info("fetched import %s (%d bytes)", iri, len(data))
            except OntologyError as exc:
                log.warning("%s", exc)
