"""Partitions and candidate pairs on Ray: k-means cells, and the local engine's search within each.

A text goes to its two nearest cells, so a near duplicate across a cell border is still compared
with it. Within a cell, the search is the local engine's: `stages.partition` (flat up to
`exact_limit` vectors, IVF beyond) and `stages.candidate_pairs`, asking again with more neighbours
for a text whose k neighbours all matched. With one partition the one cell holds every text in
record order, the pairs are exactly the local engine's, and so is the answer.
"""

from __future__ import annotations

import numpy as np

from siamese_text.dedup.index import Scoring
from siamese_text.dedup.ray_session import _ray
from siamese_text.dedup.stages import DedupConfig, _merge, candidate_pairs, keep_first, partition
from siamese_text.dedup.workers import threads


def assign_cells(vectors, n: int, cells: int, scoring: Scoring, sample: int, seed: int, config: DedupConfig):
    """Stage 3: k-means centroids from a seeded sample (on the driver), then each vector goes to
    its nearest two cells (one when there is one). -> Dataset of (cell, id, vector)."""
    if cells <= 1 or n <= cells:
        return vectors.map_batches(_one_cell, batch_format="numpy", batch_size=None)
    _ray()  # MissingExtra when Ray is not installed
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(n, min(n, sample), replace=False))
    picked = vectors.map_batches(_pick, fn_kwargs={"chosen": chosen}, batch_format="numpy", batch_size=None)
    rows = [(b["id"], b["vector"]) for b in picked.iter_batches(batch_format="numpy") if len(b["id"])]
    ids = np.concatenate([r[0] for r in rows])
    train = np.concatenate([r[1] for r in rows])[np.argsort(ids, kind="stable")]
    centroids = _kmeans(train, min(cells, len(train)), scoring, seed, config)
    return vectors.map_batches(_nearest, fn_kwargs={"centroids": centroids, "inner": _inner(scoring)},
                               batch_format="numpy", batch_size=None)


def _inner(scoring: Scoring) -> bool:
    from siamese_text.model.energy import Energy

    return Energy(scoring.energy) is Energy.cosine


def _kmeans(train: np.ndarray, cells: int, scoring: Scoring, seed: int, config: DedupConfig) -> np.ndarray:
    import faiss

    with threads(config.threads):
        kmeans = faiss.Kmeans(train.shape[1], cells, niter=config.index.kmeans_iterations, seed=seed,
                              spherical=_inner(scoring), verbose=False,
                              min_points_per_centroid=1)  # a small sample is fine: no warning
        kmeans.train(np.ascontiguousarray(train, dtype=np.float32))
    return kmeans.centroids


def _by_cell(placed, cells: int):
    """Rows grouped by cell, in about one block per cell (not one per input block: a shuffle
    costs input blocks x output blocks pieces)."""
    try:
        return placed.groupby("cell", num_partitions=cells)
    except TypeError:  # Ray before num_partitions
        return placed.groupby("cell")


def _one_cell(batch: dict) -> dict:
    return {"cell": np.zeros(len(batch["id"]), dtype=np.int64), **batch}


def _pick(batch: dict, chosen: np.ndarray) -> dict:
    keep = np.isin(batch["id"], chosen)
    return {"id": batch["id"][keep], "vector": batch["vector"][keep]}


def _nearest(batch: dict, centroids: np.ndarray, inner: bool) -> dict:
    """Each vector twice: with its nearest cell and with its second nearest."""
    import faiss

    index = faiss.IndexFlatIP(centroids.shape[1]) if inner else faiss.IndexFlatL2(centroids.shape[1])
    index.add(centroids)
    with threads(1):
        _, near = index.search(np.ascontiguousarray(batch["vector"], dtype=np.float32), 2)  # (B, 2)
    return {"cell": near.T.reshape(-1).astype(np.int64), "id": np.tile(batch["id"], 2),
            "vector": np.concatenate([batch["vector"], batch["vector"]])}


# ----- candidate pairs -----------------------------------------------------------------------


def _cell_pairs(batch: dict, scoring: Scoring, config: DedupConfig, exact: bool | None) -> dict:
    """Stage 4 within one cell, as stages.search_and_resolve does over all texts: every pair found,
    in global ids (later, earlier, score). Keep-first inside the cell only decides which texts ask
    again for more neighbours; the answer is decided on the driver."""
    ids = np.asarray(batch["id"], dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    ids, vectors = ids[order], np.ascontiguousarray(batch["vector"][order], dtype=np.float32)
    n = len(ids)
    edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    with threads(config.threads):
        if n > 1:
            index = partition(vectors, scoring, config, exact)
            k = np.full(n, config.k)
            saturated = np.zeros(n, dtype=bool)
            rows = np.arange(n)
            while len(rows):
                for ask in np.unique(k[rows]).tolist():
                    these = rows[k[rows] == ask]
                    found, saturated[these] = candidate_pairs(index, vectors, scoring, these, ask, config)
                    edges.append(found)
                dup_of, _ = keep_first(n, *_merge(edges, n))
                rows = np.flatnonzero(saturated & (dup_of < 0) & (k < config.max_k))
                k[rows] = np.minimum(4 * k[rows], config.max_k)
    later, earlier, score = _merge(edges, n)
    return {"later": ids[later], "earlier": ids[earlier], "score": np.asarray(score, dtype=np.float64)}
