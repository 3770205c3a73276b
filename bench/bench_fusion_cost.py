"""What knowledge costs: train-step and inference time, and parameters, of each fusion variant
against the plain classifier, same backbone, same batch, in one run.

    python bench/bench_fusion_cost.py [--batch 16] [--length 128] [--repeat 10] [--ontology graphs/hpo/hp.obo]

The batch is real: medical abstracts linked to HPO (so the knowledge layer has its usual
number of mentions), tokenised once. Times are medians over --repeat steps after 2 warm-up
steps; a train step is forward + backward + AdamW step. Prints each variant's ratio to the
plain model (issue 6's budget: train ≤ 1.15×, inference ≤ 1.10×, added trainable
parameters ≤ 10% of the backbone).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "plain (baseline)": None,
    "kar": {"fusion": "kar"},
    "kar + gate": {"fusion": "kar", "knowledge_gate": True},
    "kar + gate + hierarchy 64": {"fusion": "kar", "knowledge_gate": True, "hierarchy_dim": 64},
    "ernie": {"fusion": "ernie"},
    "ernie + gate + hierarchy 64": {"fusion": "ernie", "knowledge_gate": True, "hierarchy_dim": 64},
}


def main() -> None:
    import torch

    from kgenhance.demo import HPO_NON_PHENOTYPE_BRANCHES
    from kgenhance.encode import EntityEmbeddings
    from kgenhance.graph import load_graph
    from kgenhance.link import EntityLinker, LinkerConfig
    from kgenhance.model import KnowledgeAwareClassifier, KnowledgeCollator
    from kgenhance.train import load_examples

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ontology", type=Path, default=ROOT / "graphs" / "hpo" / "hp.obo")
    ap.add_argument("--texts", type=Path, default=ROOT / "examples" / "data" / "medical_abstracts" / "validation.csv")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    torch.manual_seed(0)
    graph = load_graph(args.ontology)
    linker = EntityLinker(graph, LinkerConfig(exclude_branches=HPO_NON_PHENOTYPE_BRANCHES))
    emb = EntityEmbeddings(torch.randn(len(graph), 128), graph.content_hash)  # timing only: values do not matter
    ex = load_examples(args.texts)
    texts, labels = ex.texts[: args.batch], sorted(set(ex.labels))
    y = [labels.index(v) for v in ex.labels[: args.batch]]

    def median_time(fn) -> float:
        for _ in range(2):
            fn()
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    rows = []
    backbone_params = None
    for name, options in VARIANTS.items():
        model = KnowledgeAwareClassifier.from_backbone(None, labels, emb if options else None,
                                                       use_knowledge=options is not None, graph=graph,
                                                       **(options or {}))
        if backbone_params is None:
            backbone_params = sum(p.numel() for p in model.encoder.parameters())
        collator = KnowledgeCollator(model.tokenizer, linker if options else None, args.length)
        batch = collator(texts, labels=y).tensors
        mentions = int((batch["entity_spans"][..., 0] >= 0).sum()) if options else 0
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

        def train_step():
            model.train()
            out = model(**batch)
            out.loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        @torch.no_grad()
        def infer():
            model.eval()
            model(**{k: v for k, v in batch.items() if k != "labels"})

        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        rows.append((name, median_time(train_step), median_time(infer), trainable, mentions))
    base_train, base_infer, base_trainable = rows[0][1], rows[0][2], rows[0][3]
    print(f"batch {args.batch} × {args.length} word pieces, {torch.get_num_threads()} threads; "
          f"backbone {backbone_params:,} parameters")
    print(f"{'variant':<28} {'mentions':>8} {'train s':>8} {'×plain':>7} {'infer s':>8} {'×plain':>7} "
          f"{'added trainable':>16} {'% backbone':>10}")
    for name, tr, inf, trainable, mentions in rows:
        added = trainable - base_trainable
        print(f"{name:<28} {mentions:>8} {tr:>8.3f} {tr / base_train:>6.2f}× {inf:>8.3f} {inf / base_infer:>6.2f}× "
              f"{added:>16,} {100 * added / backbone_params:>9.1f}%")


if __name__ == "__main__":
    main()
