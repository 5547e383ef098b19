"""Vector index: how embeddings are compared (Scoring) and searched (VectorIndex, on faiss).

A Scoring turns two embeddings into a score, higher = more alike: for a SiameseModel the
calibrated probability of its own energy; for any other encoder (anything with
`encode(list[str]) -> ndarray`) the cosine similarity, with a threshold the caller must give.

A VectorIndex finds candidate neighbours: exact (faiss IndexFlatIP on unit vectors for cosine,
IndexFlatL2 / METRIC_L1 for euclidean / manhattan) up to `exact_limit` vectors, an inverted-file
index (IVF: k-means cells, `nprobe` of them searched per query) beyond. Distances come back from
faiss exactly (IVF stores the raw vectors), so only the choice of candidates is approximate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamese_text.model.energy import Energy
from siamese_text.errors import ArgumentError, IndexFolderError


def _cosine_similarity(energy: np.ndarray) -> np.ndarray:
    return 1.0 - np.asarray(energy, dtype=np.float64)  # energy = 1 - cos


@dataclass(frozen=True)
class Scoring:
    """Energy of two embeddings and the score (higher = more alike) derived from it.

    Attributes:
        energy: the distance (lower = more alike).
        to_score: energies (N,) -> scores (N,), monotone decreasing.
        threshold: a pair whose score reaches it is a duplicate.
        kind: "probability" (a calibrated model) or "cosine" (a plain encoder).
    """

    energy: Energy
    to_score: Callable[[np.ndarray], np.ndarray]
    threshold: float
    kind: str = "probability"

    @classmethod
    def for_encoder(cls, encoder, threshold: float | None = None) -> "Scoring":
        """The model's own energy and calibration (threshold defaults to the model's), or
        cosine similarity for a plain encoder (threshold required)."""
        if hasattr(encoder, "calibration") and hasattr(encoder, "energy"):
            calibration = encoder.calibration
            if hasattr(calibration, "require_fitted"):
                calibration = calibration.require_fitted()  # UncalibratedModel, before any work
            thr = float(encoder.threshold if threshold is None else threshold)
            return cls(Energy(encoder.energy), calibration, _check(thr, 0.0, 1.0), "probability")
        if threshold is None:
            raise ArgumentError("an encoder without a calibration needs an explicit threshold "
                                   "(a cosine similarity in [-1, 1])")
        return cls(Energy.cosine, _cosine_similarity, _check(float(threshold), -1.0, 1.0), "cosine")

    def prepare(self, vectors: np.ndarray) -> np.ndarray:
        """float32, C-contiguous; unit length for cosine (zero vectors stay zero). (N, D)"""
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        if v.ndim != 2:
            raise ValueError(f"expected an (N, D) array of embeddings, got shape {v.shape}")
        if self.energy is Energy.cosine:
            norms = np.linalg.norm(v, axis=1, keepdims=True)
            v = v / np.maximum(norms, 1e-8)
        return v


def _check(value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise ArgumentError(f"threshold must lie in [{low:g}, {high:g}], got {value:g}")
    return value


@dataclass(frozen=True)
class IndexConfig:
    """When to go approximate and how hard to search."""

    exact_limit: int = 20_000  # up to this many vectors: exact flat search; beyond: IVF
    nprobe: int = 48  # IVF cells searched per query (more = slower, higher recall)
    cells_per_sqrt: float = 4.0  # IVF cells = cells_per_sqrt * sqrt(N)
    seed: int = 0  # k-means seed: the same input gives the same index
    kmeans_iterations: int = 10  # cells need not be perfect, only balanced enough (faiss: 25)
    train_per_list: int = 64  # k-means sample: this many vectors per IVF cell (faiss asks for 39 to 256)


class VectorIndex:
    """Nearest-neighbour search over prepared vectors (see `Scoring.prepare`).

    Args:
        index: a faiss index holding the vectors, ids 0..N-1 in insertion order.
        energy: the Scoring's energy (decides the faiss metric).
    """

    def __init__(self, index, energy: Energy) -> None:
        self.index = index
        self.energy = Energy(energy)

    @property
    def exact(self) -> bool:
        import faiss

        return isinstance(self.index, faiss.IndexFlat)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, vectors: np.ndarray, energy: Energy, config: IndexConfig | None = None,
              exact: bool | None = None) -> "VectorIndex":
        """Index (N, D) prepared vectors; `exact` forces (True) or forbids (False) flat search."""
        import faiss

        config = config or IndexConfig()
        n, d = vectors.shape
        inner = Energy(energy) is Energy.cosine
        metric = {Energy.cosine: faiss.METRIC_INNER_PRODUCT, Energy.euclidean: faiss.METRIC_L2,
                  Energy.manhattan: faiss.METRIC_L1}[Energy(energy)]
        if exact if exact is not None else n <= config.exact_limit:
            flat = faiss.IndexFlat(d, metric)
            flat.add(vectors)
            return cls(flat, energy)
        nlist = max(1, min(int(config.cells_per_sqrt * np.sqrt(n)), n // 39))
        quantizer = faiss.IndexFlat(d, faiss.METRIC_INNER_PRODUCT if inner else faiss.METRIC_L2)  # cells
        ivf = faiss.IndexIVFFlat(quantizer, d, nlist, metric)
        ivf.cp.seed = config.seed
        ivf.cp.niter = config.kmeans_iterations
        ivf.cp.min_points_per_centroid = 1  # a sample below faiss's advice is deliberate: no warning
        rng = np.random.default_rng(config.seed)
        want = config.train_per_list * nlist
        sample = vectors if n <= want else vectors[np.sort(rng.choice(n, want, replace=False))]
        ivf.train(sample)
        ivf.add(vectors)
        ivf.nprobe = min(config.nprobe, nlist)
        index = cls(ivf, energy)
        index._quantizer = quantizer  # the IVF index points at it; keep it alive
        return index

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest stored vectors of each query, nearest first.

        Returns:
            energies (Q, k) float64 (inf where ids is -1) and ids (Q, k) int64 (-1 pads).
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = max(1, min(k, len(self)))
        if len(self) == 0:
            return np.full((len(queries), 1), np.inf), np.full((len(queries), 1), -1, dtype=np.int64)
        dist, ids = self.index.search(queries, k)
        dist = dist.astype(np.float64)
        if self.energy is Energy.cosine:
            energies = 1.0 - dist  # inner product of unit vectors
        elif self.energy is Energy.euclidean:
            energies = np.sqrt(np.maximum(dist, 1e-12))  # faiss returns squared L2
        else:
            energies = dist  # L1
        energies[ids < 0] = np.inf
        return energies, ids

    def save(self, file: str | Path) -> None:
        import faiss

        faiss.write_index(self.index, str(file))

    @classmethod
    def load(cls, file: str | Path, energy: Energy, nprobe: int | None = None) -> "VectorIndex":
        import faiss

        try:
            index = faiss.read_index(str(file))
        except RuntimeError as exc:
            raise IndexFolderError(f"{file}: unreadable vector index ({str(exc).splitlines()[0][:120]})") from None
        if nprobe is not None and hasattr(index, "nprobe"):
            index.nprobe = nprobe
        return cls(index, energy)
