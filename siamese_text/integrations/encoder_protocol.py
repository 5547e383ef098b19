"""What it takes to be an encoder, and how our probabilities translate to a cosine cut-off.

Anything with `encode(list[str]) -> (N, D) ndarray` is an encoder (the same contract as
SemHash's `Encoder` and sentence-transformers' `encode`), so a `SiameseModel` plugs into tools
that accept any encoder, and other encoders can stand in where we only need vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from siamese_text.model.siamese import SiameseModel


@runtime_checkable
class TextEncoder(Protocol):
    """Maps texts to vectors: `encode(texts) -> (len(texts), D)` array, rows in input order."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def cosine_cutoff(model: SiameseModel, probability: float | None = None) -> float:
    """The cosine similarity of two embeddings at which `model` says `probability`.

    Tools that threshold raw cosine similarity (SemHash, FAISS range search) need this number to
    agree with our calibrated verdicts: two texts whose embeddings have a cosine similarity at or
    above the cut-off get a probability at or above `probability`.

    Args:
        model: a model whose energy is cosine distance (1 - cosine similarity).
        probability: the probability to translate; None means the model's own threshold.
    Returns:
        A cosine similarity in [-1, 1].
    Raises:
        ValueError: the model's energy is not cosine, or no cosine similarity reaches `probability`.
    """
    if model.energy.value != "cosine":
        raise ValueError(f"a cosine cut-off needs a cosine-energy model; this one uses {model.energy.value}")
    p = model.threshold if probability is None else float(probability)
    energies = np.linspace(0.0, 2.0, 200_001)  # every cosine distance, in steps of 1e-5
    reaches = model.calibration(energies) >= p  # calibration is monotone: True up to some energy
    if not reaches.any():
        raise ValueError(f"no cosine similarity reaches probability {p} under this model's calibration")
    return float(1.0 - energies[reaches].max())
