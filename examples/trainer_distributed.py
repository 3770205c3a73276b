"""Knowledge-aware fine-tuning through `transformers.Trainer`, on one process or many.

One process (CPU or one GPU):

    .venv/bin/python examples/trainer_distributed.py --out runs/trainer

Several processes (DDP: gloo on CPU, nccl on GPUs), e.g. 2 on this machine:

    .venv/bin/torchrun --nproc_per_node 2 examples/trainer_distributed.py --out runs/trainer-ddp

or ``accelerate launch --num_processes 2 examples/trainer_distributed.py …``. Every
`TrainingArguments` option works (``--bf16`` on a GPU, gradient accumulation, …). Each
process loads the ontology and links its own share of the batches; the entity embeddings
come from ``--embeddings`` (``kgenhance encode``) or are trained here with a fixed seed, so
that every process builds the same table. Defaults: bundled HPO and medical abstracts.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "medical_abstracts"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ontology", type=Path, default=ROOT / "graphs" / "hpo" / "hp.obo")
    ap.add_argument("--train", type=Path, default=DATA / "train.csv")
    ap.add_argument("--validation", type=Path, default=DATA / "validation.csv")
    ap.add_argument("--backbone", default=None, help="local encoder directory (default: the bundled MiniLM)")
    ap.add_argument("--embeddings", type=Path, default=None, help="from `kgenhance encode` (default: train now)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--max-steps", type=int, default=-1)
    ap.add_argument("--batch-size", type=int, default=16, help="per process")
    ap.add_argument("--gradient-accumulation", type=int, default=1)
    ap.add_argument("--max-train-samples", type=int, default=None)
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast (GPU)")
    ap.add_argument("--encoder-epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    import torch
    from transformers import TrainingArguments

    from kgenhance.encode import EncoderConfig, EntityEmbeddings, train_entity_encoder
    from kgenhance.graph import load_graph
    from kgenhance.link import EntityLinker
    from kgenhance.model import KnowledgeAwareClassifier
    from kgenhance.train import load_examples
    from kgenhance.train.hf import knowledge_trainer

    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    graph = load_graph(args.ontology, progress=False)
    if args.embeddings:
        embeddings = EntityEmbeddings.load(args.embeddings, graph)
    else:
        embeddings = train_entity_encoder(graph, EncoderConfig(epochs=args.encoder_epochs, seed=args.seed,
                                                               device="cpu"), progress=False)
    train = load_examples(args.train)
    if args.max_train_samples:
        train = train.subset(args.max_train_samples, seed=args.seed)
    validation = load_examples(args.validation)
    labels = sorted(set(train.labels))
    torch.manual_seed(args.seed)
    model = KnowledgeAwareClassifier.from_backbone(args.backbone, labels, embeddings, graph=graph)
    model.attach(linker=EntityLinker(graph))
    targs = TrainingArguments(
        output_dir=str(args.out / "trainer"),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=64,
        gradient_accumulation_steps=args.gradient_accumulation,
        learning_rate=5e-5,
        warmup_steps=0.1,  # a float < 1 is a share of the total steps
        eval_strategy="epoch" if args.max_steps < 0 else "no",
        save_strategy="no",
        logging_steps=10,
        report_to=[],
        seed=args.seed,
        bf16=args.bf16,
        use_cpu=not torch.cuda.is_available(),
        ddp_backend="gloo" if not torch.cuda.is_available() else None,
        disable_tqdm=rank != 0,
    )
    rows = lambda ex: [{"text": t, "label": y} for t, y in zip(ex.texts, ex.labels)]  # noqa: E731
    trainer = knowledge_trainer(model, targs, rows(train), rows(validation))
    trainer.train()
    scores = trainer.evaluate()
    # every process holds the same weights after DDP's gradient averaging: a digest per rank shows it
    import hashlib

    digest = hashlib.sha256(b"".join(p.detach().cpu().numpy().tobytes() for p in model.parameters())).hexdigest()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"weights-rank{rank}.sha256").write_text(digest)
    if trainer.is_world_process_zero():
        model.save_pretrained(args.out / "model")
        summary = {"world_size": world, "trainer_world_size": targs.world_size, "scores": scores,
                   "steps": trainer.state.global_step, "backend": targs.ddp_backend}
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
