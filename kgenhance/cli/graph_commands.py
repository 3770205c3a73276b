"""`kgenhance graph stats|export`: inspect and export a loaded ontology."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from ._common import _load, _print_json, graph_app


@graph_app.command("stats")
def graph_stats(
    ontology: List[Path] = typer.Argument(..., help="Ontology files or directories."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    by_relation: bool = typer.Option(False, "--by-relation", help="Also count edges per relation type."),
    lang: str = typer.Option("en", "--lang", help="Preferred language of labels."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Parse the files even if a cached graph exists."),
) -> None:
    """Count triples, entities, relations, edges, labels and unresolved imports.

    Example: kgenhance graph stats graphs/hpo/hp.obo --json
    """
    graph = _load(ontology, no_cache, lang)
    stats = graph.stats()
    if by_relation:
        stats["by_relation"] = graph.relation_counts()
    if as_json:
        _print_json(stats)
        return
    for key, value in stats.items():
        if key in ("unresolved_imports", "by_relation"):
            continue
        typer.echo(f"{key:>20}: {value:,}")
    typer.echo(f"{'unresolved_imports':>20}: {len(stats['unresolved_imports'])}")
    for iri in stats["unresolved_imports"]:
        typer.echo(f"{'':>22}{iri}")
    for rel, count in stats.get("by_relation", {}).items():
        typer.echo(f"{count:>12,}  {graph.relation_label(rel)}  <{rel}>")


@graph_app.command("export")
def graph_export(
    ontology: List[Path] = typer.Argument(..., help="Ontology files or directories."),
    fmt: str = typer.Option(..., "--format", "-f", help="networkx-graphml, pyg (safetensors) or nt (N-Triples)."),
    out: Path = typer.Option(..., "--out", "-o", help="File to write (atomically)."),
    lang: str = typer.Option("en", "--lang", help="Preferred language of labels."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Parse the files even if a cached graph exists."),
) -> None:
    """Write the loaded graph as GraphML, PyG tensors or N-Triples.

    Example: kgenhance graph export graphs/hpo/hp.obo --format pyg --out hpo.safetensors
    """
    from ..graph.export import export_graph

    graph = _load(ontology, no_cache, lang)
    for path in export_graph(graph, out, fmt):
        typer.echo(f"wrote {path} ({path.stat().st_size:,} bytes)")
