"""Writing records back: the kept records of a shard in its own format, and the run's report.

Line formats write the header (CSV / TSV) and then each kept record's bytes, so kept lines come
out byte-identical; Parquet copies the kept rows under the shard's own schema and compression.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from siamese_text.corpora.record_readers import PARQUET_BATCH, _parquet_file, header_bytes
from siamese_text.corpora.shards import Record, RecordSpec, Shard
from siamese_text.extras import require


class ShardWriter:
    """Writes the kept records of one shard to `path` in the shard's own format.

    Call `add(record, keep)` for every record of the shard in order, then `close()`. Line formats
    write the header (CSV / TSV) and each kept record's bytes; Parquet collects which rows are kept
    and on close copies those rows, batch by batch, under the shard's schema and compression.
    """

    def __init__(self, shard: Shard, path: Path, spec: RecordSpec, write=None) -> None:
        """write(fh, raw): how a kept record's bytes go out (default fh.write; a test hook)."""
        self.shard, self.path = shard, path
        self._write = write or (lambda fh, raw: fh.write(raw))
        self._keep: list[bool] | None = [] if shard.format == "parquet" else None
        self._fh = None
        if self._keep is None:
            self._fh = open(path, "wb")
            if shard.format in ("csv", "tsv"):
                self._fh.write(header_bytes(shard, spec))

    def add(self, record: Record, keep: bool) -> None:
        if self._keep is not None:
            self._keep.append(keep)
        elif keep:
            self._write(self._fh, record.raw)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        elif self._keep is not None:
            keep, self._keep = self._keep, None
            _write_parquet_rows(self.shard, self.path, keep)

    def discard(self) -> None:
        """Stop without finishing the file (after a failure; the caller removes it)."""
        if self._fh is not None:
            self._fh.close()
        self._fh = self._keep = None


def _write_parquet_rows(shard: Shard, path: Path, keep: Sequence[bool]) -> None:
    pa = require("pyarrow", "parquet", "writing Parquet")
    pq = require("pyarrow.parquet", "parquet", "writing Parquet")
    pf = _parquet_file(shard)
    meta = pf.metadata
    compression = meta.row_group(0).column(0).compression.lower() \
        if meta.num_row_groups and meta.num_columns else "snappy"
    if compression not in ("snappy", "gzip", "brotli", "zstd", "lz4", "none", "uncompressed"):
        compression = "snappy"
    start = 0
    with pq.ParquetWriter(path, pf.schema_arrow, compression=compression) as writer:
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH):
            mask = pa.array(keep[start : start + batch.num_rows], type=pa.bool_())
            start += batch.num_rows
            writer.write_batch(batch.filter(mask))


class ReportWriter:
    """The report of a run: one JSON object a line, or with parquet=True rows of a Parquet file.

    A Parquet report has the fixed columns `columns` (name -> "string", "int64", "float64" or
    "bool"); each entry is a flat mapping with those keys (missing ones are null), written in
    row groups of `PARQUET_BATCH` entries.
    """

    def __init__(self, path: Path, parquet: bool = False, columns: dict[str, str] | None = None) -> None:
        self.path, self.parquet = path, parquet
        self._rows: list[dict] = []
        if parquet:
            pa = require("pyarrow", "parquet", "a Parquet report")
            pq = require("pyarrow.parquet", "parquet", "a Parquet report")
            self._schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in (columns or {}).items()])
            self._pa = pa
            self._writer = pq.ParquetWriter(path, self._schema)
        else:
            self._fh = open(path, "w", encoding="utf-8", newline="\n")

    def write(self, entry: dict) -> None:
        if not self.parquet:
            self._fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")  # ids of any type
            return
        self._rows.append(entry)
        if len(self._rows) >= PARQUET_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            columns = {name: [row.get(name) for row in self._rows] for name in self._schema.names}
            self._writer.write_table(self._pa.table(columns, schema=self._schema))
            self._rows = []

    def close(self) -> None:
        if self.parquet:
            try:
                self._flush()
            finally:
                self._writer.close()
        else:
            self._fh.close()
