"""Writing on Ray: one task per shard copies its kept records and writes its part of the report.

Each writer streams its input shard again (as the local engine's second pass does), copies every
record that was not removed to a temporary file beside its output (`.NAME.tmp-RUN`: the same
ShardWriter, so lines come out byte-identical and Parquet rows under the same schema), and writes
the report entries of its shard, in record order, to a temporary piece beside the report. The
driver then joins the pieces in shard order into the report's own temporary file (a streaming copy)
and renames every file into place at once (`outputs.commit`): until then no final name holds
anything new, and a failed run removes every file of its RUN tag.

A writer learns which of its records were removed from the rows of the resolution stage grouped by
shard, and the text and id of each twin (the kept record a removed one duplicates, in any shard)
from the representatives' table, which sits once in the object store and which it reads zero-copy.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from siamese_text.corpora.records import ReportWriter, ShardWriter, iter_records
from siamese_text.dedup.outputs import temp_for
from siamese_text.dedup.ray_shards import SHIFT
from siamese_text.dedup.report import REPORT_COLUMNS, bad_entry, record_name, removed_entry


def write_shards(ray, removed, sources, outputs: Sequence[Path], report: Path | None, spec, twins_refs,
                 tag: str) -> list[dict]:
    """Stage 7: every shard written by a task. -> per shard (in shard order): its counts and the
    temporary files it wrote ("output", "piece": paths, "" for none)."""
    options = {"sources": list(sources), "outputs": [str(o) for o in outputs], "spec": spec, "tag": tag,
               "report": None if report is None else str(report), "twins": twins_refs}
    done = removed.groupby("shard").map_groups(_write_group, fn_kwargs=options, batch_format="numpy")
    rows: dict[int, dict] = {}
    for batch in done.iter_batches(batch_format="numpy", batch_size=None):
        for i in range(len(batch["shard"])):
            rows[int(batch["shard"][i])] = {k: batch[k][i] for k in batch}
    rest = [f for f in range(len(sources)) if f not in rows]  # shards without a removed record
    if rest:
        task = ray.remote(num_cpus=1)(_write_one)
        empty = {"record": np.zeros(0, np.int64), "twin": np.zeros(0, np.int64), "score": np.zeros(0),
                 "exact": np.zeros(0, bool)}
        for row in ray.get([task.remote(f, empty, **options) for f in rest]):
            rows[int(row["shard"])] = row
    return [rows[f] for f in range(len(sources))]


def _write_group(batch: dict, **options) -> dict:
    row = _write_one(int(batch["shard"][0]), batch, **options)
    return {k: np.array([v], dtype=object if isinstance(v, str) else np.int64) for k, v in row.items()}


def _write_one(f: int, removed: dict, sources, outputs, report, spec, tag, twins) -> dict:
    """Write shard f: its kept records and its report piece. -> counts and temporary paths."""
    source = sources[f]
    order = np.argsort(removed["record"], kind="stable")
    numbers = np.asarray(removed["record"], dtype=np.int64)[order]
    twin = np.asarray(removed["twin"], dtype=np.int64)[order]
    score, exact = np.asarray(removed["score"])[order], np.asarray(removed["exact"], dtype=bool)[order]
    twin_texts, twin_ids = _Twins(twins, spec.id_field is not None).find(twin) if len(numbers) and report is not None \
        else ([], [])
    is_file = source.format == "file"
    out = None if not outputs or (is_file and len(numbers)) else temp_for(Path(outputs[f]), tag)
    parquet = report is not None and report.lower().endswith(".parquet")
    piece = None if report is None else Path(report).with_name(f".{Path(report).name}.tmp-{tag}-{f:06d}")
    counts = {"shard": f, "records": 0, "blank": 0, "bad": 0, "exact": int(exact.sum()),
              "near": int(len(exact) - exact.sum())}
    writer = ShardWriter(source.shard, out, spec) if out is not None else None
    rep = ReportWriter(piece, parquet, REPORT_COLUMNS) if piece is not None else None
    try:
        k = 0
        for number, record in enumerate(iter_records(source.shard, spec)):
            gone = k < len(numbers) and numbers[k] == number
            if writer is not None:
                writer.add(record, not gone)
            if gone:
                if rep is not None:
                    where = record_name(source.name, source.format, number + 1)
                    t = int(twin[k])
                    twin_source = sources[t >> SHIFT]
                    there = record_name(twin_source.name, twin_source.format, (t & ((1 << SHIFT) - 1)) + 1)
                    ids = (record.id, twin_ids[k]) if spec.id_field is not None else None
                    rep.write(removed_entry(where, record.text, there, twin_texts[k], score[k], exact[k], ids,
                                            parquet))
                k += 1
            elif record.bad is not None:
                counts["bad"] += 1
                if rep is not None:
                    rep.write(bad_entry(record_name(source.name, source.format, number + 1), record.bad, parquet))
            elif not record.text.strip():
                counts["blank"] += 1
            counts["records"] += 1
        if writer is not None:
            writer.close()
    finally:
        if writer is not None:
            writer.discard()
        if rep is not None:
            rep.close()
    return {**counts, "output": "" if out is None else str(out), "piece": "" if piece is None else str(piece)}


class _Twins:
    """The representatives' (pos, text, ident), from their blocks in the object store, by pos."""

    def __init__(self, refs, with_ids: bool) -> None:
        import pyarrow as pa
        import ray

        table = pa.concat_tables([t for t in ray.get(list(refs)) if t.num_rows])
        pos = table.column("pos").to_numpy()
        self.order = np.argsort(pos, kind="stable")
        self.pos = pos[self.order]
        self.text, self.ident = table.column("text"), table.column("ident") if with_ids else None

    def find(self, positions: np.ndarray) -> tuple[list[str], list]:
        """The texts and ids of the representatives at `positions`."""
        import pyarrow as pa

        rows = pa.array(self.order[np.searchsorted(self.pos, positions)])
        texts = self.text.take(rows).to_pylist()
        if self.ident is None:
            return texts, [None] * len(texts)
        return texts, [None if i is None else json.loads(i) for i in self.ident.take(rows).to_pylist()]


def join_report(pieces: Sequence[str], target: Path, parquet: bool) -> None:
    """The report's pieces, in shard order, into one file (a streaming copy; pieces removed)."""
    if not parquet:
        with open(target, "wb") as out:
            for piece in pieces:
                if piece:
                    with open(piece, "rb") as fh:
                        shutil.copyfileobj(fh, out, 1 << 20)
                    Path(piece).unlink()
        return
    import pyarrow.parquet as pq

    writer = None
    try:
        for piece in pieces:
            if not piece:
                continue
            pf = pq.ParquetFile(piece)
            if writer is None:
                writer = pq.ParquetWriter(target, pf.schema_arrow)
            for g in range(pf.num_row_groups):
                table = pf.read_row_group(g)
                if table.num_rows:
                    writer.write_table(table)
            Path(piece).unlink()
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # no piece at all: an empty report with the report's columns
        ReportWriter(target, True, REPORT_COLUMNS).close()
