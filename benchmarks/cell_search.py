"""The IVF search within one Ray cell: time and recall for IVF lists searched and k-means sample.

With several partitions the Ray engine searches each cell (a few tens of thousands of vectors that
its outer k-means gathered) with an IVF index of its own. This measures, on one real cell, what
the cell's settings cost and what they miss: the distinct texts of ray_dedup.py's workload
(`--distinct` texts built from real sentences) embedded with the bundled model, split into cells
as the engine splits them (one per 25,000 texts, each text in its two nearest), and the cell of
median size searched as the engine searches it, for each setting: index build time (k-means on
`train_per_list` x lists vectors, then adding), search time (every text asks for its 16
neighbours), and recall: the share of the duplicate pairs (score at or above the model's
threshold) among each text's 16 true nearest (exact search) that the setting also finds.
One thread, as one Ray task has.

Run:  python benchmarks/cell_search.py
      python benchmarks/cell_search.py --distinct 200000 --cache build/cell_vectors.npy
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from dedup_bench import DATA, load_pairs, machine  # noqa: E402
from ray_dedup import build_distinct  # noqa: E402

K = 16  # neighbours a text asks for first (DedupConfig.k)


def vectors_of(distinct: int, seed: int, cache: Path | None):
    from siamese_text.dedup.index import Scoring
    from siamese_text.dedup.stages import DedupConfig, embed
    from siamese_text.model.siamese import SiameseModel

    model = SiameseModel.load()
    scoring = Scoring.for_encoder(model)
    if cache is not None and cache.is_file():
        return np.load(cache), scoring
    texts, _ = build_distinct(load_pairs(DATA), distinct, distinct, seed)
    started = time.perf_counter()
    vectors = embed(texts, model, scoring, DedupConfig(workers=1, threads=1))
    print(f"embedded {len(texts):,} texts in {time.perf_counter() - started:.0f} s", flush=True)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
    return vectors, scoring


def median_cell(vectors: np.ndarray, seed: int) -> np.ndarray:
    """The vectors of the median-sized cell, as the engine's k-means and two-nearest split it."""
    from siamese_text.dedup.ray_engine import TEXTS_PER_PARTITION

    import faiss

    cells = max(2, -(-len(vectors) // TEXTS_PER_PARTITION))
    rng = np.random.default_rng(seed)
    sample = vectors[np.sort(rng.choice(len(vectors), min(len(vectors), 100_000), replace=False))]
    kmeans = faiss.Kmeans(vectors.shape[1], cells, niter=10, seed=seed, spherical=True, verbose=False,
                          min_points_per_centroid=1)
    kmeans.train(sample)
    _, near = kmeans.index.search(vectors, 2)
    sizes = np.array([(near == c).any(1).sum() for c in range(cells)])
    c = int(np.argsort(sizes)[len(sizes) // 2])
    print(f"{cells} cells of {sizes.min():,} to {sizes.max():,} vectors; the median one holds {sizes[c]:,}",
          flush=True)
    return np.ascontiguousarray(vectors[(near == c).any(1)])


def duplicate_pairs(energies: np.ndarray, ids: np.ndarray, scoring) -> set[tuple[int, int]]:
    with np.errstate(over="ignore"):
        scores = np.asarray(scoring.to_score(energies), dtype=np.float64)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1]).reshape(ids.shape)
    hit = (ids >= 0) & (ids != rows) & (scores >= scoring.threshold)
    a, b = rows[hit], ids[hit]
    return set(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist()))


def search_all(index, cell: np.ndarray, chunk: int = 4096):
    parts = [index.search(cell[s : s + chunk], K + 1) for s in range(0, len(cell), chunk)]
    return np.concatenate([e for e, _ in parts]), np.concatenate([i for _, i in parts])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--distinct", type=int, default=200_000, help="distinct texts of the workload")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[4, 8, 16, 48])
    ap.add_argument("--train-per-list", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--cache", type=Path, default=None, help="keep the embeddings in this .npy file")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: the benchmark needs the shared data sets")

    import faiss

    from siamese_text.dedup.index import IndexConfig, VectorIndex

    faiss.omp_set_num_threads(1)
    vectors, scoring = vectors_of(args.distinct, args.seed, args.cache)
    cell = median_cell(vectors, args.seed)
    started = time.perf_counter()
    exact = VectorIndex.build(cell, scoring.energy, IndexConfig(), exact=True)
    truth = duplicate_pairs(*search_all(exact, cell), scoring)
    print(f"machine: {machine()}; exact search of the cell: {time.perf_counter() - started:.1f} s, "
          f"{len(truth):,} duplicate pairs among each text's {K} nearest", flush=True)
    print("| k-means sample per list | lists searched (nprobe) | build s | search s | total s | recall |")
    print("|---:|---:|---:|---:|---:|---:|", flush=True)
    for per in args.train_per_list:
        for nprobe in args.nprobe:
            config = IndexConfig(nprobe=nprobe, train_per_list=per)
            started = time.perf_counter()
            index = VectorIndex.build(cell, scoring.energy, config, exact=False)
            built = time.perf_counter() - started
            started = time.perf_counter()
            found = duplicate_pairs(*search_all(index, cell), scoring)
            searched = time.perf_counter() - started
            print(f"| {per} | {nprobe} | {built:.2f} | {searched:.2f} | {built + searched:.2f} "
                  f"| {len(found & truth) / max(1, len(truth)):.4f} |", flush=True)


if __name__ == "__main__":
    main()
