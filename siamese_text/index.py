"""Vector index: how embeddings are compared (Scoring) and searched (VectorIndex, on faiss).

A Scoring turns two embeddings into a score, higher = more alike: for a SiameseModel the
calibrated probability of its own energy; for any other encoder (anything with
`encode(list[str]) -> ndarray`) the cosine similarity, with a threshold the caller must give.

A VectorIndex finds candidate neighbours: exact (faiss IndexFlatIP on unit vectors for cosine,
IndexFlatL2 otherwise) up to `exact_limit` vectors, an inverted-file index (IVF: k-means cells,
`nprobe` of them searched per query) beyond. Manhattan has no faiss index of its own: its
candidates come from the L2 index and every candidate is re-scored exactly by the Scoring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .energy import Energy
from .errors import SiameseTextError


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
            thr = float(encoder.threshold if threshold is None else threshold)
            return cls(Energy(encoder.energy), encoder.calibration, _check(thr, 0.0, 1.0), "probability")
        if threshold is None:
            raise SiameseTextError("an encoder without a calibration needs an explicit threshold "
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

    def energies(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Row-wise energy of prepared vectors. (N, D), (N, D) -> (N,) float64"""
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        if self.energy is Energy.cosine:
            return 1.0 - np.einsum("nd,nd->n", a64, b64)
        if self.energy is Energy.euclidean:
            return np.sqrt(np.maximum(((a64 - b64) ** 2).sum(1), 1e-12))
        return np.abs(a64 - b64).sum(1)

    def scores(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Row-wise score of prepared vectors, higher = more alike. -> (N,)"""
        return np.asarray(self.to_score(self.energies(a, b)), dtype=np.float64)


def _check(value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise SiameseTextError(f"threshold must lie in [{low:g}, {high:g}], got {value:g}")
    return value


@dataclass(frozen=True)
class IndexConfig:
    """When to go approximate and how hard to search."""

    exact_limit: int = 20_000  # up to this many vectors: exact flat search; beyond: IVF
    nprobe: int = 32  # IVF cells searched per query (more = slower, higher recall)
    cells_per_sqrt: float = 4.0  # IVF cells = cells_per_sqrt * sqrt(N)
    seed: int = 0  # k-means seed: the same input gives the same index


class VectorIndex:
    """Nearest-neighbour search over prepared vectors (see `Scoring.prepare`).

    Args:
        index: a faiss index holding the vectors, ids 0..N-1 in insertion order.
        energy: the Scoring's energy (decides the faiss metric).
    """

    def __init__(self, index, energy: Energy, vectors: np.ndarray | None = None) -> None:
        self.index = index
        self.energy = Energy(energy)
        self.vectors = vectors  # (N, D) as indexed; needed to re-score manhattan candidates
        if self.energy is Energy.manhattan and vectors is None:
            raise ValueError("a manhattan index needs its vectors to re-score candidates")

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
        metric = faiss.METRIC_INNER_PRODUCT if inner else faiss.METRIC_L2
        flat = faiss.IndexFlatIP(d) if inner else faiss.IndexFlatL2(d)
        if exact if exact is not None else n <= config.exact_limit:
            flat.add(vectors)
            return cls(flat, energy, vectors)
        nlist = max(1, min(int(config.cells_per_sqrt * np.sqrt(n)), n // 39))
        ivf = faiss.IndexIVFFlat(flat, d, nlist, metric)
        ivf.cp.seed = config.seed
        rng = np.random.default_rng(config.seed)
        sample = vectors if n <= 64 * nlist else vectors[np.sort(rng.choice(n, 64 * nlist, replace=False))]
        ivf.train(sample)
        ivf.add(vectors)
        ivf.nprobe = min(config.nprobe, nlist)
        index = cls(ivf, energy, vectors)
        index._quantizer = flat  # the IVF index points at it; keep it alive
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
        manhattan = self.energy is Energy.manhattan
        fetch = min(len(self), 2 * k) if manhattan else k  # L2 candidates for an L1 re-ranking
        dist, ids = self.index.search(queries, fetch)
        dist = dist.astype(np.float64)
        if self.energy is Energy.cosine:
            energies = 1.0 - dist  # inner product of unit vectors
        elif self.energy is Energy.euclidean:
            energies = np.sqrt(np.maximum(dist, 1e-12))  # faiss returns squared L2
        else:
            cand = self.vectors[np.maximum(ids, 0)]  # (Q, fetch, D)
            energies = np.abs(cand.astype(np.float64) - queries[:, None, :]).sum(-1)
            order = np.argsort(energies, axis=1, kind="stable")[:, :k]
            energies, ids = np.take_along_axis(energies, order, 1), np.take_along_axis(ids, order, 1)
        energies[ids < 0] = np.inf
        return energies, ids

    def save(self, file: str | Path) -> None:
        import faiss

        faiss.write_index(self.index, str(file))

    @classmethod
    def load(cls, file: str | Path, energy: Energy, vectors: np.ndarray | None = None,
             nprobe: int | None = None) -> "VectorIndex":
        import faiss

        try:
            index = faiss.read_index(str(file))
        except RuntimeError as exc:
            raise SiameseTextError(f"{file}: unreadable vector index ({str(exc).splitlines()[0][:120]})") from None
        if nprobe is not None and hasattr(index, "nprobe"):
            index.nprobe = nprobe
        return cls(index, energy, vectors)
