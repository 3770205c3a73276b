"""Classification scores: accuracy, macro-F1 and per-label precision/recall/F1."""

from __future__ import annotations

from typing import Sequence

from sklearn.metrics import accuracy_score, precision_recall_fscore_support


def classification_metrics(gold: Sequence[str], predicted: Sequence[str]) -> dict:
    """Scores over the labels seen in `gold` or `predicted` (undefined precision counts as 0)."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    if not gold:
        return {"n": 0, "accuracy": 0.0, "macro_f1": 0.0, "per_label": {}}
    labels = sorted(set(gold) | set(predicted))
    p, r, f, s = precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)
    return {
        "n": len(gold),
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f.mean()),
        "per_label": {
            lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(labels)
        },
    }
