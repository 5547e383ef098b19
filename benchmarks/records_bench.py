"""What the record formats cost `dedup`: the same records as text lines, JSONL, CSV, TSV and Parquet.

The workload is dedup_bench.py's (real sentences of QQP dev, MRPC and PAWS-Wiki, seeded repeats,
shuffled). Each record is written in every format with two more fields, an id and a source tag:
lines hold the text only; JSONL one object a line; CSV with a header and RFC 4180 quoting (every
100th text gets a line break, so those records span two lines); TSV with a header; Parquet
(snappy). Each run is `dedup_files(..., text_fields=["text"], id_field="id")` with a report.

To time the record layer rather than the network, the encoder is a stand-in that gives every text
a vector from a hash of it (no two distinct texts are near duplicates): what is left is reading,
hashing and grouping (`read`) and writing the kept records and the report (`write`), the two
passes over the shards. The embedding and search stages, the same for every format, are in
dedup_bench.py's table. Every format must keep the same number of records; the script checks it.

Run:  python benchmarks/records_bench.py                 (--size 200000 --repeats 3 by default)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup_bench import DATA, build_workload, load_pairs  # noqa: E402

FORMATS = ("lines", "jsonl", "csv", "tsv", "parquet")


class HashEncoder:
    """A 16-d unit vector per text, seeded by its crc32: distinct texts are (almost surely) unrelated."""

    def encode(self, texts):
        out = np.stack([np.random.default_rng(zlib.crc32(t.encode("utf-8"))).standard_normal(16)
                        for t in texts]).astype(np.float32) if texts else np.zeros((0, 16), np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True).clip(1e-12)


def write_shard(fmt: str, texts: list[str], folder: Path) -> Path:
    ids = [f"r{i:08d}" for i in range(len(texts))]
    if fmt == "csv":  # a line break in some texts: records over two lines, as exported CSVs have
        texts = [t.replace(" ", "\n", 1) if i % 100 == 0 else t for i, t in enumerate(texts)]
    path = folder / f"records.{ 'txt' if fmt == 'lines' else fmt}"
    if fmt == "lines":
        path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    elif fmt == "jsonl":
        with open(path, "w", encoding="utf-8") as fh:
            for i, t in zip(ids, texts):
                fh.write(json.dumps({"id": i, "text": t, "source": "bench"}, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow(["id", "text", "source"])
            writer.writerows([i, t, "bench"] for i, t in zip(ids, texts))
    elif fmt == "tsv":  # no quoting: a field is anything but a tab or a line break
        path.write_text("id\ttext\tsource\n" + "".join(f"{i}\t{t.replace(chr(9), ' ')}\tbench\n"
                                                         for i, t in zip(ids, texts)), encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"id": ids, "text": texts, "source": ["bench"] * len(texts)}), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200_000, help="records per format")
    parser.add_argument("--repeats", type=int, default=3, help="runs per format; the fastest is shown")
    args = parser.parse_args()
    from siamese_text.dedup.files import dedup_files
    from siamese_text.dedup.stages import DedupConfig

    texts = build_workload(load_pairs(DATA), args.size, seed=0)
    rows, kept = [], {}
    with tempfile.TemporaryDirectory(prefix="records-bench-") as tmp:
        for fmt in FORMATS:
            folder = Path(tmp) / fmt
            folder.mkdir()
            shard = write_shard(fmt, texts, folder)
            best = None
            for r in range(args.repeats):
                out = folder / f"out{r}"
                fields = {} if fmt == "lines" else {"text_fields": ["text"], "id_field": "id"}
                started = time.perf_counter()
                s = dedup_files([shard], out, folder / f"report{r}.jsonl", HashEncoder(), threshold=0.99,
                                config=DedupConfig(workers=1), **fields)
                wall = time.perf_counter() - started
                if best is None or wall < best[0]:
                    best = (wall, s)
            wall, s = best
            kept[fmt] = s.kept
            rows.append((fmt, s.records, shard.stat().st_size / 1e6, s.stages["read"], s.stages["write"], wall,
                         s.kept, s.exact_removed))
    assert len(set(kept.values())) == 1, f"formats kept different numbers of records: {kept}"
    lines_rw = rows[0][3] + rows[0][4]
    print(f"{args.size:,} records, fastest of {args.repeats} runs, one process (workers=1), hash stand-in encoder\n")
    print("| format | records | MB | read s | write s | read+write vs lines | wall s | records/s | kept "
          "| exact removed |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for fmt, n, mb, read, write, wall, k, exact in rows:
        print(f"| {fmt} | {n:,} | {mb:.1f} | {read:.2f} | {write:.2f} | {(read + write) / lines_rw:.2f}x | "
              f"{wall:.2f} | {n / wall:,.0f} | {k:,} | {exact:,} |")


if __name__ == "__main__":
    main()
