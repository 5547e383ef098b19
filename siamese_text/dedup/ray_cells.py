"""Partitions and candidate pairs on Ray: k-means cells, and the local engine's search within each.

A text goes to its two nearest cells, so a near duplicate across a cell border is still compared
with it. The copies move once, split by tasks and gathered by one task per cell (`pairs_by_cell`). Within a cell, the search is the local engine's: `stages.partition` (flat up to
`exact_limit` vectors, IVF beyond) and `stages.candidate_pairs`, asking again with more neighbours
for a text whose k neighbours all matched; with several cells, the IVF of a cell searches fewer of
its lists (`RayEngine.cell_config`). With one partition the one cell holds every text in
record order, the pairs are exactly the local engine's, and so is the answer.
"""

from __future__ import annotations

import numpy as np

from siamese_text.dedup.index import Scoring
from siamese_text.dedup.ray_session import _ray, cut_by, shuffle
from siamese_text.dedup.stages import DedupConfig, _merge, candidate_pairs, keep_first, partition
from siamese_text.dedup.workers import threads


def centroids(vectors, n: int, cells: int, scoring: Scoring, sample: int, seed: int,
              config: DedupConfig) -> np.ndarray | None:
    """Stage 3: k-means centroids of `cells` cells from a seeded sample, trained on the driver.
    -> (cells, D) float32, or None for one cell."""
    if cells <= 1 or n <= cells:
        return None
    _ray()  # MissingExtra when Ray is not installed
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(n, min(n, sample), replace=False))
    picked = vectors.map_batches(_pick, fn_kwargs={"chosen": chosen}, batch_format="numpy", batch_size=None)
    rows = [(b["id"], b["vector"]) for b in picked.iter_batches(batch_format="numpy") if len(b["id"])]
    ids = np.concatenate([r[0] for r in rows])
    train = np.concatenate([r[1] for r in rows])[np.argsort(ids, kind="stable")]
    return _kmeans(train, min(cells, len(train)), scoring, seed, config)


def pairs_by_cell(blocks: list, centre: np.ndarray | None, scoring: Scoring, config: DedupConfig,
                  exact: bool | None, split: int, progress: bool = False) -> list[tuple]:
    """Stages 4 and 5: every vector to its nearest two cells, then the candidate pairs within each.
    -> [(later, earlier, score)] in global ids, a list per cell.

    The vectors move once (`ray_session.shuffle`): the embedding's blocks (`blocks`: object refs,
    a list the caller gives up) are split by tasks into one piece per cell, and one task per cell
    takes its pieces and searches them (`_cell_pairs`)."""
    ray = _ray()
    cells = 1 if centre is None else len(centre)
    waiting = shuffle(ray, blocks, cells, _split, (ray.put(centre), _inner(scoring)),
                      _search_cell, (scoring, config, exact, split))
    bar = _bar(cells, progress)
    found = []
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        got = ray.get(done[0])
        if len(got["later"]):
            found.append((got["later"], got["earlier"], got["score"]))
        bar.update(1)
    bar.close()
    return found


def _bar(total: int, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="ray: cells searched", unit="cell", disable=not progress, leave=False)


def _split(centre: np.ndarray | None, inner: bool, *blocks):
    """One split task: the rows of its blocks, one piece per cell ({"id", "vector"}), each row in
    its nearest two cells. -> a piece per cell (one piece when there is one cell)."""
    from ray.data.block import BlockAccessor

    parts = [BlockAccessor.for_block(b).to_numpy(["id", "vector"]) for b in blocks]
    ids = np.concatenate([np.asarray(p["id"], dtype=np.int64) for p in parts])
    vectors = np.ascontiguousarray(np.concatenate([np.asarray(p["vector"], dtype=np.float32) for p in parts]))
    if centre is None:
        return {"id": ids, "vector": vectors}
    near = _nearest_two(vectors, centre, inner)  # (B, 2)
    row = np.tile(np.arange(len(ids)), 2)  # each row twice: in its nearest cell, then its second
    return tuple({"id": ids[row[r]], "vector": vectors[row[r]]} for r in cut_by(near.T.reshape(-1), len(centre)))


def _nearest_two(vectors: np.ndarray, centre: np.ndarray, inner: bool) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatIP(centre.shape[1]) if inner else faiss.IndexFlatL2(centre.shape[1])
    index.add(centre)
    with threads(1):
        _, near = index.search(vectors, 2)
    return near.astype(np.int64)


def _search_cell(scoring: Scoring, config: DedupConfig, exact: bool | None, split: int, *pieces) -> dict:
    """One cell's task: its pieces joined, then `_cell_pairs`."""
    batch = {"id": np.concatenate([p["id"] for p in pieces]),
             "vector": np.concatenate([p["vector"] for p in pieces])}
    return _cell_pairs(batch, scoring, config, exact, split)


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


def _pick(batch: dict, chosen: np.ndarray) -> dict:
    keep = np.isin(batch["id"], chosen)
    return {"id": batch["id"][keep], "vector": batch["vector"][keep]}


# ----- candidate pairs -----------------------------------------------------------------------


def _cell_pairs(batch: dict, scoring: Scoring, config: DedupConfig, exact: bool | None,
                split: int = 0) -> dict:
    """Stage 4 within one cell, as stages.search_and_resolve does over all texts: every pair found,
    in global ids (later, earlier, score). Keep-first inside the cell only decides which texts ask
    again for more neighbours; the answer is decided on the driver.

    A cell of more than `split` texts (0: never) has each round's queries searched by several
    tasks of about `split` texts (`_spread`), over its index shipped once through the object store:
    a big cell is then no longer one task that the rest of the cluster waits for. The pairs and
    their scores are those of one task, bit for bit."""
    ids = np.asarray(batch["id"], dtype=np.int64)
    if not len(ids):  # a cell no vector is nearest to
        return {"later": ids, "earlier": ids, "score": np.zeros(0)}
    order = np.argsort(ids, kind="stable")
    ids, vectors = ids[order], np.ascontiguousarray(batch["vector"][order], dtype=np.float32)
    n = len(ids)
    edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    with threads(config.threads):
        if n > 1:
            index = partition(vectors, scoring, config, exact)
            search = _spread(index, vectors, scoring, config, split) if 0 < split < n else \
                (lambda rows, k: [candidate_pairs(index, vectors, scoring, rows, k, config)])
            k = np.full(n, config.k)
            saturated = np.zeros(n, dtype=bool)
            rows = np.arange(n)
            while len(rows):
                for ask in np.unique(k[rows]).tolist():
                    these = rows[k[rows] == ask]
                    answers = search(these, ask)
                    edges.extend(found for found, _ in answers)
                    saturated[these] = np.concatenate([sat for _, sat in answers])
                dup_of, _ = keep_first(n, *_merge(edges, n))
                rows = np.flatnonzero(saturated & (dup_of < 0) & (k < config.max_k))
                k[rows] = np.minimum(4 * k[rows], config.max_k)
    later, earlier, score = _merge(edges, n)
    return {"later": ids[later], "earlier": ids[earlier], "score": np.asarray(score, dtype=np.float64)}


def _spread(index, vectors: np.ndarray, scoring: Scoring, config: DedupConfig, split: int):
    """A search over Ray tasks of about `split` queries each: (rows, k) -> [candidate_pairs
    answers], in the order of rows. The cell's index and vectors go to the object store once.
    A task's queries are whole search chunks (`config.search_chunk`), so each faiss call gets the
    very queries it gets in one task: the scores, whose float sums depend on the batch, are
    bit for bit the same."""
    import faiss

    ray = _ray()
    remote = ray.remote(num_cpus=1)(_search_rows)
    index_ref = ray.put(faiss.serialize_index(index.index))
    vectors_ref = ray.put(vectors)
    step = -(-split // config.search_chunk) * config.search_chunk

    def search(rows: np.ndarray, k: int) -> list:
        pieces = [rows[s : s + step] for s in range(0, len(rows), step)]
        if len(pieces) == 1:
            return [candidate_pairs(index, vectors, scoring, rows, k, config)]
        return ray.get([remote.remote(index_ref, index.energy, vectors_ref, scoring, piece, k, config)
                        for piece in pieces])

    return search


def _search_rows(index_bytes: np.ndarray, energy, vectors: np.ndarray, scoring: Scoring, rows: np.ndarray,
                 k: int, config: DedupConfig):
    """One task of `_spread`: candidate_pairs of `rows` over the deserialized cell index."""
    import faiss

    from siamese_text.dedup.index import VectorIndex

    with threads(config.threads):
        index = VectorIndex(faiss.deserialize_index(index_bytes), energy)
        return candidate_pairs(index, vectors, scoring, rows, k, config)
