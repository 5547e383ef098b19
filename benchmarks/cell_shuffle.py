"""Moving vectors into Ray cells: Ray Data's groupby against the engine's split tasks.

With several partitions the Ray engine sends each vector to its two nearest cells and searches
each cell in one task. This times that move alone, on a local Ray instance like the one
ray_dedup.py starts (this machine's CPUs, 3 GB object store), with nothing searched: each cell
only counts its rows.

- groupby: the copies as rows of a Dataset (cell, id, vector), then `groupby("cell",
  num_partitions=cells).map_groups(...)`, as the engine did before: a sort-based shuffle.
- split tasks: the engine's `ray_session.shuffle` with `ray_cells._split` (one task per group of
  blocks, one piece per cell), then one task per cell counting its pieces' rows.

The vectors: `--vectors` texts' worth of real embeddings (the 200,000 that benchmarks/cell_search.py
caches, `--cache`), repeated with a little seeded noise to reach `--vectors`, in blocks of 8,192
rows, materialized first (as the embedding stage leaves them); k-means cells, one per 25,000
vectors. Spilled: the MiB Ray's raylet reports having spilled to disk during the run.

Run:  python benchmarks/cell_search.py --cache build/cell_vectors.npy   # once, to embed
      python benchmarks/cell_shuffle.py --cache build/cell_vectors.npy --vectors 1000000
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from dedup_bench import machine  # noqa: E402
from ray_dedup import OBJECT_STORE_MB  # noqa: E402

BLOCK = 8192


def spilled_mib(ray) -> int:
    """The largest 'Spilled N MiB' the raylet of this session has logged (0 if none)."""
    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs" / "raylet.out"
    found = re.findall(r"Spilled (\d+) MiB", logs.read_text(errors="replace")) if logs.is_file() else []
    return max(map(int, found), default=0)


def make_vectors(ray, base: np.ndarray, total: int, seed: int):
    blocks = -(-total // BLOCK)

    def block(batch: dict) -> dict:
        first = int(batch["id"][0])
        rng = np.random.default_rng([seed, first])
        v = base[rng.integers(0, len(base), BLOCK)] + rng.normal(0, 0.01, (BLOCK, base.shape[1])).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return {"id": np.arange(first * BLOCK, (first + 1) * BLOCK, dtype=np.int64), "vector": v}

    return ray.data.range(blocks, override_num_blocks=blocks).map_batches(block, batch_size=1).materialize()


def by_groupby(vectors, centre: np.ndarray, cells: int) -> int:
    from siamese_text.dedup.ray_cells import _nearest_two

    def place(batch: dict) -> dict:
        near = _nearest_two(np.ascontiguousarray(batch["vector"], dtype=np.float32), centre, True)
        return {"cell": near.T.reshape(-1), "id": np.tile(batch["id"], 2),
                "vector": np.concatenate([batch["vector"], batch["vector"]])}

    def count(batch: dict) -> dict:
        return {"rows": np.array([len(batch["id"])])}

    counted = vectors.map_batches(place, batch_format="numpy", batch_size=None).groupby(
        "cell", num_partitions=cells).map_groups(count, batch_format="numpy")
    return int(sum(int(b["rows"].sum()) for b in counted.iter_batches(batch_format="numpy")))


def by_split_tasks(ray, vectors, centre: np.ndarray, cells: int) -> int:
    from siamese_text.dedup.ray_cells import _split
    from siamese_text.dedup.ray_session import shuffle

    def count(*parts) -> int:
        return int(sum(len(p["id"]) for p in parts))

    return int(sum(ray.get(shuffle(ray, vectors.to_arrow_refs(), cells, _split, (ray.put(centre), True), count, ()))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vectors", type=int, default=1_000_000)
    ap.add_argument("--cache", type=Path, default=REPO / "build" / "cell_vectors.npy",
                    help="real embeddings from benchmarks/cell_search.py --cache")
    ap.add_argument("--ways", nargs="+", default=["groupby", "split tasks"], choices=["groupby", "split tasks"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not args.cache.is_file():
        sys.exit(f"error: {args.cache}: no embeddings; make them with "
                 f"python benchmarks/cell_search.py --cache {args.cache}")
    import logging

    import faiss
    import ray

    from siamese_text.dedup.ray_engine import TEXTS_PER_PARTITION

    base = np.load(args.cache).astype(np.float32)
    cells = max(2, args.vectors // TEXTS_PER_PARTITION)
    kmeans = faiss.Kmeans(base.shape[1], cells, niter=10, seed=args.seed, spherical=True, min_points_per_centroid=1)
    kmeans.train(base[: min(len(base), 100_000)])
    print(machine(), flush=True)
    rows = []
    for way in args.ways:  # each in a fresh Ray instance: nothing spilled by the other
        ray.init(num_cpus=os.cpu_count(), object_store_memory=OBJECT_STORE_MB << 20, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.ERROR)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            vectors = make_vectors(ray, base, args.vectors, args.seed)
            before = spilled_mib(ray)
            started = time.perf_counter()
            moved = by_groupby(vectors, kmeans.centroids, cells) if way == "groupby" else \
                by_split_tasks(ray, vectors, kmeans.centroids, cells)
            seconds = time.perf_counter() - started
            time.sleep(1)  # the raylet logs its spill totals as it goes
            rows.append((way, moved, seconds, spilled_mib(ray) - before))
        finally:
            ray.shutdown()
    print(f"\n{args.vectors:,} vectors of {base.shape[1]} float32 in {cells} cells (each vector in two), "
          f"{OBJECT_STORE_MB} MB object store, {os.cpu_count()} CPUs")
    print("| way | rows moved | seconds | spilled MiB |\n|---|---:|---:|---:|")
    for way, moved, seconds, spilled in rows:
        print(f"| {way} | {moved:,} | {seconds:.1f} | {spilled:,} |")


if __name__ == "__main__":
    main()
