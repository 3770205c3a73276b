"""Which entity embeddings help the classifier: random vs PyG TransE vs kgenhance's GNN, same seeds.

    python bench/bench_downstream_embeddings.py [--train-size 100] [--epochs 10] [--seeds 42 43 44]

Medical abstracts (`examples/data/medical_abstracts`, scored on all of validation.csv) linked
to HPO (its non-phenotype branches excluded, as everywhere). For every seed, the spine's
knowledge-aware classifier (MiniLM + KAR knowledge attention, default settings) is trained on
the same `--train-size` examples with each entity table in turn; only the table changes:

* random: one Gaussian vector per entity, scaled to the GNN table's mean norm;
* TransE: PyG `torch_geometric.nn.kge.TransE` trained on all HPO edges (40 epochs);
* kgenhance R-GCN + DistMult (id vectors), 30 epochs as `kgenhance train` (the default until stop 13);
* kgenhance R-GCN + DistMult, text features only (inductive: label + definition under MiniLM);
* kgenhance CompGCN + RotatE (id vectors), the default since stop 13.

Every table is deterministic for a seed (CPU), so tables run in separate invocations with
the same seeds compare run by run.

Prints macro-F1 and accuracy per table and seed, and each table's paired difference from the
random and TransE tables (mean and 95% CI over seeds). Results go to --out as JSON, written
after every run so an interrupted bench keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TABLES = ("random", "transe", "rgcn", "rgcn-text", "compgcn")


def make_table(kind: str, graph, seed: int, reference_norm: float | None):
    """One entity table of the given kind for `graph`, trained or drawn with `seed`."""
    import torch

    from kgenhance.encode import EncoderConfig, EntityEmbeddings, train_entity_encoder

    if kind == "rgcn":
        return train_entity_encoder(graph, EncoderConfig(encoder="rgcn", decoder="distmult", epochs=30, seed=seed),
                                    progress=False)
    if kind == "rgcn-text":
        cfg = EncoderConfig(encoder="rgcn", decoder="distmult", epochs=30, seed=seed, text_features="static",
                            id_embeddings=False)
        return train_entity_encoder(graph, cfg, progress=False)
    if kind == "compgcn":  # the default since stop 13: CompGCN + RotatE, id vectors
        return train_entity_encoder(graph, EncoderConfig(encoder="compgcn", decoder="rotate", epochs=30, seed=seed),
                                    progress=False)
    if kind == "transe":
        from bench_encoders import train_kge
        from torch_geometric.nn.kge import TransE

        model, secs, run = train_kge(TransE, graph.edges, len(graph), len(graph.relations), 128, 40, 120.0, seed)
        vectors = model.node_emb.weight.detach().float().clone()
        return EntityEmbeddings(vectors, graph.content_hash, {"encoder": "pyg-transe", "epochs": run},
                                {"seconds": round(secs, 1)})
    if kind == "random":
        gen = torch.Generator().manual_seed(seed)
        vectors = torch.randn(len(graph), 128, generator=gen)
        vectors = vectors / vectors.norm(dim=1, keepdim=True) * (reference_norm or 1.0)
        return EntityEmbeddings(vectors, graph.content_hash, {"encoder": "random"}, {})
    raise ValueError(kind)


def main() -> None:
    from kgenhance.demo import HPO_NON_PHENOTYPE_BRANCHES
    from kgenhance.graph import load_graph
    from kgenhance.link import LinkerConfig
    from kgenhance.train import TrainingConfig, train_classifier
    from kgenhance.train.compare import mean_ci

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-size", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    ap.add_argument("--tables", nargs="+", default=list(TABLES), choices=TABLES)
    ap.add_argument("--previous", type=Path, help="a JSON this script wrote before, with the same seeds and "
                    "settings: its runs join this one's in the summary")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_downstream_embeddings.json")
    args = ap.parse_args()

    data = ROOT / "examples" / "data" / "medical_abstracts"
    graph = load_graph(ROOT / "graphs" / "hpo" / "hp.obo")
    linker_config = LinkerConfig(exclude_branches=HPO_NON_PHENOTYPE_BRANCHES)
    results: dict = {"train_size": args.train_size, "epochs": args.epochs, "seeds": args.seeds, "runs": []}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        reference_norm = None
        tables = {}
        for kind in sorted(args.tables, key=lambda k: k == "random"):  # random last: it copies the GNN's norm
            t = time.perf_counter()
            tables[kind] = make_table(kind, graph, seed, reference_norm)
            if kind == "rgcn":
                reference_norm = float(tables[kind].vectors.norm(dim=1).mean())
            print(f"seed {seed}: {kind} table in {time.perf_counter() - t:.0f} s", flush=True)
        for kind in args.tables:
            cfg = TrainingConfig(epochs=args.epochs, seed=seed, max_train_samples=args.train_size)
            res = train_classifier(data / "train.csv", data / "validation.csv", None, graph=graph,
                                   embeddings=tables[kind], config=cfg, linker_config=linker_config,
                                   progress=False)
            m = res.metrics
            results["runs"].append({"seed": seed, "table": kind, "macro_f1": m["macro_f1"],
                                    "accuracy": m["accuracy"], "best_epoch": m["best_epoch"],
                                    "train_seconds": m["train_seconds"]})
            print(f"seed {seed}: {kind:<10} macro-F1 {m['macro_f1']:.4f}  accuracy {m['accuracy']:.4f}", flush=True)
            args.out.write_text(json.dumps(results, indent=1))

    runs = list(results["runs"])
    tables = list(args.tables)
    if args.previous is not None:
        old = json.loads(args.previous.read_text())
        if (old["train_size"], old["epochs"], old["seeds"]) != (args.train_size, args.epochs, args.seeds):
            raise SystemExit(f"{args.previous}: other settings or seeds; not comparable")
        runs += [r for r in old["runs"] if r["table"] not in tables]
        tables = [t for t in TABLES if t in {r["table"] for r in runs}]
    by = {(r["table"], r["seed"]): r for r in runs}
    print(f"\n{'table':<10} {'macro-F1 mean':>14} {'vs random (95% CI)':>28} {'vs TransE (95% CI)':>28}")
    for kind in tables:
        f1 = [by[kind, s]["macro_f1"] for s in args.seeds]
        cells = []
        for ref in ("random", "transe"):
            if ref in tables and ref != kind:
                d = mean_ci([by[kind, s]["macro_f1"] - by[ref, s]["macro_f1"] for s in args.seeds])
                cells.append(f"{d['mean']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]")
            else:
                cells.append("—")
        print(f"{kind:<10} {sum(f1) / len(f1):>14.4f} {cells[0]:>28} {cells[1]:>28}")


if __name__ == "__main__":
    main()
