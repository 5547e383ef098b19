"""Judging a model on held-out pairs while training, and calibrating it on them at the end."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from siamese_text.corpora.pairs import Pair
from siamese_text.extras import require
from siamese_text.model.calibration import best_threshold, fit_calibration
from siamese_text.model.siamese import SiameseModel


def _energies_and_labels(model: SiameseModel, pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray]:
    energies = model.energies([p.a for p in pairs], [p.b for p in pairs])
    return energies, np.array([p.label for p in pairs], dtype=int)


def validation_scores(model: SiameseModel, pairs: Sequence[Pair]) -> tuple[float, float]:
    """(ROC-AUC, best accuracy over thresholds) of the model's energies on labelled pairs."""
    roc_auc_score = require("sklearn.metrics", "train").roc_auc_score
    energies, labels = _energies_and_labels(model, pairs)
    return float(roc_auc_score(labels, -energies)), best_threshold(-energies, labels)[1]


def calibrate(model: SiameseModel, valid_pairs: Sequence[Pair], method: str, **meta) -> SiameseModel:
    """Fit the calibration and the threshold on held-out pairs; record them and `meta` in model.meta."""
    roc_auc_score = require("sklearn.metrics", "train").roc_auc_score
    energies, labels = _energies_and_labels(model, valid_pairs)
    model.calibration = fit_calibration(energies, labels, method,
                                        fitted_on=f"{len(valid_pairs)} held-out validation pairs")
    model.threshold, accuracy = best_threshold(model.calibration(energies), labels)
    model.meta.update(**meta, validation={"pairs": len(valid_pairs), "accuracy": accuracy,
                                          "roc_auc": float(roc_auc_score(labels, -energies))})
    return model
