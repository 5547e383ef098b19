"""Energies: distances between two batches of embeddings. Lower energy = more alike.

`similarity_from_energy` is the one place where an energy becomes a similarity (higher = more
alike); a fitted calibration (see calibration.py) refines that into a probability.
"""

from __future__ import annotations

import math
from enum import Enum

import numpy as np
import torch
import torch.nn.functional as F

_EPS = 1e-12  # keeps sqrt's gradient finite at zero distance


class Energy(str, Enum):
    """Distance used as energy between two embeddings."""

    euclidean = "euclidean"
    manhattan = "manhattan"
    cosine = "cosine"


def euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """||a - b||_2 per row. (B, D), (B, D) -> (B,). Gradient is 0, not NaN, where a == b."""
    sq = (a - b).pow(2).sum(-1)
    return torch.sqrt(sq.clamp_min(_EPS))


def manhattan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """||a - b||_1 per row. (B, D), (B, D) -> (B,)."""
    return (a - b).abs().sum(-1)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - cos(a, b) per row, in [0, 2]. (B, D), (B, D) -> (B,)."""
    return 1.0 - F.cosine_similarity(a, b, dim=-1, eps=1e-8)


_FUNCTIONS = {Energy.euclidean: euclidean, Energy.manhattan: manhattan, Energy.cosine: cosine}


def energy_fn(kind: Energy | str):
    """The distance function for an Energy name."""
    return _FUNCTIONS[Energy(kind)]


def pairwise_energy(a: torch.Tensor, b: torch.Tensor, kind: Energy | str) -> torch.Tensor:
    """Energy between every row of a and every row of b. (N, D), (M, D) -> (N, M)."""
    kind = Energy(kind)
    if kind is Energy.euclidean:
        return torch.cdist(a, b, p=2)
    if kind is Energy.manhattan:
        return torch.cdist(a, b, p=1)
    return 1.0 - F.normalize(a, dim=-1, eps=1e-8) @ F.normalize(b, dim=-1, eps=1e-8).T


def similarity_from_energy(energy, kind: Energy | str):
    """Map energy to an uncalibrated similarity in [0, 1], higher = more alike.

    cosine: 1 - d / 2; euclidean and manhattan: exp(-d) (as in the Manhattan LSTM).
    Works on floats, NumPy arrays and tensors alike.
    """
    kind = Energy(kind)
    if kind is Energy.cosine:
        return 1.0 - energy / 2.0
    if isinstance(energy, torch.Tensor):
        return torch.exp(-energy)
    if isinstance(energy, (int, float)):
        return math.exp(-energy)
    return np.exp(-np.asarray(energy, dtype=np.float64))
