"""PNG plots of an evaluation: ROC and precision-recall curves, energy histograms, reliability.

matplotlib is an optional extra (`pip install 'siamese-text[report]'`); it is imported only here,
with the non-interactive Agg backend, so a report can be written on a server without a display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from siamese_text.errors import InputError
from siamese_text.extras import require
from siamese_text.evaluation.metrics import Scored, reliability

GENUINE, IMPOSTOR = "#1b7837", "#c2185b"  # green / magenta: distinguishable with red-green blindness
FILES = ("roc.png", "precision_recall.png", "energy_histogram.png", "reliability.png", "graded_scatter.png")


def _pyplot():
    matplotlib = require("matplotlib", "report", "--report")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 11, "axes.titlesize": 13, "axes.grid": True, "grid.alpha": 0.3,
                         "figure.dpi": 110, "savefig.bbox": "tight"})
    return plt


def _operating_point(scored: Scored) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) at the stored threshold."""
    pred = scored.probabilities >= scored.threshold
    y = scored.labels == 1
    return int(np.sum(pred & y)), int(np.sum(pred & ~y)), int(np.sum(~pred & y)), int(np.sum(~pred & ~y))


def write_report(scored: Scored, folder: str | Path, title: str = "") -> list[Path]:
    """Write the plots into `folder` (created) and return their paths.

    Args:
        scored: the evaluation (labels, probabilities, energies, stored threshold).
        title: shown above each plot, e.g. the data file's name.
    """
    plt = _pyplot()
    sk = require("sklearn.metrics", "sklearn", "--report")
    average_precision_score, precision_recall_curve = sk.average_precision_score, sk.precision_recall_curve
    roc_auc_score, roc_curve = sk.roc_auc_score, sk.roc_curve
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    y, p, thr = scored.labels, scored.probabilities, scored.threshold
    if len(np.unique(y)) < 2:
        raise InputError("a report needs both genuine (1) and impostor (0) pairs in the data")
    tp, fp, fn, tn = _operating_point(scored)
    suffix = f"\n{title}" if title else ""
    written = []

    def save(fig, name: str) -> None:
        fig.savefig(folder / name)
        plt.close(fig)
        written.append(folder / name)

    # ROC
    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.plot(fpr, tpr, color="#2166ac", lw=2, label=f"model (ROC-AUC {roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="chance")
    ax.plot(fp / max(fp + tn, 1), tp / max(tp + fn, 1), "o", color="black", ms=8,
            label=f"stored threshold {thr:.3f}")
    ax.set(xlabel="false positive rate (impostors called duplicates)",
           ylabel="true positive rate (duplicates found)", xlim=(0, 1), ylim=(0, 1.01),
           title=f"ROC curve{suffix}")
    ax.legend(loc="lower right")
    save(fig, FILES[0])

    # Precision-recall
    precision, recall, _ = precision_recall_curve(y, p)
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.plot(recall, precision, color="#2166ac", lw=2,
            label=f"model (average precision {average_precision_score(y, p):.3f})")
    ax.axhline(y.mean(), color="grey", ls="--", lw=1, label=f"share of duplicates {y.mean():.3f}")
    ax.plot(tp / max(tp + fn, 1), tp / max(tp + fp, 1), "o", color="black", ms=8,
            label=f"stored threshold {thr:.3f}")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01),
           title=f"Precision-recall curve{suffix}")
    ax.legend(loc="lower left")
    save(fig, FILES[1])

    # Energy histograms of genuine vs impostor pairs
    e = scored.energies
    fig, ax = plt.subplots(figsize=(7, 4.5))
    n_bins = int(np.clip(2 * np.sqrt(len(e)), 8, 50))  # ~12 bins for 40 pairs, 50 from 625 pairs on
    bins = np.linspace(np.percentile(e, 0.5), np.percentile(e, 99.5) + 1e-9, n_bins + 1)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    for mask, color, what in ((y == 1, GENUINE, "genuine (same meaning)"), (y == 0, IMPOSTOR, "impostor (different)")):
        ax.hist(e[mask], bins=bins, histtype="stepfilled", alpha=0.25, color=color)
        ax.hist(e[mask], bins=bins, histtype="step", lw=2, color=color, label=f"{what}, n={int(mask.sum()):,}")
    above, below = e[p >= thr], e[p < thr]
    if len(above) and len(below):
        cut = (above.max() + below.min()) / 2
        ax.axvline(cut, color="black", ls="--", lw=1.5, label=f"decision boundary (energy {cut:.3f})")
    ax.set(xlabel="energy (distance between the two embeddings; lower = more alike)", ylabel="pairs",
           title=f"Energy of genuine vs impostor pairs{suffix}")
    ax.legend()
    save(fig, FILES[2])

    # Reliability diagram + how many pairs fall in each bin
    r = reliability(y, p, bins=10)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    centers = (r["edges"][:-1] + r["edges"][1:]) / 2
    filled = r["count"] > 0
    top.plot(r["mean_probability"][filled], r["positive_rate"][filled], "-", color="#2166ac", lw=2,
             label="model (observed vs predicted)")
    top.scatter(r["mean_probability"][filled], r["positive_rate"][filled], s=20 + 180 * r["count"][filled]
                / r["count"].max(), color="#2166ac", zorder=3)
    top.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect calibration")
    from siamese_text.evaluation.metrics import expected_calibration_error

    top.set(ylabel="observed share of duplicates\n(dot size = pairs in the bin)", xlim=(0, 1), ylim=(0, 1.01),
            title=f"Reliability (ECE {expected_calibration_error(y, p):.3f}){suffix}")
    top.legend(loc="best", fontsize=10)
    bottom.bar(centers, r["count"], width=0.09, color="#bababa")
    bottom.set(xlabel="predicted probability of same meaning", ylabel="pairs")
    save(fig, FILES[3])

    if scored.scores is not None:  # graded corpus: gold score against probability
        from siamese_text.evaluation.metrics import graded_metrics

        g = graded_metrics(scored.scores, p)
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.scatter(scored.scores, p, s=6, alpha=0.35, color="#2166ac")
        ax.set(xlabel="gold similarity score", ylabel="predicted probability of same meaning",
               title=f"Gold score vs prediction (Pearson {g['pearson']:.3f}, Spearman {g['spearman']:.3f})"
                     f"{suffix}")
        save(fig, FILES[4])
    return written
