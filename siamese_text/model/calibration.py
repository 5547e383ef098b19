"""Energy -> probability of "same meaning", fitted on held-out labelled pairs.

Applying a calibration needs only NumPy; fitting it uses scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from siamese_text.errors import SiameseTextError
from siamese_text.extras import require

METHODS = ("platt", "isotonic")
UNFITTED = "unfitted"  # `fitted_on` of a calibration never fitted (a hand-built or distilled model)


class UncalibratedModel(SiameseTextError):
    """A probability asked of a model whose calibration was never fitted."""

    def __init__(self, message: str = "this model's calibration was never fitted; fit it (Trainer.calibrate) or "
                                      "use energies/encode") -> None:
        super().__init__(message)  # a default, not a fixed message: the exception stays picklable


@dataclass(frozen=True)
class Calibration:
    """A monotone map from energy to probability (lower energy -> higher probability).

    platt: p = sigmoid(a * energy + b), a < 0 for a sensible model.
    isotonic: piecewise-linear through (x, y) knots, as scikit-learn's IsotonicRegression.
    """

    method: str = "platt"
    a: float = -1.0
    b: float = 0.0
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    fitted_on: str = UNFITTED

    @property
    def fitted(self) -> bool:
        return self.fitted_on != UNFITTED

    def require_fitted(self) -> "Calibration":
        """This calibration, or UncalibratedModel when it was never fitted."""
        if not self.fitted:
            raise UncalibratedModel()
        return self

    def __call__(self, energy) -> np.ndarray:
        """Probabilities for `energy`; UncalibratedModel when never fitted (its numbers would mean nothing)."""
        self.require_fitted()
        e = np.asarray(energy, dtype=np.float64)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.a * e + self.b)))
        return np.interp(e, self.x, self.y)

    def to_dict(self) -> dict:
        d = {"method": self.method, "fitted_on": self.fitted_on}
        if self.method == "platt":
            d.update(a=self.a, b=self.b)
        else:
            d.update(x=self.x, y=self.y)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        if d.get("method") not in METHODS:
            raise ValueError(f"calibration method must be one of {METHODS}")
        return cls(**{k: d[k] for k in ("method", "a", "b", "x", "y", "fitted_on") if k in d})


def fit_calibration(energy, labels, method: str = "platt", fitted_on: str = "") -> Calibration:
    """Fit energy -> P(label = 1) on held-out pairs (never the training pairs).

    Args:
        energy: (N,) energies of held-out pairs.
        labels: (N,) 0/1 labels.
        method: "platt" (logistic regression on the energy) or "isotonic".
    """
    e = np.asarray(energy, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    if len(np.unique(y)) < 2:
        raise ValueError("calibration needs both genuine (1) and impostor (0) pairs")
    if method == "platt":
        LogisticRegression = require("sklearn.linear_model", "train", "fitting a calibration").LogisticRegression
        lr = LogisticRegression(C=1e4).fit(e.reshape(-1, 1), y)
        return Calibration("platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]), fitted_on=fitted_on)
    if method == "isotonic":
        IsotonicRegression = require("sklearn.isotonic", "train", "fitting a calibration").IsotonicRegression
        iso = IsotonicRegression(increasing=False, out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(e, y)
        return Calibration("isotonic", x=[float(v) for v in iso.X_thresholds_],
                           y=[float(v) for v in iso.y_thresholds_], fitted_on=fitted_on)
    raise ValueError(f"calibration method must be one of {METHODS}, got {method!r}")


def best_threshold(probs, labels) -> tuple[float, float]:
    """The probability threshold that maximises accuracy on (probs, labels).

    Returns:
        (threshold, accuracy): predict "same" when prob >= threshold.
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    # Predicting the top k as positive: correct = positives among top k + negatives after k.
    tp = np.concatenate([[0], np.cumsum(y_sorted)])
    fp = np.concatenate([[0], np.cumsum(1 - y_sorted)])
    correct = tp + (len(y) - y.sum() - fp)
    # Only cut between distinct probabilities.
    valid = np.ones(len(p) + 1, dtype=bool)
    valid[1:-1] = p_sorted[1:] != p_sorted[:-1]
    k = int(np.argmax(np.where(valid, correct, -1)))
    if k == 0:
        thr = float(np.nextafter(p_sorted[0], np.inf)) if len(p) else 0.5
    elif k == len(p):
        thr = float(p_sorted[-1])
    else:
        thr = float((p_sorted[k - 1] + p_sorted[k]) / 2)
    return thr, float(correct[k] / max(len(y), 1))
