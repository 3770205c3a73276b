"""Graph loading: kgenhance's loader (cold and warm cache) against plain rdflib, in one run.

    python bench/bench_graph_load.py [ONTOLOGY_DIR_OR_FILE ...]   (default: ../shared/data/fibo)

Prints the median of --repeat runs for each and the ratios kgenhance / rdflib. The rdflib
baseline parses the same files (those kgenhance reads) into one rdflib.Graph.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import rdflib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kgenhance.graph import load_graph  # noqa: E402
from kgenhance.graph.rdf import rdf_format  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "fibo"


def rdflib_parse(files: list[Path]) -> int:
    g = rdflib.Graph()
    for f in files:
        g.parse(str(f), format=rdf_format(f) or "xml")
    return len(g)


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path, default=[DEFAULT])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    os.environ["KGENHANCE_CACHE"] = tempfile.mkdtemp(prefix="kgbench-")

    graph = load_graph(*args.paths, cache=False)
    files = [Path(s) for s in graph.sources]
    rdf_files = [f for f in files if f.suffix.lower() != ".obo"]
    print(f"ontology: {', '.join(map(str, args.paths))} — {len(files)} files, {graph.triples:,} triples, "
          f"{len(graph):,} entities, {len(graph.edges):,} edges")
    rows = []
    if rdf_files:
        t_rdflib, n = timed(lambda: rdflib_parse(rdf_files), args.repeat)
        rows.append(("rdflib Graph().parse (baseline)", t_rdflib, n))
    else:
        t_rdflib = None
    t_cold, _ = timed(lambda: load_graph(*args.paths, cache=False), args.repeat)
    rows.append(("kgenhance load_graph, cold", t_cold, graph.triples))
    load_graph(*args.paths)  # fill the cache
    t_warm, _ = timed(lambda: load_graph(*args.paths), args.repeat)
    rows.append(("kgenhance load_graph, warm cache", t_warm, graph.triples))
    for name, t, n in rows:
        print(f"  {name:<36} {t:8.3f} s   {n / t:>12,.0f} triples/s")
    if t_rdflib:
        print(f"  ratio cold / rdflib: {t_cold / t_rdflib:.2f}×    ratio warm / rdflib: {t_warm / t_rdflib:.3f}×")


if __name__ == "__main__":
    main()
