"""Graph loading at UMLS scale: a generated N-Triples ontology of 1 M, 3 M and 11 M triples.

    python bench/bench_graph_scale.py [--sizes 1000000,3000000,11000000] [--workdir DIR]

For each size, `gen_umls_like.py` writes the file (kept in --workdir for the next run),
then a fresh Python process loads it with `load_graph(cache=False)` and reports time,
triples/s, peak resident memory above the process's memory before the load (bytes per
triple), and the time of `to_pyg()` (after one full garbage collection, timed apart: the
loader pauses the cyclic collector while it builds, and the first collection afterwards
walks the new objects once). The baseline in the same run is pyoxigraph's bare
N-Triples parser iterating the same file (no graph built): the floor any Python loader
on top of it pays. 11 M triples is the smallest size with ≥ 2 M entities.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

CHILD = r"""
import json, os, resource, sys, time
import numpy as np, pyoxigraph, torch, torch_geometric.data  # imported before the baseline RSS
from kgenhance.graph import load_graph

def rss():
    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

path, mode = sys.argv[1], sys.argv[2]
base = rss()
t = time.perf_counter()
if mode == "parse":
    n = 0
    with open(path, "rb") as fh:
        for _ in pyoxigraph.parse(input=fh, format=pyoxigraph.RdfFormat.N_TRIPLES):
            n += 1
    out = {"triples": n, "seconds": time.perf_counter() - t}
else:
    g = load_graph(path, cache=False, progress=mode == "load-progress")
    seconds = time.perf_counter() - t
    import gc
    t = time.perf_counter()
    gc.collect()  # the first collection after the load walks every new object: timed apart
    gc_seconds = time.perf_counter() - t
    t = time.perf_counter()
    data = g.to_pyg()
    pyg = time.perf_counter() - t
    out = {"triples": g.triples, "entities": len(g), "edges": int(len(g.edges)), "seconds": seconds,
           "to_pyg_seconds": pyg, "first_gc_seconds": gc_seconds, "pyg_edges": int(data.edge_index.shape[1])}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out["peak_rss_above_base"] = peak - base
print(json.dumps(out))
"""


def run_child(path: Path, mode: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), mode], capture_output=True, text=True,
                          cwd=HERE.parent)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({mode}, {path}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    from gen_umls_like import generate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,3000000,11000000")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kgenhance-scale")
    ap.add_argument("--json", type=Path, help="Also write the rows as JSON here.")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{'triples':>12} {'entities':>10} {'edges':>10} {'file MB':>8} {'parse-only s':>12} {'load s':>8} "
          f"{'triples/s':>10} {'load/parse':>10} {'B/triple':>9} {'to_pyg s':>8} {'1st gc s':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        path = args.workdir / f"umls-like-{size}.nt"
        if not path.exists():
            generate(path, size)
        parse = run_child(path, "parse")
        load = run_child(path, "load")
        row = {"target": size, "file_bytes": path.stat().st_size, "parse_only": parse, "load": load}
        rows.append(row)
        print(f"{load['triples']:>12,} {load['entities']:>10,} {load['edges']:>10,} "
              f"{path.stat().st_size / 1e6:>8.0f} {parse['seconds']:>12.2f} {load['seconds']:>8.2f} "
              f"{load['triples'] / load['seconds']:>10,.0f} {load['seconds'] / parse['seconds']:>9.1f}× "
              f"{load['peak_rss_above_base'] / load['triples']:>9.0f} {load['to_pyg_seconds']:>8.3f} "
              f"{load['first_gc_seconds']:>8.2f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
