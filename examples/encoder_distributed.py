"""Entity-encoder training on one process or many (DDP: gloo on CPU, nccl on GPUs).

One process:

    .venv/bin/python examples/encoder_distributed.py --out runs/hpo-emb

Two processes on this machine, or 8 GPUs of one node:

    .venv/bin/torchrun --nproc_per_node 2 examples/encoder_distributed.py --out runs/hpo-emb-ddp
    torchrun --nproc_per_node 8 examples/encoder_distributed.py --device cuda --encoder sage --out …

Several nodes: the same command on each with ``--nnodes N --node_rank i --rdzv_endpoint
HOST:PORT``. Every process loads the graph (from the cache after the first) and takes its
share of every batch of edges; gradients are all-reduced, so all processes end with the
same weights and rank 0 writes the embeddings. With neighbour sampling (``--sampling
neighbour``, automatic for big graphs) each process samples around its own share, so the
per-process memory stays bounded. Default ontology: the bundled HPO.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import kgenhance as kg

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ontology", type=Path, default=ROOT / "graphs" / "hpo" / "hp.obo")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--encoder", default="compgcn", choices=["compgcn", "rgcn", "sage"])
    ap.add_argument("--sampling", default="auto", choices=["auto", "full", "neighbour"])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8192, help="positive edges per step, all processes together")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    if distributed:
        cuda = args.device != "cpu" and torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
    rank = torch.distributed.get_rank() if distributed else 0
    try:
        graph = kg.load_graph(args.ontology)
        cfg = kg.EncoderConfig(encoder=args.encoder, sampling=args.sampling, epochs=args.epochs, dim=args.dim,
                               batch_size=args.batch_size, device=args.device, seed=0)
        emb = kg.train_entity_encoder(graph, cfg, progress=rank == 0)
        digest = hashlib.sha256(emb.vectors.numpy().tobytes()).hexdigest()
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"vectors-rank{rank}.sha256").write_text(digest)
        if rank == 0:
            emb.save(args.out)
            m = emb.metrics
            summary = {"processes": m["processes"], "sampling": m["sampling"], "mrr": m["mrr"],
                       "hits@10": m["hits@10"], "epochs_run": m["epochs_run"], "seconds": m["seconds"]}
            (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
            print(json.dumps(summary))
        if distributed:  # leave together: a rank tearing gloo down while another still writes can abort
            torch.distributed.barrier()
    finally:
        if distributed:
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
