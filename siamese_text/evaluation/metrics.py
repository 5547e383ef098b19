"""Metrics of a model on labelled pairs: decisions, ranking, calibration, and correlation.

Decisions (accuracy, precision, recall, F1) are reported at the model's stored threshold and at
the threshold that is best on these very pairs (an optimistic ceiling, labelled as such).
Ranking: ROC-AUC, average precision. Calibration: log loss, Brier score, expected calibration
error (ECE). Graded corpora (STS-B, SICK relatedness) add Pearson and Spearman correlations
between the gold score and the predicted probability.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from siamese_text.model.calibration import best_threshold
from siamese_text.corpora.pairs import Pair
from siamese_text.extras import require

_EPS = 1e-15  # probabilities are clipped to [eps, 1 - eps] for the log loss


@dataclass(frozen=True)
class Scored:
    """What a model said about labelled pairs.

    labels: (N,) 0/1 (binarised when the corpus is graded); scores: (N,) gold scores of a graded
    corpus, else None; probabilities, energies: (N,) model outputs; threshold: the stored one.
    """

    labels: np.ndarray
    probabilities: np.ndarray
    energies: np.ndarray
    threshold: float
    scores: np.ndarray | None = None


def score_pairs(model, pairs: Sequence[Pair], binarize: float | None = None, batch_size: int = 256) -> Scored:
    """Run `model` on labelled pairs.

    Args:
        binarize: for graded labels, gold score >= binarize counts as 1 (None: labels are 0/1).
    """
    energies = np.asarray(model.energies([p.a for p in pairs], [p.b for p in pairs], batch_size), np.float64)
    probs = np.asarray(model.calibration(energies), np.float64)
    gold = np.array([p.label for p in pairs], dtype=np.float64)
    if binarize is None:
        return Scored(gold.astype(int), probs, energies, float(model.threshold))
    return Scored((gold >= binarize).astype(int), probs, energies, float(model.threshold), scores=gold)


def decision_metrics(labels, probs, threshold: float) -> dict[str, float]:
    """Accuracy, precision, recall and F1 when predicting 1 for prob >= threshold."""
    y = np.asarray(labels).astype(int)
    pred = np.asarray(probs, dtype=np.float64) >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": float(np.mean(pred == (y == 1))) if len(y) else float("nan"),
            "precision": precision, "recall": recall, "f1": f1}


def log_loss(labels, probs) -> float:
    """Mean negative log-likelihood of the labels, natural log."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def brier_score(labels, probs) -> float:
    """Mean squared difference between probability and label."""
    return float(np.mean((np.asarray(probs, np.float64) - np.asarray(labels, np.float64)) ** 2))


def reliability(labels, probs, bins: int = 10) -> dict[str, np.ndarray]:
    """Equal-width probability bins: count, mean probability and share of genuine pairs per bin.

    Bin i holds probs in [i/bins, (i+1)/bins); the last bin also holds 1.0. Empty bins have NaNs.
    """
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)  # (N,) bin of each pair
    count = np.bincount(which, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_prob = np.bincount(which, weights=p, minlength=bins) / count
        positive_rate = np.bincount(which, weights=y, minlength=bins) / count
    return {"count": count, "mean_probability": mean_prob, "positive_rate": positive_rate,
            "edges": np.linspace(0.0, 1.0, bins + 1)}


def expected_calibration_error(labels, probs, bins: int = 10) -> float:
    """ECE: sum over bins of (share of pairs) * |mean probability - share genuine|."""
    r = reliability(labels, probs, bins)
    filled = r["count"] > 0
    gaps = np.abs(r["mean_probability"][filled] - r["positive_rate"][filled])
    return float(np.sum(r["count"][filled] / r["count"].sum() * gaps))


def binary_metrics(labels, probs, threshold: float) -> dict[str, Any]:
    """Every binary metric of probabilities `probs` (N,) against 0/1 `labels` (N,).

    Returns:
        n, positives, threshold, accuracy, precision, recall, f1 (at `threshold`);
        best_threshold, best_accuracy (= best_threshold_accuracy), best_precision, best_recall,
        best_f1 (at the accuracy-maximising threshold on these pairs); roc_auc, average_precision,
        log_loss, brier, ece. Ranking metrics are NaN when only one class is present.
    """
    sk = require("sklearn.metrics", "sklearn", "evaluation")
    average_precision_score, roc_auc_score = sk.average_precision_score, sk.roc_auc_score
    y = np.asarray(labels).astype(int)
    p = np.asarray(probs, dtype=np.float64)
    both = len(np.unique(y)) == 2
    best_thr, best_acc = best_threshold(p, y)
    best = decision_metrics(y, p, best_thr)
    out: dict[str, Any] = {"n": int(len(y)), "positives": int(y.sum()), "threshold": float(threshold)}
    out.update(decision_metrics(y, p, threshold))
    out.update({
        "best_threshold": best_thr, "best_accuracy": best_acc, "best_threshold_accuracy": best_acc,
        "best_precision": best["precision"], "best_recall": best["recall"], "best_f1": best["f1"],
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, p)) if both else float("nan"),
        "log_loss": log_loss(y, p), "brier": brier_score(y, p), "ece": expected_calibration_error(y, p),
    })
    return out


def graded_metrics(scores, probs) -> dict[str, float]:
    """Pearson and Spearman correlation between gold scores and predicted probabilities."""
    stats = require("scipy.stats", "sklearn", "evaluation on graded scores")  # SciPy comes with scikit-learn
    pearsonr, spearmanr = stats.pearsonr, stats.spearmanr

    s, p = np.asarray(scores, np.float64), np.asarray(probs, np.float64)
    if len(s) < 2 or np.ptp(s) == 0 or np.ptp(p) == 0:
        return {"pearson": float("nan"), "spearman": float("nan")}
    return {"pearson": float(pearsonr(s, p)[0]), "spearman": float(spearmanr(s, p)[0])}


def metrics(scored: Scored, binarize: float | None = None) -> dict[str, Any]:
    """All metrics of a Scored set (graded ones too when it carries gold scores)."""
    out = binary_metrics(scored.labels, scored.probabilities, scored.threshold)
    if scored.scores is not None:
        out.update(graded_metrics(scored.scores, scored.probabilities))
        out["binarized_at"] = binarize
    return out


def evaluate_pairs(model, pairs: Sequence[Pair], batch_size: int = 256, binarize: float | None = None) -> dict[str, Any]:
    """Score labelled pairs with `model`; `binary_metrics` at its stored threshold (+ graded ones)."""
    return metrics(score_pairs(model, pairs, binarize, batch_size), binarize)


def json_ready(d: dict[str, Any]) -> dict[str, Any]:
    """The metrics with NaN replaced by None (JSON has no NaN)."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def format_metrics(m: dict[str, Any]) -> str:
    """The metrics as a short human-readable table (what `siamese-text evaluate` prints)."""

    def f(key: str) -> str:
        v = m.get(key)
        return "   n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"

    lines = [f"pairs          {m['n']:,} ({m['positives']:,} genuine, {m['n'] - m['positives']:,} impostor)",
             f"{'':<15}{'threshold':>9} {'accuracy':>9} {'precision':>9} {'recall':>9} {'F1':>9}",
             f"{'stored':<15}{f('threshold'):>9} {f('accuracy'):>9} {f('precision'):>9} {f('recall'):>9} "
             f"{f('f1'):>9}",
             f"{'best for data':<15}{f('best_threshold'):>9} {f('best_accuracy'):>9} {f('best_precision'):>9} "
             f"{f('best_recall'):>9} {f('best_f1'):>9}",
             f"ranking        ROC-AUC {f('roc_auc')}   average precision {f('average_precision')}",
             f"calibration    log loss {f('log_loss')}   Brier {f('brier')}   ECE {f('ece')}"]
    if "pearson" in m:
        lines.append(f"correlation    Pearson {f('pearson')}   Spearman {f('spearman')}   "
                     f"(binary metrics count score >= {m.get('binarized_at')} as genuine)")
    return "\n".join(lines)
