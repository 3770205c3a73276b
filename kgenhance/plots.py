"""PNG pictures of training runs and comparisons (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ._io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_training(records: Iterable[Mapping], path: str | Path, title: str = "training") -> Path:
    """Loss per logged step and validation accuracy / macro-F1 per epoch, from metrics.jsonl records."""
    records = list(records)
    steps = [r for r in records if r.get("type") == "step"]
    epochs = [r for r in records if r.get("type") == "epoch"]
    plt = _pyplot()
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.8))
    if steps:
        ax_loss.plot([r["step"] for r in steps], [r["loss"] for r in steps], color="#2b6cb0", lw=1.2,
                     label="training loss (logged steps)")
    if epochs:
        ax_loss.plot([r["step"] for r in epochs], [r["train_loss"] for r in epochs], "o", color="#1d2430",
                     label="epoch mean")
        xs = [r["epoch"] for r in epochs]
        ax_val.plot(xs, [r["accuracy"] for r in epochs], "o-", color="#2b6cb0", label="accuracy")
        ax_val.plot(xs, [r["macro_f1"] for r in epochs], "s-", color="#c05621", label="macro-F1")
        ax_val.set_xticks(xs)
    ax_loss.set(xlabel="optimizer step", ylabel="loss", title="training loss")
    ax_val.set(xlabel="epoch", ylabel="score", title="validation")
    return _finish(fig, plt, [ax_loss, ax_val], title, path)


def plot_compare(
    curves: Mapping[str, Sequence[Sequence[float]]],
    path: str | Path,
    size_curves: Mapping[str, tuple[Sequence[int], Sequence[Mapping]]] | None = None,
    metric: str = "macro-F1",
    title: str = "knowledge-aware vs baseline",
) -> Path:
    """Validation `metric` per epoch for each model (every seed thin, their mean thick) and, given
    `size_curves` ({model: (training sizes, [mean_ci dicts])}), the learning curve over training size."""
    plt = _pyplot()
    panels = 2 if size_curves else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.4 * panels, 4.2), squeeze=False)
    ax = axes[0][0]
    colours = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1"]
    for colour, (name, runs) in zip(colours, curves.items()):
        runs = [list(r) for r in runs if len(r)]
        if not runs:
            continue
        for r in runs:
            ax.plot(range(1, len(r) + 1), r, color=colour, alpha=0.3, lw=1)
        n = min(len(r) for r in runs)
        mean = [sum(r[i] for r in runs) / len(runs) for i in range(n)]
        ax.plot(range(1, n + 1), mean, "o-", color=colour, lw=2.2, label=f"{name} (mean of {len(runs)})")
    longest = max((len(r) for runs in curves.values() for r in runs), default=0)
    if longest:
        ax.set_xticks(range(1, longest + 1))
    ax.set(xlabel="epoch", ylabel=f"validation {metric}", title="per epoch")
    if size_curves:
        bx = axes[0][1]
        for colour, (name, (xs, stats)) in zip(colours, size_curves.items()):
            means = [s["mean"] for s in stats]
            bx.plot(xs, means, "o-", color=colour, lw=2, label=name)
            if all(s.get("ci_low") is not None for s in stats):
                bx.fill_between(xs, [s["ci_low"] for s in stats], [s["ci_high"] for s in stats], color=colour,
                                alpha=0.15)
        bx.set_xscale("log")
        bx.set(xlabel="training examples", ylabel=f"validation {metric} (best epoch)",
               title="learning curve (mean, 95% CI)")
    return _finish(fig, plt, list(axes[0]), title, path)


def _finish(fig, plt, axes, title: str, path: str | Path) -> Path:
    """Grid and legend on every panel, the title, then save."""
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, plt, path)


def _save(fig, plt, path: str | Path) -> Path:
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(fig)
    return path
