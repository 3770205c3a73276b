"""What knowledge costs: train-step and inference time, and parameters, of each fusion variant
against the plain classifier, same backbone, same batch, in one run.

    python bench/bench_fusion_cost.py [--batch 16] [--length 128] [--repeat 10] [--ontology graphs/hpo/hp.obo]
    python bench/bench_fusion_cost.py --device cuda --bf16 --batch 32 --length 256 [--backbone DIR] [--compile knowledge]

The batch is real: medical abstracts linked to HPO (so the knowledge layer has its usual
number of mentions), tokenised once. All variants are built first and timed in interleaved
rounds (each round times one step of every variant, so clock and cache drift hit all
alike); times are medians over --repeat rounds after --warmup untimed steps (synchronised
on a GPU). A train step is forward + backward + AdamW step; `--bf16` runs both under
bfloat16 autocast. `--backbone` takes any local encoder directory (default: the bundled
all-MiniLM-L6-v2). Prints samples/s and each variant's ratio to the plain model (issue 6's
budget: train ≤ 1.15×, inference ≤ 1.10×, added trainable parameters ≤ 10% of the backbone).
`--compile knowledge` times the knowledge-aware models with their knowledge modules compiled
(`KnowledgeAwareClassifier.compile_knowledge`) against the eager plain model; `--compile model`
compiles every whole model, the plain one too.
"""

from __future__ import annotations

import argparse
import contextlib
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
    "kar + concept bag": {"fusion": "kar", "concept_bag": True},
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
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps of each variant first")
    ap.add_argument("--backbone", default=None, help="local encoder directory (default: all-MiniLM-L6-v2)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast (train and inference)")
    ap.add_argument("--compile", choices=("none", "knowledge", "model"), default="none",
                    help="torch.compile: none (eager), the knowledge modules only (`compile_knowledge`; "
                         "the plain model stays eager), or every whole model, the plain one included")
    ap.add_argument("--compile-mode", default=None,
                    help="torch.compile mode, e.g. reduce-overhead (CUDA graphs); default: torch's")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), metavar="NAME",
                    help="which variants to time (the plain baseline is always timed)")
    args = ap.parse_args()
    device = torch.device(args.device)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if args.bf16 else contextlib.nullcontext
    torch.manual_seed(0)
    graph = load_graph(args.ontology)
    linker = EntityLinker(graph, LinkerConfig(exclude_branches=HPO_NON_PHENOTYPE_BRANCHES))
    emb = EntityEmbeddings(torch.randn(len(graph), 128), graph.content_hash)  # timing only: values do not matter
    ex = load_examples(args.texts)
    texts, labels = ex.texts[: args.batch], sorted(set(ex.labels))
    y = [labels.index(v) for v in ex.labels[: args.batch]]
    # CUDA graphs (reduce-overhead) must be told where a step starts when models are interleaved
    step_begins = torch.compiler.cudagraph_mark_step_begin if args.compile_mode == "reduce-overhead" else (lambda: None)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    runs = []  # (name, train_step, infer, trainable, mentions)
    backbone_params = None
    chosen = {"plain (baseline)": None} | {n: VARIANTS[n] for n in args.variants}
    for name, options in chosen.items():
        model = KnowledgeAwareClassifier.from_backbone(args.backbone, labels, emb if options else None,
                                                       use_knowledge=options is not None, graph=graph,
                                                       **(options or {}))
        if backbone_params is None:
            backbone_params = sum(p.numel() for p in model.encoder.parameters())
        collator = KnowledgeCollator(model.tokenizer, linker if options else None, args.length)
        batch = {k: v.to(device) for k, v in collator(texts, labels=y).tensors.items()}
        model.to(device)
        if args.compile == "model":
            model.compile(dynamic=True, mode=args.compile_mode)
        elif args.compile == "knowledge" and options:
            model.compile_knowledge(mode=args.compile_mode)
        mentions = int((batch["entity_spans"][..., 0] >= 0).sum()) if options else 0
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

        def train_step(model=model, batch=batch, opt=opt):
            step_begins()
            model.train()
            with autocast():
                out = model(**batch)
            out.loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        @torch.no_grad()
        def infer(model=model, batch=batch):
            step_begins()
            model.eval()
            with autocast():
                model(**{k: v for k, v in batch.items() if k != "labels"})

        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        runs.append((name, train_step, infer, trainable, mentions))

    first_s = []  # seconds of each function's first call (with --compile: the compilation)

    def median_times(fns) -> list[float]:
        """Median seconds of each function, timed in interleaved rounds (clock and cache drift hit all alike)."""
        for fn in fns:
            t = time.perf_counter()
            fn()
            sync()
            first_s.append(time.perf_counter() - t)
            for _ in range(args.warmup - 1):
                fn()
        sync()
        times = [[] for _ in fns]
        for _ in range(args.repeat):
            for fn, slot in zip(fns, times):
                t = time.perf_counter()
                fn()
                sync()
                slot.append(time.perf_counter() - t)
        return [statistics.median(slot) for slot in times]

    train_s = median_times([r[1] for r in runs])
    infer_s = median_times([r[2] for r in runs])
    rows = [(r[0], tr, inf, r[3], r[4]) for r, tr, inf in zip(runs, train_s, infer_s)]
    base_train, base_infer, base_trainable = rows[0][1], rows[0][2], rows[0][3]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"batch {args.batch} × {args.length} word pieces, {where}, {'bf16 autocast' if args.bf16 else 'fp32'}; "
          f"compile: {args.compile}{' (' + args.compile_mode + ')' if args.compile_mode else ''}; "
          f"backbone {args.backbone or 'all-MiniLM-L6-v2'}, {backbone_params:,} parameters")
    print(f"{'variant':<28} {'mentions':>8} {'train s':>8} {'samples/s':>9} {'×plain':>7} {'infer s':>8} "
          f"{'samples/s':>9} {'×plain':>7} {'added trainable':>16} {'% backbone':>10}")
    for name, tr, inf, trainable, mentions in rows:
        added = trainable - base_trainable
        print(f"{name:<28} {mentions:>8} {tr:>8.4f} {args.batch / tr:>9.1f} {tr / base_train:>6.2f}× {inf:>8.4f} "
              f"{args.batch / inf:>9.1f} {inf / base_infer:>6.2f}× {added:>16,} {100 * added / backbone_params:>9.1f}%")
    n = len(runs)
    print("first call, s (train / inference; with --compile this includes compiling): "
          + "; ".join(f"{r[0]} {first_s[i]:.1f} / {first_s[n + i]:.1f}" for i, r in enumerate(runs)))


if __name__ == "__main__":
    main()
