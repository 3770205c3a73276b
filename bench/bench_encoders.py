"""Entity encoders against KG-embedding baselines: filtered link prediction on the same split, one run.

    python bench/bench_encoders.py [ONTOLOGY ...] [--epochs 60] [--seconds 60]

For each ontology (default: bundled HPO and FIBO), the edges are split once (5%, at most
2,000 held out, the encoder's own seeded split); every model is trained on the rest and
ranked on the held-out edges, predicting tails and heads, filtered against every true edge
(the same `ranking_metrics` for all). The split is by entity pair: no held-out fact has its
inverse or a parallel fact left in training. Models (`--models` picks some):

* kgenhance encoders (`ENCODERS`: R-GCN, CompGCN, relational SAGE) with learned id vectors,
  text features (entity name + definition under MiniLM) + ids, or text only (inductive),
  scored by DistMult or RotatE;
* PyG `TransE`, `DistMult` and `RotatE` (`torch_geometric.nn.kge`), trained with their own
  loss and negative sampling for the same number of epochs or until --seconds, whichever is
  first.

Prints MRR, Hits@1/3/10, training seconds and each model's MRR ratio to the best baseline
(issue 5's goal: ≥ 1.1×).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


TEXT = {"text_features": "static"}
TEXT_ONLY = {"text_features": "static", "id_embeddings": False}
MODELS = {
    "R-GCN (ids)": {},
    "R-GCN (ids + text)": TEXT,
    "R-GCN (text only, inductive)": TEXT_ONLY,
    "R-GCN (ids), RotatE": {"decoder": "rotate"},
    "CompGCN (ids)": {"encoder": "compgcn"},
    "CompGCN (ids + text)": {"encoder": "compgcn", **TEXT},
    "CompGCN (text only, inductive)": {"encoder": "compgcn", **TEXT_ONLY},
    "CompGCN (ids), RotatE": {"encoder": "compgcn", "decoder": "rotate"},
    "CompGCN (ids + text), RotatE": {"encoder": "compgcn", "decoder": "rotate", **TEXT},
    "CompGCN (text only, inductive), RotatE": {"encoder": "compgcn", "decoder": "rotate", **TEXT_ONLY},
    "SAGE (ids)": {"encoder": "sage"},
    "SAGE (text only, inductive)": {"encoder": "sage", **TEXT_ONLY},
}
BASELINES = {"PyG TransE": "TransE", "PyG DistMult": "DistMult", "PyG RotatE": "RotatE"}


class _KGEScorer:
    """Adapts a PyG KGE model to `ranking_metrics`' decoder interface (score every entity)."""

    def __init__(self, model, num_nodes: int):
        self.model = model
        self.n = num_nodes

    def _all(self, fixed, relations, as_tail: bool):
        import torch

        q = len(fixed)
        everyone = torch.arange(self.n).repeat(q)
        fixed_rep = fixed.repeat_interleave(self.n)
        rel_rep = relations.repeat_interleave(self.n)
        with torch.no_grad():
            if as_tail:
                s = self.model(fixed_rep, rel_rep, everyone)
            else:
                s = self.model(everyone, rel_rep, fixed_rep)
        return s.view(q, self.n)

    def score_tails(self, z, heads, relations):
        return self._all(heads, relations, True)

    def score_heads(self, z, relations, tails):
        return self._all(tails, relations, False)


def train_kge(cls, edges, n, num_rel, dim, epochs, seconds, seed):
    import torch

    torch.manual_seed(seed)
    model = cls(n, num_rel, dim)
    h, r, t = (torch.from_numpy(edges[:, k]) for k in range(3))
    loader = model.loader(head_index=h, rel_type=r, tail_index=t, batch_size=1024, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    start = time.perf_counter()
    run = 0
    for _ in range(epochs):
        model.train()
        for hh, rr, tt in loader:
            opt.zero_grad()
            model.loss(hh, rr, tt).backward()
            opt.step()
        run += 1
        if time.perf_counter() - start > seconds:
            break
    model.eval()
    return model, time.perf_counter() - start, run


def main() -> None:
    import torch

    from kgenhance.encode import EncoderConfig, train_entity_encoder
    from kgenhance.encode.train import _KnownAnswers, ranking_metrics, split_edges
    from kgenhance.graph import load_graph
    from torch_geometric.nn.kge import DistMult, RotatE, TransE

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ontologies", nargs="*", type=Path,
                    default=[ROOT / "graphs" / "hpo" / "hp.obo", ROOT / "graphs" / "fibo"])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=60.0, help="time budget of each baseline")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", nargs="+", default=list(MODELS) + list(BASELINES),
                    choices=list(MODELS) + list(BASELINES))
    args = ap.parse_args()
    for path in args.ontologies:
        graph = load_graph(path)
        n, num_rel = len(graph), len(graph.relations)
        base = EncoderConfig(dim=args.dim, epochs=args.epochs, seed=args.seed, device="cpu")
        train_np, val_np = split_edges(graph.edges, base.validation_fraction, base.max_validation_edges, base.seed)
        known = _KnownAnswers(graph.edges, num_rel)
        print(f"\n{path.name}: {n:,} entities, {num_rel} relations, {len(graph.edges):,} edges, "
              f"{len(val_np):,} held out")
        rows = []
        for name in [m for m in args.models if m in MODELS]:
            cfg = EncoderConfig(**{**base.__dict__, **MODELS[name]})
            t = time.perf_counter()
            emb = train_entity_encoder(graph, cfg, progress=False)
            m = emb.metrics
            rows.append((name, m["mrr"], m["hits@1"], m["hits@3"], m["hits@10"], time.perf_counter() - t,
                         m["epochs_run"], False))
        classes = {"TransE": TransE, "DistMult": DistMult, "RotatE": RotatE}
        for name in [m for m in args.models if m in BASELINES]:
            cls = classes[BASELINES[name]]
            model, secs, run = train_kge(cls, train_np, n, num_rel, args.dim, args.epochs, args.seconds, args.seed)
            m = ranking_metrics(torch.zeros(1), _KGEScorer(model, n), val_np, known, chunk=32)
            rows.append((name, m["mrr"], m["hits@1"], m["hits@3"], m["hits@10"], secs, run, True))
        best_base = max((r[1] for r in rows if r[7]), default=0.0)
        print(f"  {'model':<40} {'MRR':>7} {'H@1':>6} {'H@3':>6} {'H@10':>6} {'train s':>8} {'epochs':>6} "
              f"{'MRR / best baseline':>20}")
        for name, mrr, h1, h3, h10, secs, run, _ in rows:
            print(f"  {name:<40} {mrr:>7.4f} {h1:>6.3f} {h3:>6.3f} {h10:>6.3f} {secs:>8.1f} {run:>6} "
                  f"{mrr / best_base if best_base else float('nan'):>19.2f}×")


if __name__ == "__main__":
    main()
