"""Records on Ray: shards read in tasks, exact duplicates grouped by a shuffle, fates per record.

    shards (one task each, streaming)  --read + normalised hash-->  (pos, bucket, key, text, id)
      --split tasks, one piece per bucket; a task per bucket sorts by (key, pos)-->  (pos, rep, ...) per record
      --representatives (pos == rep)-->  (id, chunk, text)  for the embedding stage
      --after keep-first: map_batches with the U-sized answer-->  the removed records (pos, twin, score)

A record's global position is `pos = shard << 40 | record` (record 0-based), so sorting by pos is
the global order (shard order, then record order) without knowing any shard's length up front. A
read task yields only records with a text (blank and bad ones are kept whatever happens; the writers
see them again as they copy their shard); of a text that repeats within one output block, only its
first copy carries the text, since only a first copy can be the representative (the smallest
pos of its group). Buckets are a hash of the key, so a group of equal keys lies in one bucket and
one call sorts it: no Python per record or per group in the shuffle.

The driver holds arrays of the distinct texts' positions and lengths and the near-duplicate
answer over them (a few bytes per distinct text), never anything per record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import numpy as np

from siamese_text.corpora.records import RecordSpec, Shard, iter_records
from siamese_text.dedup.stages import _key, is_blank

SHIFT = 40  # pos = shard << SHIFT | record: up to 2**40 records a shard, 2**23 shards
BLOCK_ROWS = 65_536  # records a read task yields at a time
BUCKET_ROWS = 1_000_000  # records per exact-grouping bucket (at least one bucket per CPU)


def read_shards(ray, shards: Sequence[Shard], spec: RecordSpec, max_chars: int, buckets: int):
    """Stage 1: every shard read by its own task, hashed as it streams. -> a lazy Dataset of
    (pos int64, bucket int64, hi uint64, lo uint64, text str|None, length int64, ident str|None)."""
    items = [{"shard": i} for i in range(len(shards))]
    return ray.data.from_items(items, override_num_blocks=max(1, len(items))).map_batches(
        _read, fn_kwargs={"shards": list(shards), "spec": spec, "max_chars": max_chars, "buckets": buckets},
        batch_size=1, batch_format="numpy")


def _read(batch: dict, shards: list[Shard], spec: RecordSpec, max_chars: int, buckets: int) -> Iterator[dict]:
    for index in batch["shard"].tolist():
        rows: list[tuple[int, str, object]] = []
        for number, record in enumerate(iter_records(shards[index], spec)):
            if record.bad is None and not is_blank(record.text):
                rows.append((index << SHIFT | number, record.text, record.id))
            if len(rows) >= BLOCK_ROWS:
                yield _block(rows, spec, max_chars, buckets)
                rows = []
        if rows:
            yield _block(rows, spec, max_chars, buckets)


def _block(rows: list[tuple[int, str, object]], spec: RecordSpec, max_chars: int, buckets: int):
    """Rows as an Arrow table (strings built by Arrow, not as Python objects in NumPy)."""
    import pyarrow as pa

    keys = np.frombuffer(b"".join(_key(text) for _, text, _ in rows), dtype=np.uint64).reshape(-1, 2)  # (B, 2)
    _, first = np.unique(keys, axis=0, return_index=True)
    carries = np.zeros(len(rows), dtype=bool)
    carries[first] = True  # the first copy in this block of each text
    texts = [text if c else None for (_, text, _), c in zip(rows, carries.tolist())]
    idents = [json.dumps(ident, ensure_ascii=False, default=str) if c else None
              for (_, _, ident), c in zip(rows, carries.tolist())] if spec.id_field else [None] * len(rows)
    return pa.table({"pos": pa.array([p for p, _, _ in rows], pa.int64()),
                     "bucket": pa.array((keys[:, 0] % np.uint64(buckets)).astype(np.int64)),
                     "hi": pa.array(keys[:, 0]), "lo": pa.array(keys[:, 1]),
                     "text": pa.array(texts, pa.large_string()),
                     "length": pa.array([min(len(t), max_chars) for _, t, _ in rows], pa.int64()),
                     "ident": pa.array(idents, pa.large_string())})


def group_exact(blocks: list, buckets: int) -> list:
    """Stage 2: each record with its representative, the smallest pos of its normalised text.
    `blocks`: refs of the read stage's blocks, a list the caller gives up. -> refs of one table per
    bucket, (pos, rep, text, length, ident), text and ident only where pos == rep.

    A shuffle by tasks (`ray_session.shuffle`): tasks split the blocks into one piece per bucket,
    a task per bucket joins its pieces and sorts them (`_first_of_key`)."""
    from siamese_text.dedup.ray_session import _ray, shuffle

    ray = _ray()
    return shuffle(ray, blocks, buckets, _split_buckets, (buckets,), _join_bucket, ())


def _split_buckets(buckets: int, *tables):
    """One split task: its blocks' rows, one table per bucket (one table for one bucket)."""
    import pyarrow as pa

    from siamese_text.dedup.ray_session import cut_by

    tables = [t for t in tables if t.num_rows]  # a shard without a text yields blocks without columns
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0] if tables else _no_rows()
    pieces = [table.take(pa.array(rows)) for rows in cut_by(table.column("bucket").to_numpy(), buckets)]
    return pieces[0] if buckets == 1 else tuple(pieces)


def _join_bucket(*tables):
    import pyarrow as pa

    return _first_of_key(pa.concat_tables(tables) if tables else _no_rows())


def _no_rows():
    """An empty table of the read stage's columns."""
    import pyarrow as pa

    return pa.table({"pos": pa.array([], pa.int64()), "bucket": pa.array([], pa.int64()),
                     "hi": pa.array([], pa.uint64()), "lo": pa.array([], pa.uint64()),
                     "text": pa.array([], pa.large_string()), "length": pa.array([], pa.int64()),
                     "ident": pa.array([], pa.large_string())})


def _first_of_key(table):
    import pyarrow as pa
    import pyarrow.compute as pc

    pos, hi, lo = (table.column(c).to_numpy() for c in ("pos", "hi", "lo"))
    order = np.lexsort((pos, lo, hi))  # by key, then position
    hi, lo, pos = hi[order], lo[order], pos[order]
    starts = np.ones(len(pos), dtype=bool)
    starts[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
    rep = pos[starts][np.cumsum(starts) - 1]
    taken = table.select(["text", "length", "ident"]).take(pa.array(order))
    mask = pa.array(starts)
    return pa.table({"pos": pa.array(pos), "rep": pa.array(rep),
                     "text": pc.if_else(mask, taken.column("text"), pa.scalar(None, pa.large_string())),
                     "length": taken.column("length"),
                     "ident": pc.if_else(mask, taken.column("ident"), pa.scalar(None, pa.large_string()))})


def representatives(grouped) -> tuple[np.ndarray, np.ndarray]:
    """Positions (sorted: record order) and text lengths of the distinct texts, on the driver."""
    found = grouped.select_columns(["pos", "rep", "length"]).map_batches(
        _reps_only, fn_kwargs={"columns": ("pos", "length")}, batch_format="pyarrow")
    parts = [(b["pos"], b["length"]) for b in found.iter_batches(batch_format="numpy", batch_size=None)
             if len(b["pos"])]
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pos, length = np.concatenate([p for p, _ in parts]), np.concatenate([n for _, n in parts])
    order = np.argsort(pos, kind="stable")
    return pos[order], length[order]


def _reps_only(table, columns: Sequence[str]):
    import pyarrow as pa

    keep = table.column("pos").to_numpy() == table.column("rep").to_numpy()
    return table.select(list(columns)).filter(pa.array(keep))


def distinct_texts(grouped, rep_pos, chunks, max_chars: int):
    """The representatives as the embedding stage takes them: (id = rank in record order, chunk,
    text cut to max_chars). rep_pos and chunks: (U,) arrays."""
    return grouped.map_batches(_distinct, fn_kwargs={"rep_pos": rep_pos, "chunks": chunks, "max_chars": max_chars},
                               batch_format="pyarrow")


def _distinct(table, rep_pos: np.ndarray, chunks: np.ndarray, max_chars: int):
    import pyarrow as pa

    reps = _reps_only(table, ("pos", "text"))
    ids = np.searchsorted(rep_pos, reps.column("pos").to_numpy())
    texts = [t[:max_chars] for t in reps.column("text").to_pylist()]
    return pa.table({"id": pa.array(ids.astype(np.int64)), "chunk": pa.array(chunks[ids]),
                     "text": pa.array(texts, pa.large_string())})


def twins_table(grouped):
    """The representatives' full texts and ids, as the writers look twins up: (pos, text, ident)."""
    return grouped.map_batches(_reps_only, fn_kwargs={"columns": ("pos", "text", "ident")}, batch_format="pyarrow")


def removed_records(grouped, rep_pos, dup_of, best):
    """Stage 6 per record (stages.resolve without the records on the driver): each removed record
    with its kept twin. -> a Dataset of (shard, record, twin, score, exact)."""
    return grouped.select_columns(["pos", "rep"]).map_batches(
        _fates, fn_kwargs={"rep_pos": rep_pos, "dup_of": dup_of, "best": best}, batch_format="numpy")


def _fates(batch: dict, rep_pos: np.ndarray, dup_of: np.ndarray, best: np.ndarray) -> dict:
    pos, rep = batch["pos"], batch["rep"]
    u = np.searchsorted(rep_pos, rep)  # the distinct text of each record
    near = dup_of[u] >= 0  # its first copy is a near duplicate of a kept text: every copy points there
    gone = near | (pos != rep)
    twin = np.where(near, rep_pos[np.maximum(dup_of[u], 0)], rep)
    score = np.where(near, best[u], 1.0)
    return {"shard": pos[gone] >> SHIFT, "record": pos[gone] & ((1 << SHIFT) - 1), "twin": twin[gone],
            "score": score[gone].astype(np.float64), "exact": (~near)[gone]}
