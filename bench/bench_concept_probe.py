"""How much class signal the linked concepts carry: a linear probe, no BERT.

Issue 6's probe, with kgenhance's own linker: logistic regression on the validation set
from (a) TF-IDF words, (b) the linked entities as a bag, (c) the linked entities lifted to
all their ``is_a`` ancestors (what the `concept_bag` head sees), (d) words + lifted
concepts — each trained on the same seeded subsets `kgenhance compare` draws
(`Examples.subset`). Prints macro-F1 per seed and the mean, and each feature set's
difference to the words-only baseline measured in the same run.

    .venv/bin/python bench/bench_concept_probe.py [--sizes 100 500] [--seeds 42 43 44]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kgenhance as kg  # noqa: E402
from kgenhance.demo import HPO_NON_PHENOTYPE_BRANCHES  # noqa: E402
from kgenhance.model.hierarchy import ancestor_table  # noqa: E402
from kgenhance.train.probe import concept_matrix  # noqa: E402
from kgenhance.train.data import load_examples  # noqa: E402

FEATURES = ("words", "concepts", "lifted concepts", "words + lifted concepts")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ontology", default=str(ROOT / "graphs/hpo/hp.obo"))
    ap.add_argument("--train", default=str(ROOT / "examples/data/medical_abstracts/train.csv"))
    ap.add_argument("--validation", default=str(ROOT / "examples/data/medical_abstracts/validation.csv"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 500])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    ap.add_argument("--max-ancestors", type=int, default=32, help="as the concept bag's concept_ancestors")
    ap.add_argument("--C", type=float, default=10.0, help="inverse regularisation of the logistic regressions")
    ap.add_argument("--out", default=None, help="write the scores as JSON here")
    args = ap.parse_args()

    started = time.perf_counter()
    graph = kg.load_graph(args.ontology)
    branches = HPO_NON_PHENOTYPE_BRANCHES if "hp.obo" in args.ontology else ()
    linker = kg.EntityLinker(graph, kg.LinkerConfig(exclude_branches=branches))
    table = ancestor_table(graph, args.max_ancestors).numpy()
    train = load_examples(args.train, "text", "label")
    val = load_examples(args.validation, "text", "label")
    val_flat, val_lift = concept_matrix(linker, val.texts, None), concept_matrix(linker, val.texts, table)

    def score(x, y, xv) -> float:
        clf = LogisticRegression(C=args.C, max_iter=5000).fit(x, y)
        return float(f1_score(val.labels, clf.predict(xv), average="macro"))

    results: dict = {}
    for size in args.sizes:
        per: dict[str, list[float]] = {f: [] for f in FEATURES}
        for seed in args.seeds:
            sub = train.subset(size, seed)
            tfidf = TfidfVectorizer(sublinear_tf=True).fit(sub.texts)
            xw, xvw = tfidf.transform(sub.texts), tfidf.transform(val.texts)
            flat, lift = concept_matrix(linker, sub.texts, None), concept_matrix(linker, sub.texts, table)
            per["words"].append(score(xw, sub.labels, xvw))
            per["concepts"].append(score(flat, sub.labels, val_flat))
            per["lifted concepts"].append(score(lift, sub.labels, val_lift))
            per["words + lifted concepts"].append(
                score(sp.hstack([xw, lift]).tocsr(), sub.labels, sp.hstack([xvw, val_lift]).tocsr()))
        results[size] = per
        print(f"\n{size} training examples, seeds {args.seeds}: macro-F1 on {len(val.texts)} validation texts")
        base = statistics.mean(per["words"])
        for f in FEATURES:
            mean = statistics.mean(per[f])
            print(f"  {f:<26} {' '.join(f'{v:.3f}' for v in per[f])}   mean {mean:.3f}   − words {mean - base:+.3f}")
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
