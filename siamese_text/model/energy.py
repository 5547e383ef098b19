"""Energies: distances between two batches of embeddings. Lower energy = more alike.

Each energy is one function of two (B, D) arrays that works on NumPy arrays (inference) and on
torch tensors (training, with gradients), so adding an energy is one function here, one member
of `Energy`, and its test in tests/test_energy_losses.py. torch is never imported by this module:
a tensor argument brings it.

`similarity_from_energy` is the one place where an energy becomes a similarity (higher = more
alike); a fitted calibration (calibration.py) refines that into a probability.
"""

from __future__ import annotations

import math
import sys
from enum import Enum

import numpy as np

_EPS = 1e-12  # keeps sqrt's gradient finite at zero distance
_NORM_EPS = 1e-8  # smallest norm a vector is divided by (a zero vector has cosine energy 1)


class Energy(str, Enum):
    """Distance used as energy between two embeddings."""

    euclidean = "euclidean"
    manhattan = "manhattan"
    cosine = "cosine"


def _is_tensor(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def euclidean(a, b):
    """||a - b||_2 per row. (B, D), (B, D) -> (B,). Gradient is 0, not NaN, where a == b."""
    sq = ((a - b) ** 2).sum(-1)
    if _is_tensor(sq):
        return sq.clamp_min(_EPS).sqrt()
    return np.sqrt(np.maximum(sq, _EPS))


def manhattan(a, b):
    """||a - b||_1 per row. (B, D), (B, D) -> (B,)."""
    return abs(a - b).sum(-1)


def cosine(a, b):
    """1 - cos(a, b) per row, in [0, 2]. (B, D), (B, D) -> (B,)."""
    if _is_tensor(a):
        import torch.nn.functional as F

        return 1.0 - F.cosine_similarity(a, b, dim=-1, eps=_NORM_EPS)
    na = np.maximum(np.linalg.norm(a, axis=-1), _NORM_EPS)
    nb = np.maximum(np.linalg.norm(b, axis=-1), _NORM_EPS)
    return 1.0 - ((a / na[:, None]) * (b / nb[:, None])).sum(-1)


_FUNCTIONS = {Energy.euclidean: euclidean, Energy.manhattan: manhattan, Energy.cosine: cosine}


def energy_fn(kind: Energy | str):
    """The distance function for an Energy name."""
    return _FUNCTIONS[Energy(kind)]


def rowwise_energy(a: np.ndarray, b: np.ndarray, kind: Energy | str) -> np.ndarray:
    """Energy of each row pair, in float32. (N, D), (N, D) -> (N,)"""
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return np.asarray(energy_fn(kind)(a, b), dtype=np.float32)


def pairwise_energy(a: np.ndarray, b: np.ndarray, kind: Energy | str) -> np.ndarray:
    """Energy between every row of a and every row of b. (N, D), (M, D) -> (N, M)

    cosine is one matrix product of unit vectors; the others apply the row-wise function to one
    query row at a time (memory O(M * D)). Agrees with `energy_fn` to float32 rounding.
    """
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    fn = energy_fn(kind)
    out = np.empty((len(a), len(b)), dtype=np.float32)
    if Energy(kind) is Energy.cosine:  # one matrix product on unit vectors
        ua = a / np.maximum(np.linalg.norm(a, axis=1), _NORM_EPS)[:, None]
        ub = b / np.maximum(np.linalg.norm(b, axis=1), _NORM_EPS)[:, None]
        return (1.0 - ua @ ub.T).astype(np.float32)
    for i in range(len(a)):  # (M, D) per query row
        out[i] = fn(np.broadcast_to(a[i], b.shape), b)
    return out


def similarity_from_energy(energy, kind: Energy | str):
    """Map energy to an uncalibrated similarity in [0, 1], higher = more alike.

    cosine: 1 - d / 2; euclidean and manhattan: exp(-d) (as in the Manhattan LSTM).
    Works on floats, NumPy arrays and tensors alike.
    """
    kind = Energy(kind)
    if kind is Energy.cosine:
        return 1.0 - energy / 2.0
    if _is_tensor(energy):
        return energy.neg().exp()
    if isinstance(energy, (int, float)):
        return math.exp(-energy)
    return np.exp(-np.asarray(energy, dtype=np.float64))
