"""The Ray engine: the near-duplicate stages as Ray Data operations, on this machine or a cluster.

    distinct texts (sorted by length, row ids kept)
      --map_batches(_Embedder actors, one thread each)--> (id, vector)
      --k-means on a seeded sample (driver) + map_batches(nearest two cells)--> (cell, id, vector) x 2
      --groupby(cell).map_groups(candidate pairs, as stages.py does within the cell)--> (later, earlier, score)
      --driver: stages.keep_first over every pair, in record order--> dup_of, best

Embedding batches are the local engine's chunks (the same length-sorted order cut at the same
places), and the actors run what its worker processes run (the NumPy path, one thread), so each
text is encoded in the same company and gets the same vector bit for bit. Where the local engine
encodes in-process (fewer than `min_parallel` distinct texts), with the model's own backend, so
does this engine, in the driver. The model travels through the object store (pickled once,
`ray.put`), so a node needs the package but not the model folder.

A text goes to its two nearest cells, so a near duplicate across a cell border is still compared
with it. Within a cell, the search is the local engine's: `stages.partition` (flat up to
`exact_limit` vectors, IVF beyond) and `stages.candidate_pairs`, asking again with more neighbours
for a text whose k neighbours all matched. With one partition the one cell holds every text in
record order, the pairs are exactly the local engine's, and so is the answer.

Keep-first runs on the driver, not in the cluster: it is a walk in record order where a text's
fate depends on whether its earlier matches were kept, so it cannot be split by cell (a text's
matches lie in up to two cells, their matches in others) without a second round of messages per
chain. The pairs are few (about one per removed text, a few bytes each: ~24 MB for a million), the
walk is linear in them, and doing it in one place makes it the very function the local engine
runs, so the rule (keep-first, no chaining, ties to the earliest) cannot drift between engines.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from siamese_text.dedup.index import Scoring
from siamese_text.dedup.stages import DedupConfig, _merge, candidate_pairs, embed, keep_first, partition
from siamese_text.dedup.workers import WorkerError, _payload, available_cpus, encode, takes_batch_size, threads
from siamese_text.errors import ArgumentError, OutputError
from siamese_text.extras import require

TEXTS_PER_PARTITION = 100_000  # default partitions = distinct texts / this (each text sits in two)


def _ray():
    """ray and ray.data, or MissingExtra naming `pip install 'siamese-text[ray]'`."""
    ray = require("ray", "ray")
    require("ray.data", "ray")
    return ray


class RayEngine:
    """Near duplicates on Ray Data: a local Ray instance, or the cluster at `address`.

    Args:
        address: a running cluster ("HOST:6379", "auto", "ray://HOST:10001"); None starts a local
            instance on the CPUs this process may use (or reuses the one this process already has).
        num_cpus: CPUs of a local instance (default: those this process may use).
        partitions: cells the vectors are split into (default: 1 up to 100,000 distinct texts,
            then one per 100,000); 1 gives exactly the local engine's answer.
        actors: embedding actors, one CPU each (default: the cluster's CPUs).
        sample: vectors the k-means is trained on (at most).
        seed: of the sample and the k-means.
        min_parallel: fewer distinct texts than this are embedded in the driver process with the
            encoder as it is, exactly where the local engine encodes in-process (default:
            `config.min_parallel`; also when `config.workers` is 1); more go to the actors.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, partitions: int | None = None,
                 actors: int | None = None, sample: int = 100_000, seed: int = 0,
                 min_parallel: int | None = None) -> None:
        if partitions is not None and partitions < 1:
            raise ArgumentError(f"partitions must be at least 1, got {partitions}")
        if actors is not None and actors < 1:
            raise ArgumentError(f"actors must be at least 1, got {actors}")
        self.address = address
        self.num_cpus = num_cpus
        self.partitions = partitions
        self.actors = actors
        self.sample = sample
        self.seed = seed
        self.min_parallel = min_parallel

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
                cells = self._partitions(n)
                placed = assign_cells(vectors, n, cells, scoring, self.sample, self.seed, config)
                stage("index")
                pairs = _by_cell(placed, cells).map_groups(
                    _cell_pairs, fn_kwargs={"scoring": scoring, "config": config, "exact": exact_search},
                    batch_format="numpy")
                found = [(b["later"], b["earlier"], b["score"]) for b in pairs.iter_batches(batch_format="numpy")]
                result = keep_first(n, *_merge([f for f in found if len(f[0])], n))
                stage("search")
                return result
            except _ray_errors(ray) as exc:
                raise WorkerError(f"the Ray engine failed: {_first_line(exc)}") from exc

    def _in_driver(self, n: int, config: DedupConfig) -> bool:
        if self.min_parallel is not None:
            return n < self.min_parallel
        return n < config.min_parallel or available_cpus(config.workers) <= 1  # the local engine's rule

    def _actors(self, ray) -> int:
        return self.actors or max(1, int(ray.cluster_resources().get("CPU", 1)))

    def _partitions(self, n: int) -> int:
        if self.partitions is not None:
            return self.partitions
        return max(1, math.ceil(n / TEXTS_PER_PARTITION)) if n > TEXTS_PER_PARTITION else 1


SETTINGS = ("enable_progress_bars", "print_on_execution_start", "shuffle_strategy")  # put back after a run


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None, progress: bool = False):
    """Ray for one run: this process's connection when it has one, else the cluster at `address`,
    else a new local instance on `num_cpus` CPUs (disconnected or shut down at the end). Quiet: no
    dashboard, no worker logs on this terminal, Ray Data's progress bars only with `progress`.

    Raises:
        ArgumentError: Ray could not be started or reached (one line saying why).
    """
    ray = _ray()
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    started = False
    if not ray.is_initialized():
        quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
        try:
            if address:
                _reachable(address)
                ray.init(address=address, **quiet)
            else:
                ray.init(num_cpus=num_cpus or available_cpus(), **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise ArgumentError(f"cannot connect to {where}: {_first_line(exc)}") from None
        started = True
    context = ray.data.DataContext.get_current()
    before = {name: getattr(context, name) for name in SETTINGS if hasattr(context, name)}
    context.enable_progress_bars = progress
    context.print_on_execution_start = False
    # a sort-based groupby: on a few CPUs it starts far fewer processes than the hash shuffle
    strategies = getattr(ray.data.context, "ShuffleStrategy", None)  # Ray >= 2.4x; older ones sort anyway
    if strategies is not None:
        context.shuffle_strategy = strategies.SORT_SHUFFLE_PULL_BASED
    try:
        yield ray
    finally:
        for name, value in before.items():
            setattr(context, name, value)
        if started:
            ray.shutdown()


def _reachable(address: str, seconds: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nobody listens at (Ray itself retries for minutes)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # "auto", "ray://...": Ray's own resolution
    import socket

    try:
        socket.create_connection((host, int(port)), timeout=seconds).close()
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {address} ({exc.strerror or exc})") from None


def _ray_errors(ray) -> tuple[type, ...]:
    """What a failed run raises: a task's or actor's error, or a Ray Data wrapped user error."""
    from ray.data.exceptions import UserCodeException

    return ray.exceptions.RayError, UserCodeException


_ERROR_LINE = re.compile(r"([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (.+)")


def _first_line(exc: BaseException) -> str:
    """The error behind Ray's wrappers, one line: a task's error carries the user's traceback in
    its text ("ValueError: ..."), so the first such line that is not Ray's own is the cause."""
    texts, seen = [], set()
    while isinstance(exc, BaseException) and id(exc) not in seen:
        seen.add(id(exc))
        texts.append(re.sub(r"\x1b\[[0-9;]*m", "", str(exc)))
        exc = getattr(exc, "cause", None) or exc.__cause__
    for text in texts:
        for line in text.splitlines():
            found = _ERROR_LINE.fullmatch(line.strip())
            if found and not found.group(1).startswith("ray."):
                return f"{found.group(1).rsplit('.', 1)[-1]}: {found.group(2)}"[:200]
    lines = [line.strip() for line in texts[-1].splitlines() if line.strip()] if texts else []
    return (lines[0] if lines else "unknown error")[:200]


# ----- embed ---------------------------------------------------------------------------------


def _chunks(texts: Sequence[str], config: DedupConfig) -> list[np.ndarray]:
    """Row ids in the local engine's chunks (stages.embed): sorted by length, cut alike."""
    order = np.array(sorted(range(len(texts)), key=lambda i: len(texts[i])), dtype=np.int64)
    workers = available_cpus(config.workers) if len(texts) >= config.min_parallel else 1
    size = config.chunk_size if workers <= 1 else \
        min(config.chunk_size, max(256, -(-len(texts) // (8 * workers))))
    return [order[s : s + size] for s in range(0, len(order), size)]


class _Embedder:
    """An embedding actor: the encoder, unpickled once from the object store, on one thread;
    vectors as `scoring.prepare` makes them (dedup), or as the encoder gives them (scoring=None)."""

    def __init__(self, payload, scoring: Scoring | None, batch_size: int) -> None:
        import pickle

        import ray

        self.encoder = pickle.loads(ray.get(payload[0]))  # payload: [ObjectRef], so Ray leaves it as a ref
        self.scoring, self.batch_size = scoring, batch_size
        self.takes_batch = takes_batch_size(self.encoder)

    def __call__(self, batch: dict) -> dict:
        with threads(1):
            vectors = encode(self.encoder, [str(t) for t in batch["text"]], self.batch_size, self.takes_batch)
        vectors = self.scoring.prepare(vectors) if self.scoring is not None else np.asarray(vectors, np.float32)
        return {"id": np.asarray(batch["id"], dtype=np.int64), "vector": vectors}  # (B,), (B, D)


def _ship(encoder) -> bytes:
    """The encoder pickled for the actors (a SiameseModel as its NumPy copy on one thread)."""
    payload = _payload(encoder)
    if payload is None:  # defined in a notebook or `python -c`: Ray's cloudpickle sends it by value
        from ray import cloudpickle

        payload = cloudpickle.dumps(encoder)
    return payload


def embed_dataset(texts: Sequence[str], encoder, scoring: Scoring, config: DedupConfig, actors: int):
    """Stage 2 on a pool of actors: a materialized Dataset of (id, vector), one block per chunk."""
    ray = _ray()
    import pyarrow as pa

    chunks = _chunks(texts, config)
    if not chunks:
        return ray.data.from_items([]).materialize()
    blocks = [pa.table({"id": pa.array(c), "text": pa.array([texts[i] for i in c.tolist()], pa.large_string())})
              for c in chunks]
    payload = [ray.put(_ship(encoder))]
    return ray.data.from_arrow(blocks).map_batches(
        _Embedder, fn_constructor_args=(payload, scoring, config.batch_size), batch_size=None,
        batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=max(1, min(actors, len(chunks)))), num_cpus=1,
    ).materialize()  # Ray Data restarts a dead actor and retries its batch (max_restarts = max_task_retries = -1)


def _from_rows(ray, vectors: np.ndarray, blocks: int):
    """A materialized Dataset of (id, vector) from vectors in this process, in `blocks` blocks
    (few: each block of the groupby's input costs tasks)."""
    rows = [{"id": i, "vector": v} for i, v in enumerate(vectors)]
    try:
        return ray.data.from_items(rows, override_num_blocks=blocks).materialize()
    except TypeError:  # Ray before 2.10
        return ray.data.from_items(rows, parallelism=blocks).materialize()


# ----- partition -----------------------------------------------------------------------------


def assign_cells(vectors, n: int, cells: int, scoring: Scoring, sample: int, seed: int, config: DedupConfig):
    """Stage 3: k-means centroids from a seeded sample (on the driver), then each vector goes to
    its nearest two cells (one when there is one). -> Dataset of (cell, id, vector)."""
    if cells <= 1 or n <= cells:
        return vectors.map_batches(_one_cell, batch_format="numpy", batch_size=None)
    ray = _ray()
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


# ----- embeddings of records at scale ---------------------------------------------------------


def embed_with_ray(texts, encoder, out_dir: str | Path, format: str = "parquet", batch_size: int = 256,
                   chunk_size: int = 8192, address: str | None = None, num_cpus: int | None = None,
                   actors: int | None = None, overwrite: bool = False) -> int:
    """Vectors of every text, written under out_dir by the cluster's actors.

    Args:
        texts: a list of texts (ids are their positions), or a Ray Dataset with columns "id"
            (int64) and "text" (e.g. read by ray.data.read_json from JSONL shards).
        encoder: a SiameseModel or anything with `encode(list[str]) -> (N, D)`.
        out_dir: a folder every node can write to (a shared file system, or a URI Ray Data
            writes to, such as s3://...; "npy" needs a local or shared path).
        format: "parquet" (columns id: int64, vector: fixed-size list of float32) or "npy"
            (shards `vectors-K.npy` (B, D) float32 beside `ids-K.npy` (B,) int64).
        overwrite: write into a folder that already holds files.

    Returns:
        The number of vectors written.
    """
    if format not in ("parquet", "npy"):
        raise ArgumentError(f"format is 'parquet' or 'npy', got {format!r}")
    local = "://" not in str(out_dir)
    if local:
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputError(f"{out_dir}: not a folder")
        if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
            raise OutputError(f"{out_dir}: not empty (pass overwrite=True to write into it)")
    elif format == "npy":
        raise ArgumentError("format 'npy' writes to a local or shared folder, not a URI")
    with ray_session(address, num_cpus) as ray:
        try:
            if isinstance(texts, ray.data.Dataset):
                if not {"id", "text"} <= set(texts.columns()):
                    raise ArgumentError(f"a Dataset to embed needs columns 'id' and 'text', it has {texts.columns()}")
                dataset = texts
            else:
                import pyarrow as pa

                texts = list(texts)
                blocks = [pa.table({"id": pa.array(np.arange(s, min(s + chunk_size, len(texts)), dtype=np.int64)),
                                    "text": pa.array(texts[s : s + chunk_size], pa.large_string())})
                          for s in range(0, len(texts), chunk_size)]
                if not blocks:
                    return 0
                dataset = ray.data.from_arrow(blocks)
            payload = [ray.put(_ship(encoder))]
            workers = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
            vectors = dataset.select_columns(["id", "text"]).map_batches(
                _Embedder, fn_constructor_args=(payload, None, batch_size),
                batch_size=chunk_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=1)
            if format == "parquet":
                out = vectors.map_batches(_to_arrow, batch_format="numpy").materialize()
                if local:
                    out_dir.mkdir(parents=True, exist_ok=True)
                out.write_parquet(str(out_dir))
                return int(out.count())
            out_dir.mkdir(parents=True, exist_ok=True)
            written = vectors.map_batches(_write_npy, fn_kwargs={"folder": str(out_dir)}, batch_format="numpy")
            return int(sum(int(b["count"].sum()) for b in written.iter_batches(batch_format="numpy")))
        except _ray_errors(ray) as exc:
            raise WorkerError(f"the Ray engine failed: {_first_line(exc)}") from exc


def _to_arrow(batch: dict):
    import pyarrow as pa

    vectors = np.ascontiguousarray(batch["vector"], dtype=np.float32)  # (B, D)
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
    return pa.table({"id": pa.array(batch["id"]), "vector": column})


def _write_npy(batch: dict, folder: str) -> dict:
    """Write one batch as ids-K.npy and vectors-K.npy (K: its first id), each under a temporary
    name first, so no half-written shard ever has a final name. -> {"count": (1,)}"""
    if not len(batch["id"]):
        return {"count": np.zeros(1, dtype=np.int64)}
    key = f"{int(np.min(batch['id'])):012d}"
    for name, array in (("ids", np.asarray(batch["id"], dtype=np.int64)),
                        ("vectors", np.asarray(batch["vector"], dtype=np.float32))):
        final = Path(folder) / f"{name}-{key}.npy"
        temp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        with open(temp, "wb") as fh:
            np.save(fh, array)
        os.replace(temp, final)
    return {"count": np.array([len(batch["id"])], dtype=np.int64)}
