"""Entity-encoder training on a generated 2M-entity / 10M-edge graph: bounded memory by sampling.

    python bench/bench_encoder_scale.py [--entities 2000000] [--edges 10000000] [--steps 200]
                                        [--encoder sage] [--batch-size 1024] [--device auto]

The graph is generated in memory (heads uniform, tails skewed towards hubs — a few entities
get tens of thousands of incoming edges, as "is_a Disease" does —, 40 relation types with
Zipf-like frequencies). `train_entity_encoder` runs with `sampling="auto"`, which picks
neighbour sampling because a full-graph training step would not fit its memory budget; one
epoch of --steps batches is trained, validated (2,000 held-out edges) and then every entity
is embedded (one full-graph pass without gradients when that fits the budget, sampled
chunks otherwise). Printed: the full-graph message memory `auto` estimated,
seconds per step, positive edges per second, the time a full pass over all edges would take
at that rate, the time to embed every entity, and the process's peak resident memory
(graph included) next to the graph's own size. On CUDA, peak GPU memory too.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_gb() -> float:
    """Current resident memory of this process (GiB)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**30


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def generate(entities: int, edges: int, relations: int = 40, seed: int = 0):
    """A KnowledgeGraph with skewed in-degrees and Zipf-distributed relation types."""
    import numpy as np

    from kgenhance.graph import Entity, KnowledgeGraph

    rng = np.random.default_rng(seed)
    heads = rng.integers(0, entities, edges)
    tails = (entities * rng.random(edges) ** 3).astype(np.int64)  # low ids are hubs
    weights = 1.0 / np.arange(1, relations + 1)
    rels = rng.choice(relations, size=edges, p=weights / weights.sum())
    triples = np.unique(np.column_stack([heads, rels, tails]), axis=0)
    triples = triples[triples[:, 0] != triples[:, 2]]
    ents = [Entity(f"http://example.org/scale/{i}", f"concept {i}") for i in range(entities)]
    return KnowledgeGraph(ents, [f"http://example.org/scale/rel{r}" for r in range(relations)], triples)


def main() -> None:
    import torch

    from kgenhance.encode import EncoderConfig, train_entity_encoder
    from kgenhance.encode.train import full_graph_bytes
    from kgenhance.utils import resolve_device

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, default=2_000_000)
    ap.add_argument("--edges", type=int, default=10_000_000)
    ap.add_argument("--steps", type=int, default=200, help="training steps (one epoch of them)")
    ap.add_argument("--encoder", default="sage")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--fanouts", default="10,5")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    print(f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}, "
          f"{torch.get_num_threads()} threads)")

    before = rss_gb()
    t = time.perf_counter()
    graph = generate(args.entities, args.edges)
    graph_gb = rss_gb() - before
    print(f"graph: {len(graph):,} entities, {len(graph.edges):,} edges, 40 relations, generated in "
          f"{time.perf_counter() - t:.0f} s, {graph_gb:.2f} GiB resident")
    degree = torch.bincount(torch.from_numpy(graph.edges[:, 2]), minlength=len(graph))
    print(f"largest in-degree {int(degree.max()):,}; median {int(degree.median())}")

    cfg = EncoderConfig(encoder=args.encoder, epochs=1, steps_per_epoch=args.steps, batch_size=args.batch_size,
                        fanouts=tuple(int(f) for f in args.fanouts.split(",")), eval_every=1,
                        validation_fraction=0.01, max_validation_edges=2000, device=args.device, seed=0)
    full_gb = full_graph_bytes(cfg, len(graph), 2 * len(graph.edges)) / 2**30
    print(f"a full-graph step would need ≈ {full_gb:.1f} GiB (auto budget {cfg.memory_budget_gb} GiB)")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t = time.perf_counter()
    emb = train_entity_encoder(graph, cfg, progress=True)
    total = time.perf_counter() - t
    m = emb.metrics
    history = m["history"][0]
    print(f"sampling chosen: {m['sampling']}")
    step_s = history["train_seconds"] / args.steps
    edges_s = history["edges"] / history["train_seconds"]
    print(f"training: {step_s:.3f} s per step of {args.batch_size} edges = {edges_s:,.0f} edges/s; "
          f"a pass over all {m['train_edges']:,} training edges ≈ {m['train_edges'] / edges_s / 60:.0f} min")
    how = "one full-graph pass" if m["inference"] == "full" else f"sampled chunks of {cfg.inference_batch}"
    print(f"embedding all {len(graph):,} entities ({how}, no gradients): "
          f"{m['embed_seconds']:.0f} s; whole run {total:.0f} s")
    print(f"validation MRR {m['mrr']:.4f} (after {args.steps} steps), loss {history['loss']:.3f}")
    print(f"peak resident memory {peak_rss_gb():.2f} GiB (graph itself {graph_gb:.2f} GiB)")
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    print(f"vectors: {tuple(emb.vectors.shape)}, finite: {bool(torch.isfinite(emb.vectors).all())}")


if __name__ == "__main__":
    main()
