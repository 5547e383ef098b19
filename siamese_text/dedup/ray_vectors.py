"""Embedding on Ray: actor pools that encode as the local engine's worker processes do.

`embed_dataset` embeds the distinct texts of a dedup run, `embed_chunks` the representatives of a
sharded run (a Dataset, never on the driver), `embed_with_ray` every record for `siamese-text embed`.
Embedding batches are the local engine's chunks (the same length-sorted order cut at the same
places), and the actors run what its worker processes run (the model on its own backend, ONNX
Runtime by default, on one thread), so each text is encoded in the same company and gets the
same vector bit for bit. The model travels through the object store (pickled once, `ray.put`),
so a node needs the package but not the model folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from siamese_text.dedup.index import Scoring
from siamese_text.dedup.ray_session import _ray, _ray_errors, cluster_cpus, failure, ray_session
from siamese_text.dedup.stages import DedupConfig, embedding_plan
from siamese_text.dedup.workers import _payload, encode, takes_batch_size, threads
from siamese_text.errors import ArgumentError, OutputError


def _chunk_size(n: int, config: DedupConfig) -> int:
    """Texts per embedding chunk, as stages.embed cuts them."""
    return embedding_plan(n, config)[1]


def _chunks(texts: Sequence[str], config: DedupConfig) -> list[np.ndarray]:
    """Row ids in the local engine's chunks (stages.embed): sorted by length, cut alike."""
    order = np.argsort(np.array([len(t) for t in texts], dtype=np.int64), kind="stable")
    size = _chunk_size(len(texts), config)
    return [order[s : s + size] for s in range(0, len(order), size)]


def chunk_of(lengths: np.ndarray, config: DedupConfig) -> np.ndarray:
    """The chunk of each text from the texts' lengths alone (record order): the local engine's
    chunks, without the texts. -> (U,) int64"""
    order = np.argsort(lengths, kind="stable")
    out = np.empty(len(lengths), dtype=np.int64)
    out[order] = np.arange(len(lengths)) // _chunk_size(len(lengths), config)
    return out


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
    """The encoder pickled for the actors (a SiameseModel on its own backend and one thread, as workers get it)."""
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
    return _longest_first(ray, blocks).map_batches(
        _Embedder, fn_constructor_args=(payload, scoring, config.batch_size), batch_size=None,
        batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=max(1, min(actors, len(chunks)))), num_cpus=1,
    ).materialize()  # Ray Data restarts a dead actor and retries its batch (max_restarts = max_task_retries = -1)


class _ChunkEmbedder(_Embedder):
    """An embedding actor fed whole chunks (rows of `chunk`, each in the local engine's order:
    length, then id): each chunk is encoded as one call, as the local engine's workers do."""

    def __call__(self, batch: dict) -> dict:
        chunk = np.asarray(batch["chunk"])
        cuts = np.flatnonzero(chunk[1:] != chunk[:-1]) + 1
        parts = [super(_ChunkEmbedder, self).__call__({"id": batch["id"][s:e], "text": batch["text"][s:e]})
                 for s, e in zip([0, *cuts.tolist()], [*cuts.tolist(), len(chunk)])]
        return {"id": np.concatenate([p["id"] for p in parts]), "vector": np.concatenate([p["vector"] for p in parts])}


def _in_chunk_order(batch: dict) -> dict:
    """One chunk's rows in the order the local engine encodes them: by length, then id."""
    order = np.lexsort((batch["id"], np.array([len(t) for t in batch["text"]], dtype=np.int64)))
    return {"id": batch["id"][order], "chunk": batch["chunk"][order], "text": batch["text"][order]}


def embed_chunks(distinct, encoder, scoring: Scoring, config: DedupConfig, actors: int, chunks: int):
    """Embedding of a Dataset of (id, chunk, text) on a pool of actors, whole chunks at a time, so
    no text passes through the driver. -> a materialized Dataset of (id, vector)

    The chunks are put in order by tasks and materialized first: an actor pool holding every CPU
    would otherwise leave none to the shuffle that feeds it. The actors then take the blocks
    longest texts first (`_longest_first`)."""
    ray = _ray()
    ordered = distinct.groupby("chunk", num_partitions=max(1, min(chunks, 4 * actors))).map_groups(
        _in_chunk_order, batch_format="numpy").materialize()
    payload = [ray.put(_ship(encoder))]
    return _longest_first(ray, ordered.to_arrow_refs()).map_batches(
        _ChunkEmbedder, fn_constructor_args=(payload, scoring, config.batch_size), batch_format="numpy",
        batch_size=None, compute=ray.data.ActorPoolStrategy(size=max(1, min(actors, chunks))), num_cpus=1,
    ).materialize()


def _longest_first(ray, blocks: list):
    """A Dataset of `blocks` (tables or their refs, in the chunks' order: shortest texts first)
    that hands them out longest first. The actors take blocks in the order given; with the longest
    last, one of them would encode the slowest block alone at the end while the others wait (at 1M
    texts, most of the last minute of embedding). Each chunk is still encoded whole, so every
    vector is the same."""
    return ray.data.from_arrow_refs(list(blocks)[::-1]) if blocks and isinstance(blocks[0], ray.ObjectRef) \
        else ray.data.from_arrow(list(blocks)[::-1])


def _from_rows(ray, vectors: np.ndarray, blocks: int):
    """A materialized Dataset of (id, vector) from vectors in this process, in `blocks` blocks
    (few: each block of the groupby's input costs tasks)."""
    rows = [{"id": i, "vector": v} for i, v in enumerate(vectors)]
    try:
        return ray.data.from_items(rows, override_num_blocks=blocks).materialize()
    except TypeError:  # Ray before 2.10
        return ray.data.from_items(rows, parallelism=blocks).materialize()


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
            workers = actors or cluster_cpus(ray)
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
            raise failure(exc) from exc


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
