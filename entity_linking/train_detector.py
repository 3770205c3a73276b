"""Train kgenhance's mention detector on BC5CDR annotations (PubTator), for the linker's `detector`.

    python entity_linking/train_detector.py --split train --out runs/detector-bc5cdr [--docs :400]
                                            [--types Disease] [--epochs 10] [--lr 1e-4]

Only the training split is ever used to train (the development set is what the scorer
reports). The detector is saved as safetensors + JSON; score it with
``score_bc5cdr.py --detector DIR``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pubtator import read_pubtator  # noqa: E402
from score_bc5cdr import SPLITS, parse_slice  # noqa: E402

from kgenhance.link.detector import AnnotatedText, DetectorConfig, train_mention_detector  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=["train"], default="train", help="only the training set trains")
    ap.add_argument("--docs", help="slice of documents, e.g. :400 (default all)")
    ap.add_argument("--types", nargs="+", default=["Disease"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-4, help="encoder learning rate")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--backbone", default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    docs = read_pubtator(SPLITS[args.split])[parse_slice(args.docs)]
    examples = [AnnotatedText(d.text, [(m.start, m.end, m.type) for m in d.mentions if m.type in args.types])
                for d in docs]
    n = sum(len(ex.spans) for ex in examples)
    print(f"{len(examples)} documents, {n} mentions of {args.types}")
    t0 = time.perf_counter()
    cfg = DetectorConfig(backbone=args.backbone, types=tuple(args.types), epochs=args.epochs, seed=args.seed,
                         learning_rate=args.lr)
    detector = train_mention_detector(examples, cfg)
    detector.save(args.out)
    print(f"trained in {time.perf_counter() - t0:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
