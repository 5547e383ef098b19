"""The Ray engine: deduplication as Ray Data operations, on this machine or a cluster.

For files of records (`dedup_files(..., engine="ray")`), every stage runs in the cluster:

    1 read     one task per shard streams its records: (pos = shard, record), normalised hash
    2 group    a shuffle by hash bucket (split tasks); per bucket the smallest pos of each text is its representative
    3 embed    the representatives, chunk by chunk, on a pool of actors (ray_vectors.py)
    4 index    k-means cells from a sample (ray_cells.py)
    5 search   each vector to its nearest two cells (tasks split the embedding's blocks into a
               piece per cell), candidate pairs within each cell (one task per cell; a big cell's
               queries over several tasks), then keep-first on the driver
    6 resolve  each record's fate from its representative's (ray_shards.py)
    7 write    one task per shard copies its kept records and its part of the report (ray_write.py),
               then the driver renames every file into place

The driver never holds records: it holds, per distinct text, its position and length (to cut
the embedding chunks as the local engine does) and the keep-first answer, plus the candidate pairs
(about one per removed text). Keep-first runs on the driver, not in the cluster: it is a walk in
record order where a text's fate depends on whether its earlier matches were kept, so it cannot
be split by cell (a text's matches lie in up to two cells, their matches in others) without a
second round of messages per chain. The pairs are few (~24 MB for a million), the walk is linear in
them, and doing it in one place makes it the very function the local engine runs, so the rule
(keep-first, no chaining, ties to the earliest) cannot drift between engines.

For texts already in memory (`dedup(texts, engine="ray")`), `near_duplicates` runs stages 3-5.
Where the local engine encodes in-process (fewer than `min_parallel` distinct texts), with the
model's own backend, so does this engine, in the driver. With one partition the answer is the
local engine's, bit for bit.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from siamese_text.dedup.index import Scoring
from siamese_text.dedup.outputs import temp_for
from siamese_text.dedup.ray_cells import centroids, pairs_by_cell
from siamese_text.dedup.ray_session import (_first_line, _ray, _ray_errors, cluster_cpus, failure,  # noqa: F401
                                            ray_session)
from siamese_text.dedup.ray_shards import (BUCKET_ROWS, distinct_texts, group_exact, read_shards,
                                           removed_records, representatives, twins_table)
from siamese_text.dedup.ray_vectors import _from_rows, chunk_of, embed_chunks, embed_dataset
from siamese_text.dedup.ray_vectors import embed_with_ray  # noqa: F401 - the public path
from siamese_text.dedup.ray_write import join_report, write_shards
from siamese_text.dedup.stages import DedupConfig, _merge, embed, keep_first
from siamese_text.dedup.workers import available_cpus, threads
from siamese_text.errors import ArgumentError

ONE_PARTITION_UP_TO = 100_000  # distinct texts: up to this many, one partition (the local engine's answer)
TEXTS_PER_PARTITION = 25_000  # beyond: one partition per this many texts (each text sits in two cells)
SPLIT_QUERIES = 25_000  # a bigger cell has its queries searched by several tasks of this many
CELL_NPROBE = 16  # with several partitions, IVF lists searched per query within a cell (one partition: the local 48)
CELL_TRAIN_PER_LIST = 16  # and the k-means sample of a cell's IVF, per list (one partition: the local 64)


class RayEngine:
    """Near duplicates on Ray Data: a local Ray instance, or the cluster at `address`.

    Args:
        address: a running cluster ("HOST:6379", "auto", "ray://HOST:10001"); None starts a local
            instance on the CPUs this process may use (or reuses the one this process already has).
        num_cpus: CPUs of a local instance (default: those this process may use).
        partitions: cells the vectors are split into (default: 1 up to 100,000 distinct texts,
            then one per 25,000: a query's search cost grows with the square root of its cell's
            size); 1 gives exactly the local engine's answer.
        actors: embedding actors, one CPU each (default: the cluster's CPUs).
        sample: vectors the k-means is trained on (at most).
        seed: of the sample and the k-means.
        min_parallel: fewer distinct texts than this are embedded in the driver process with the
            encoder as it is, exactly where the local engine encodes in-process (default:
            `config.min_parallel`; also when `config.workers` is 1); more go to the actors.
        split_queries: a cell of more texts than this has each search round spread over tasks of
            this many queries (0: one task per cell); the pairs found are the same either way.
        cell_nprobe, cell_train_per_list: with several partitions, the IVF search within a cell
            (`IndexConfig.nprobe`, `IndexConfig.train_per_list`). A cell holds a few tens of
            thousands of texts that the outer k-means already gathered, so a smaller search keeps
            almost every pair (see benchmarks/README.md); one partition keeps the local engine's.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, partitions: int | None = None,
                 actors: int | None = None, sample: int = 100_000, seed: int = 0,
                 min_parallel: int | None = None, split_queries: int = SPLIT_QUERIES,
                 cell_nprobe: int = CELL_NPROBE, cell_train_per_list: int = CELL_TRAIN_PER_LIST) -> None:
        if partitions is not None and partitions < 1:
            raise ArgumentError(f"partitions must be at least 1, got {partitions}")
        if actors is not None and actors < 1:
            raise ArgumentError(f"actors must be at least 1, got {actors}")
        if split_queries < 0:
            raise ArgumentError(f"split_queries must be 0 or more, got {split_queries}")
        if cell_nprobe < 1 or cell_train_per_list < 1:
            raise ArgumentError(f"cell_nprobe and cell_train_per_list must be at least 1, "
                                f"got {cell_nprobe} and {cell_train_per_list}")
        self.address = address
        self.num_cpus = num_cpus
        self.partitions = partitions
        self.actors = actors
        self.sample = sample
        self.seed = seed
        self.min_parallel = min_parallel
        self.split_queries = split_queries
        self.cell_nprobe, self.cell_train_per_list = cell_nprobe, cell_train_per_list

    def near_duplicates(self, texts: Sequence[str], encoder, scoring: Scoring, config: DedupConfig,
                        progress: bool = False, on_stage: Callable[[str], None] | None = None,
                        exact_search: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        stage = on_stage or (lambda name: None)
        n = len(texts)
        if n < 2:  # nothing to compare: no cluster needed
            return np.full(n, -1, dtype=np.int64), np.zeros(n)
        with ray_session(self.address, self.num_cpus, progress) as ray:
            stage("start")  # connecting to (or starting) Ray
            try:
                if self._in_driver(n, config):
                    with threads(config.threads):  # as the local engine: its own backend, in this process
                        local = embed(texts, encoder, scoring, config)
                    vectors = _from_rows(ray, local, max(1, -(-n // config.chunk_size)))
                else:
                    vectors = embed_dataset(texts, encoder, scoring, config, self._actors(ray))
                stage("embed")
                held = [vectors]
                del vectors
                return self._search(held, n, scoring, config, exact_search, stage, progress)
            except _ray_errors(ray) as exc:
                raise failure(exc) from exc

    def _search(self, held: list, n: int, scoring: Scoring, config: DedupConfig, exact_search, stage,
                progress: bool = False):
        """Stages index and search over the Dataset of (id, vector) in `held` (a one-item list the
        caller gives up, so that the vectors can be freed as they are split into cells).
        -> dup_of, best as keep_first."""
        vectors = held.pop()
        cells = self._partitions(n)
        centre = centroids(vectors, n, cells, scoring, self.sample, self.seed, config)
        stage("index")
        blocks = vectors.to_arrow_refs()
        del vectors
        found = pairs_by_cell(blocks, centre, scoring, self.cell_config(config, cells), exact_search,
                              self.split_queries, progress)
        result = keep_first(n, *_merge(found, n))
        stage("search")
        return result

    def cell_config(self, config: DedupConfig, cells: int) -> DedupConfig:
        """The search within each of `cells` cells: the local engine's with one, else with the
        cell's own IVF search (`cell_nprobe`, `cell_train_per_list`)."""
        if cells <= 1:
            return config
        return replace(config, index=replace(config.index, nprobe=self.cell_nprobe,
                                             train_per_list=self.cell_train_per_list))

    def dedup_shards(self, sources, outputs: Sequence[Path], report: Path | None, spec, encoder, scoring: Scoring,
                     config: DedupConfig, max_chars: int, progress: bool = False,
                     on_stage: Callable[[str], None] | None = None) -> dict:
        """Every stage of a file dedup in the cluster (see the module's docstring): the shards of
        `sources` (dedup/sources.py) read, deduplicated and written to temporary files beside
        `outputs` and `report`. -> {"rows": per-shard counts and temporary files, "tag": the run's
        tag}; the caller renames them into place (or removes every `.NAME.tmp-TAG*` on failure)."""
        stage = _announce(on_stage, progress)
        tag = uuid.uuid4().hex[:8]
        with ray_session(self.address, self.num_cpus, progress) as ray:
            stage("start")
            try:
                cpus = cluster_cpus(ray)
                size = sum(s.path.stat().st_size for s in sources)
                buckets = max(cpus, math.ceil(size / 64 / BUCKET_ROWS))  # ~64 bytes a record, a guess
                rows = read_shards(ray, [s.shard for s in sources], spec, max_chars, buckets).materialize()
                blocks = rows.to_arrow_refs()
                del rows
                stage("read")
                tables = group_exact(blocks, buckets)
                ray.wait(tables, num_returns=len(tables), fetch_local=False)
                grouped = ray.data.from_arrow_refs(tables)
                del tables
                stage("group")
                rep_pos, lengths = representatives(grouped)
                u = len(rep_pos)
                dup_of, best = self._embed_and_search(ray, grouped, rep_pos, lengths, encoder, scoring, config,
                                                      max_chars, stage, progress)
                removed = removed_records(grouped, rep_pos, dup_of, best)
                twins = twins_table(grouped).materialize().to_arrow_refs() if u and report is not None else []
                stage("resolve")
                written = write_shards(ray, removed, sources, outputs, report, spec, twins, tag)
                del grouped, twins
                if report is not None:
                    join_report([r["piece"] for r in written], temp_for(report, tag),
                                report.suffix.lower() == ".parquet")
                stage("write")
                return {"rows": written, "tag": tag}
            except _ray_errors(ray) as exc:
                raise failure(exc) from exc

    def _embed_and_search(self, ray, grouped, rep_pos, lengths, encoder, scoring, config, max_chars, stage,
                          progress: bool = False):
        u = len(rep_pos)
        if u < 2:
            stage("embed")
            return np.full(u, -1, dtype=np.int64), np.zeros(u)
        chunks = chunk_of(lengths, config)
        distinct = distinct_texts(grouped, rep_pos, chunks, max_chars)
        if self._in_driver(u, config):  # few: gathered here, encoded as the local engine would
            texts = [""] * u
            for b in distinct.iter_batches(batch_format="numpy", batch_size=None):
                for i, t in zip(b["id"].tolist(), b["text"]):
                    texts[i] = t
            with threads(config.threads):
                local = embed(texts, encoder, scoring, config)
            vectors = _from_rows(ray, local, max(1, -(-u // config.chunk_size)))
        else:
            vectors = embed_chunks(distinct, encoder, scoring, config, self._actors(ray), int(chunks.max()) + 1)
        stage("embed")
        held = [vectors]
        del vectors
        return self._search(held, u, scoring, config, None, stage, progress)

    def _in_driver(self, n: int, config: DedupConfig) -> bool:
        if self.min_parallel is not None:
            return n < self.min_parallel
        return n < config.min_parallel or available_cpus(config.workers) <= 1  # the local engine's rule

    def _actors(self, ray) -> int:
        return self.actors or cluster_cpus(ray)

    def _partitions(self, n: int) -> int:
        if self.partitions is not None:
            return self.partitions
        return math.ceil(n / TEXTS_PER_PARTITION) if n > ONE_PARTITION_UP_TO else 1


def _announce(on_stage: Callable[[str], None] | None, progress: bool) -> Callable[[str], None]:
    """on_stage, and with progress one line on stderr as each stage ends (its name and seconds)."""
    last = [time.perf_counter()]

    def stage(name: str) -> None:
        if on_stage is not None:
            on_stage(name)
        if progress:
            import sys

            from tqdm.auto import tqdm

            now = time.perf_counter()
            tqdm.write(f"ray: {name} done in {now - last[0]:.1f} s", file=sys.stderr)  # beside Ray's bars
            last[0] = now

    return stage
