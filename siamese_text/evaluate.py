"""Metrics of a model on labelled pairs, at its stored threshold and at the best one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .calibration import best_threshold
from .pairs import Pair


def binary_metrics(labels, probs, threshold: float) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 at `threshold`, plus ROC-AUC and the best threshold.

    Args:
        labels: (N,) 0/1.
        probs: (N,) probability of label 1 (higher = more alike).
        threshold: predict 1 when prob >= threshold.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score

    y = np.asarray(labels).astype(int)
    p = np.asarray(probs, dtype=np.float64)
    pred = (p >= threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    best_thr, best_acc = best_threshold(p, y)
    return {
        "n": int(len(y)),
        "threshold": float(threshold),
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "roc_auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan"),
        "best_threshold": best_thr,
        "best_threshold_accuracy": best_acc,
    }


def evaluate_pairs(model, pairs: Sequence[Pair], batch_size: int = 256) -> dict[str, Any]:
    """Score labelled pairs with `model` and return `binary_metrics` at its stored threshold."""
    probs = model.probabilities([p.a for p in pairs], [p.b for p in pairs], batch_size=batch_size)
    return binary_metrics([p.label for p in pairs], probs, model.threshold)
