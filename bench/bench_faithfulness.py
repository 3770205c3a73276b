"""Are the explanations faithful? Removing the top-attributed entity vs a random linked entity.

    python bench/bench_faithfulness.py [--model DIR] [--validation CSV] [--out FILE.json]

Without --model, a knowledge-aware classifier is first trained the way `kgenhance demo`
trains it (HPO, 600 training abstracts, 3 epochs, seed 42). Then, over every validation
text with at least two linked entities in the model's window, each entity's knowledge is
removed in turn (the mention is masked out of the knowledge layer) and the change of the
predicted class's probability and whether the predicted class changes are recorded. Which
entity is removed is chosen by:

* random — a uniformly random linked entity (its exact expectation: the mean over the text's
  entities; no sampling noise);
* attention — the highest knowledge-attention weight;
* gradient × input — the highest attribution towards the predicted class;
* integrated gradients — the same with 16 steps from the zero embedding;
* oracle — the entity whose removal lowers the predicted class's probability most (an upper
  bound no explanation can beat).

A faithful attribution lowers the probability more, and flips more predictions, than random.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from kgenhance.model import KnowledgeAwareClassifier, KnowledgeCollator  # noqa: E402
from kgenhance.model.attribution import ablation_effects, gradient_attribution  # noqa: E402
from kgenhance.model.explain import _max_length  # noqa: E402
from kgenhance.train import load_examples  # noqa: E402

STRATEGIES = ("random", "attention", "gradient_x_input", "integrated_gradients", "oracle")


def train_default_model(out: Path, seed: int) -> Path:
    from kgenhance.demo import HPO_NON_PHENOTYPE_BRANCHES, bundled_paths
    from kgenhance.encode import EncoderConfig, train_entity_encoder
    from kgenhance.graph import load_graph
    from kgenhance.link import LinkerConfig
    from kgenhance.train import TrainingConfig, train_classifier

    paths = bundled_paths()
    graph = load_graph(paths["ontology"])
    embeddings = train_entity_encoder(graph, EncoderConfig(seed=seed))
    train_classifier(
        paths["train"], paths["validation"], out, graph=graph, embeddings=embeddings,
        config=TrainingConfig(epochs=3, max_train_samples=600, max_eval_samples=300, seed=seed),
        linker_config=LinkerConfig(exclude_branches=HPO_NON_PHENOTYPE_BRANCHES),
    )
    return out


def measure(model: KnowledgeAwareClassifier, texts: list[str], batch_size: int, ig_steps: int, seed: int) -> dict:
    collator = KnowledgeCollator.for_model(model, max_length=_max_length(model))
    rng = torch.Generator().manual_seed(seed)
    drops: dict[str, list[float]] = {s: [] for s in STRATEGIES}
    flips: dict[str, list[float]] = {s: [] for s in STRATEGIES}
    sampled_drop, sampled_flip = [], []
    agree_top = 0
    n_texts = n_mentions = 0
    from tqdm.auto import tqdm

    for start in tqdm(range(0, len(texts), batch_size), desc="faithfulness", unit="batch"):
        batch = collator(texts[start : start + batch_size])
        tensors = batch.tensors
        if "entity_spans" not in tensors:
            continue
        with torch.no_grad():
            out = model(**tensors)
        if out.mention_weights is None:
            continue
        probs = torch.softmax(out.logits.float(), -1)
        target = probs.argmax(-1)
        base = probs.gather(1, target[:, None]).squeeze(1)
        gxi = gradient_attribution(model, tensors, target, steps=1)
        ig = gradient_attribution(model, tensors, target, steps=ig_steps)
        delta, _, flipped = ablation_effects(model, tensors, target, base, batch_size=64, swap=False)
        weights = out.mention_weights.detach()
        for i in range(len(batch.mentions)):
            valid = (tensors["entity_spans"][i, :, 0] >= 0).nonzero().flatten()
            if len(valid) < 2:
                continue
            n_texts += 1
            n_mentions += len(valid)
            d = -delta[i, valid]  # probability drop of the predicted class
            f = flipped[i, valid].float()
            picks = {
                "attention": int(weights[i, valid].argmax()),
                "gradient_x_input": int(gxi[i, valid].argmax()),
                "integrated_gradients": int(ig[i, valid].argmax()),
                "oracle": int(d.argmax()),
            }
            drops["random"].append(float(d.mean()))
            flips["random"].append(float(f.mean()))
            for name, k in picks.items():
                drops[name].append(float(d[k]))
                flips[name].append(float(f[k]))
            r = int(torch.randint(len(valid), (1,), generator=rng))
            sampled_drop.append(float(d[r]))
            sampled_flip.append(float(f[r]))
            agree_top += picks["integrated_gradients"] == picks["oracle"]

    def mean(xs):
        return sum(xs) / len(xs) if xs else float("nan")

    result = {
        "texts_scored": n_texts,
        "mentions": n_mentions,
        "strategies": {
            s: {"mean_probability_drop": round(mean(drops[s]), 5), "flip_rate": round(mean(flips[s]), 4)}
            for s in STRATEGIES
        },
        "random_sampled_once": {"mean_probability_drop": round(mean(sampled_drop), 5),
                                "flip_rate": round(mean(sampled_flip), 4)},
        "integrated_gradients_picks_oracle": round(agree_top / max(n_texts, 1), 4),
    }
    rnd = result["strategies"]["random"]["mean_probability_drop"]
    for s in STRATEGIES:
        drop = result["strategies"][s]["mean_probability_drop"]
        result["strategies"][s]["drop_vs_random"] = round(drop / rnd, 2) if rnd > 0 else None
        if s != "random" and drops[s]:
            low, high = paired_bootstrap_ci(drops[s], drops["random"], seed=seed)
            result["strategies"][s]["drop_minus_random_ci95"] = [round(low, 5), round(high, 5)]
    return result


def paired_bootstrap_ci(a: list[float], b: list[float], seed: int, resamples: int = 5000) -> tuple[float, float]:
    """95% percentile-bootstrap interval of mean(a − b) over texts (paired: same texts resampled)."""
    diff = torch.tensor(a, dtype=torch.float64) - torch.tensor(b, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(diff), (resamples, len(diff)), generator=gen)
    means = diff[idx].mean(1).sort().values
    return float(means[int(0.025 * resamples)]), float(means[int(0.975 * resamples) - 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="a model directory from `kgenhance train` (default: train one)")
    ap.add_argument("--validation", type=Path, default=ROOT / "examples/data/medical_abstracts/validation.csv")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--ig-steps", type=int, default=16)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or train_default_model(Path(tmp) / "model", args.seed)
        model = KnowledgeAwareClassifier.from_pretrained(model_dir).eval()
        texts = load_examples(args.validation).texts
        result = measure(model, texts, args.batch_size, args.ig_steps, args.seed)
    result["validation_texts"] = len(texts)
    result["model"] = str(args.model or "trained here: HPO, 600 training abstracts, 3 epochs, seed 42")
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))
    print(f"\nremoving one linked entity's knowledge, {result['texts_scored']} validation texts with ≥ 2 entities:")
    print(f"{'chosen by':>22}  {'mean Δp drop':>12}  {'flip rate':>9}  {'× random':>8}  95% CI of drop − random")
    for s, v in result["strategies"].items():
        ratio = "" if v["drop_vs_random"] is None else f"{v['drop_vs_random']:.2f}"
        ci = v.get("drop_minus_random_ci95")
        ci_text = f"[{ci[0]:+.5f}, {ci[1]:+.5f}]" if ci else ""
        print(f"{s:>22}  {v['mean_probability_drop']:12.5f}  {v['flip_rate']:9.4f}  {ratio:>8}  {ci_text}")
    if args.out:
        from kgenhance._io import write_json_atomic

        write_json_atomic(args.out, result)


if __name__ == "__main__":
    main()
