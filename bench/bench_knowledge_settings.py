"""Several knowledge-aware settings against one plain run per seed and size: paired differences.

`kgenhance compare` trains one knowledge-aware setting and its baseline. To screen several
settings it would train the same baseline once per setting; this script trains it once per
seed and size and pairs every setting with it (same seed, same examples, same order). Each
row is appended to `--out` (JSON Lines) as it finishes, so a run cut short keeps its rows.

Default: the medical abstracts with the bundled HPO (its 6 non-phenotype branches left out),
the issue-6 configuration (KAR + 8 entity names + concept bag, knowledge layer at 5e-5) and
the two concept-bag regularisers.

    .venv/bin/python bench/bench_knowledge_settings.py --sizes all:3 --seeds 42,43,44,45,46 \\
        [--settings names+bag,bagdrop0.5,bagwd0.1] [--device cuda --backbone DIR] [--out rows.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kgenhance.demo import HPO_NON_PHENOTYPE_BRANCHES  # noqa: E402
from kgenhance.encode import EncoderConfig, train_entity_encoder  # noqa: E402
from kgenhance.graph import load_graph  # noqa: E402
from kgenhance.link import LinkerConfig  # noqa: E402
from kgenhance.train import TrainingConfig, train_classifier  # noqa: E402
from kgenhance.train.compare import mean_ci  # noqa: E402

NAMES_BAG = {"fusion": "kar", "entity_text": 8, "concept_bag": True}
# name → (model options, TrainingConfig fields); every knowledge-aware setting trains its layer at 5e-5
SETTINGS: dict[str, tuple[dict, dict]] = {
    "names+bag": (NAMES_BAG, {}),
    "bagdrop0.5": ({**NAMES_BAG, "concept_bag_dropout": 0.5}, {}),
    "bagwd0.1": (NAMES_BAG, {"concept_weight_decay": 0.1}),
    "bagdrop0.5+wd0.1": ({**NAMES_BAG, "concept_bag_dropout": 0.5}, {"concept_weight_decay": 0.1}),
    "names": ({"fusion": "kar", "entity_text": 8}, {}),
    "gate": ({"fusion": "kar", "knowledge_gate": True}, {}),
}


def parse_sizes(text: str) -> list[tuple[int | None, int]]:
    """'all:3,500:4' → [(None, 3), (500, 4)]: training examples (None = all) and epochs."""
    out = []
    for part in text.split(","):
        size, _, epochs = part.partition(":")
        out.append((None if size == "all" else int(size), int(epochs or 3)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ontology", default=str(ROOT / "graphs/hpo/hp.obo"))
    ap.add_argument("--train", default=str(ROOT / "examples/data/medical_abstracts/train.csv"))
    ap.add_argument("--validation", default=str(ROOT / "examples/data/medical_abstracts/validation.csv"))
    ap.add_argument("--exclude-branch", action="append", default=None,
                    help="IRIs of branches the linker leaves out (default with the bundled HPO: its non-phenotype ones)")
    ap.add_argument("--sizes", default="all:3", help="size:epochs pairs, e.g. all:3,500:4,100:10")
    ap.add_argument("--seeds", default="42,43,44")
    ap.add_argument("--settings", default="names+bag,bagdrop0.5,bagwd0.1", help=f"from {', '.join(SETTINGS)}")
    ap.add_argument("--encoder-epochs", type=int, default=30)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--backbone", default=None)
    ap.add_argument("--out", default=None, help="JSON Lines file the rows are appended to")
    args = ap.parse_args()
    names = args.settings.split(",")
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        ap.error(f"unknown settings {unknown}; known: {', '.join(SETTINGS)}")
    excluded = args.exclude_branch
    if excluded is None and Path(args.ontology).name == "hp.obo":
        excluded = list(HPO_NON_PHENOTYPE_BRANCHES)
    graph = load_graph(args.ontology, progress=False)
    linker = LinkerConfig(exclude_branches=tuple(excluded or ()))
    seeds = [int(s) for s in args.seeds.split(",")]
    scores: dict[tuple, dict[str, float]] = defaultdict(dict)
    embeddings = {}
    sink = open(args.out, "a", encoding="utf-8") if args.out else None
    for size, epochs in parse_sizes(args.sizes):
        for seed in seeds:
            if seed not in embeddings:
                embeddings[seed] = train_entity_encoder(
                    graph, EncoderConfig(epochs=args.encoder_epochs, seed=seed, device=args.device), progress=False)
            for name in ["plain", *names]:
                options, fields = SETTINGS.get(name, (None, {}))
                started = time.perf_counter()
                cfg = TrainingConfig(epochs=epochs, seed=seed, max_train_samples=size, knowledge_learning_rate=5e-5,
                                     device=args.device, **fields)
                metrics = train_classifier(
                    args.train, args.validation, None, graph=graph, embeddings=embeddings[seed],
                    use_knowledge=options is not None, backbone=args.backbone, config=cfg, linker_config=linker,
                    model_options=options, progress=False).metrics
                row = {"size": size or "all", "seed": seed, "setting": name, "macro_f1": round(metrics["macro_f1"], 4),
                       "accuracy": round(metrics["accuracy"], 4), "best_epoch": metrics["best_epoch"],
                       "curve": [round(h["macro_f1"], 4) for h in metrics["history"]],
                       "seconds": round(time.perf_counter() - started, 1)}
                scores[(row["size"], seed)][name] = row["macro_f1"]
                print(json.dumps(row), flush=True)
                if sink:
                    sink.write(json.dumps(row) + "\n")
                    sink.flush()
    print("\nmacro-F1, setting − plain (paired over seeds; Student-t 95% interval):")
    for size, _ in parse_sizes(args.sizes):
        for name in names:
            diffs = [s[name] - s["plain"] for (sz, seed), s in scores.items() if sz == (size or "all")]
            ci = mean_ci(diffs)
            interval = f"[{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}]" if ci["ci_low"] is not None else ""
            print(f"  {size or 'all':>5}  {name:<18} {' '.join(f'{d:+.4f}' for d in diffs)}  "
                  f"mean {ci['mean']:+.4f} {interval}")


if __name__ == "__main__":
    main()
