"""Record shards: the files `dedup` reads records from and writes the kept ones back to.

A shard is one file in one format:

- `lines`: a record is a line (read by `corpora.lines`, its ending not part of its text);
- `file`: the whole file is one record;
- `jsonl`: a JSON object per line; the text is one field, or several joined with a newline;
- `csv` / `tsv`: a header row, then one record per row. CSV follows RFC 4180 quoting (a quoted
  field may hold the delimiter, `""` and line breaks, so a record may span several lines); TSV
  is one record per line with no quoting, as the corpus readers take it (`corpora/formats.py`);
- `parquet`: one record per row, read and written with pyarrow (the `[parquet]` extra, imported
  only when a Parquet shard is opened).

Every record keeps what is needed to write it back unchanged: its bytes as in the file (line
formats: the header is written first, then each kept record's bytes, so kept lines come out
byte-identical), or for Parquet its row, the kept rows being written with the shard's own schema.

A record that cannot be read (a line that is not JSON, no text field, a text that is not a string,
a CSV row with the wrong number of fields, a Parquet file without the column) stops the read with
one line `SHARD:RECORD: reason` (record numbers are 1-based within the shard; the header of a CSV
is not a record), or with on_bad="skip" comes out as a bad record (`Record.bad` says why), to be
written through unchanged and listed, never dropped.
"""

from __future__ import annotations

import csv
import glob
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from siamese_text.corpora.lines import iter_lines, read_whole
from siamese_text.errors import ArgumentError, InputFileError
from siamese_text.extras import require


class Format(str, Enum):
    """How a shard holds its records; `auto` picks one from the file name's extension."""

    auto = "auto"
    lines = "lines"
    file = "file"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"
    parquet = "parquet"


EXTENSIONS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv",
              ".parquet": "parquet"}  # any other extension: lines
RECORD_FORMATS = frozenset({"jsonl", "csv", "tsv", "parquet"})  # the ones that need text fields
BAD_CHOICES = ("error", "skip")
DEFAULT_HINT = "pass --errors replace to read it anyway"


def format_of(path: str | Path, fmt: str = "auto") -> str:
    """The format of one shard: `fmt`, or with "auto" the one its extension names (else lines)."""
    if fmt not in tuple(Format):
        raise ArgumentError(f"unknown record format {fmt!r}; choose one of {', '.join(f.value for f in Format)}")
    if fmt != "auto":
        return fmt
    return EXTENSIONS.get(Path(str(path)).suffix.lower(), "lines")


def expand_paths(paths: Sequence[str | Path], fmt: str = "auto") -> list[str]:
    """Inputs as files, in order: a folder gives its files sorted by name, a glob its matches sorted.

    In a folder, hidden files and those starting with "_" (`_SUCCESS`, `_metadata`) are left out,
    and with a record format only the files of that format's extensions are taken. "-" (standard
    input) and plain paths pass as they are (a missing one is reported when it is opened).

    Raises:
        InputFileError: a folder without a matching file, a glob that matches nothing.
    """
    out: list[str] = []
    for p in paths:
        name = str(p)
        path = Path(name)
        if name != "-" and path.is_dir():
            files = sorted((f for f in path.iterdir() if f.is_file() and _takes(f, fmt)), key=lambda f: f.name)
            if not files:
                what = f"{fmt} " if fmt in RECORD_FORMATS else ""
                raise InputFileError(f"{path}: a folder without {what}files to read")
            out.extend(str(f) for f in files)
        elif name != "-" and not path.exists() and any(c in name for c in "*?["):
            matches = sorted(m for m in glob.glob(name, recursive=True) if Path(m).is_file())
            if not matches:
                raise InputFileError(f"{name}: no file matches")
            out.extend(matches)
        else:
            out.append(name)
    return out


def _takes(file: Path, fmt: str) -> bool:
    if file.name.startswith((".", "_")):
        return False
    return fmt not in RECORD_FORMATS or format_of(file) == fmt


@dataclass(frozen=True)
class Shard:
    """One input file: how errors and the report name it, where its bytes are, its format."""

    name: str
    path: Path
    format: str = "lines"


@dataclass(frozen=True)
class RecordSpec:
    """What to take from each record, and what a bad one does.

    text_fields: the fields whose values, joined with a newline, are the text (record formats).
    id_field: a field naming the record in the report (None: records are named by number only).
    errors: invalid UTF-8 is an error ("strict") or read as U+FFFD ("replace").
    on_bad: a bad record stops the read ("error") or comes out as a bad record ("skip").
    hint: what an invalid-UTF-8 error advises.
    """

    text_fields: tuple[str, ...] = ()
    id_field: str | None = None
    errors: str = "strict"
    on_bad: str = "error"
    hint: str = DEFAULT_HINT

    def __post_init__(self) -> None:
        if self.on_bad not in BAD_CHOICES:
            raise ArgumentError(f"on_bad is 'error' or 'skip', not {self.on_bad!r}")
        if self.errors not in ("strict", "replace"):
            raise ValueError(f"errors is 'strict' or 'replace', not {self.errors!r}")
        if any(not isinstance(f, str) or not f for f in self.text_fields):
            raise ArgumentError("a text field is a non-empty name")


@dataclass(frozen=True)
class Record:
    """One record. raw: its bytes as in the file (None for Parquet); text: what is compared (None
    for a bad record); id: the id field's value; bad: why it could not be read (None if it could)."""

    raw: bytes | None
    text: str | None
    id: object = None
    bad: str | None = None


def check_spec(shards: Sequence[Shard], spec: RecordSpec) -> None:
    """Refuse a run whose record shards have no text field to read."""
    for shard in shards:
        if shard.format in RECORD_FORMATS and not spec.text_fields:
            raise ArgumentError(f"{shard.name} is {shard.format}: give --text-field NAME, "
                                "the field that holds the text")


def iter_records(shard: Shard, spec: RecordSpec) -> Iterator[Record]:
    """The records of one shard, in order.

    Raises:
        InputFileError: an unreadable file or invalid UTF-8 (`FILE:LINE: ...`); a bad record under
            on_bad="error" (`SHARD:RECORD: reason`).
    """
    read = _READERS[shard.format]
    for number, record in enumerate(read(shard, spec), start=1):
        if record.bad is not None and spec.on_bad == "error":
            raise InputFileError(f"{shard.name}:{number}: {record.bad}")
        yield record


def read_texts(paths: Sequence[str | Path], fmt: str = "auto", text_fields: Sequence[str] = (),
               errors: str = "strict") -> list[str]:
    """The text of every record of the inputs (files, folders, globs), in order: shard order, then
    record order; a blank line is an empty text, so row i is record i.

    Raises:
        InputFileError: a missing or unreadable input, invalid UTF-8, a bad record (`SHARD:RECORD: ...`).
        ArgumentError: a record format without text fields.
    """
    shards = []
    for name in expand_paths(paths, fmt):
        path = Path(name)
        if not path.is_file():
            raise InputFileError(f"{name}: no such file" if not path.exists() else f"{name}: not a file")
        shards.append(Shard(name, path, format_of(name, fmt)))
    spec = RecordSpec(text_fields=tuple(text_fields), errors=errors)
    check_spec(shards, spec)
    return [record.text or "" for shard in shards for record in iter_records(shard, spec)]


def _read_lines(shard: Shard, spec: RecordSpec) -> Iterator[Record]:
    for _, text, raw in iter_lines(shard.path, errors=spec.errors, nul_ok=True, name=shard.name, hint=spec.hint):
        yield Record(raw, text)


def _read_file(shard: Shard, spec: RecordSpec) -> Iterator[Record]:
    raw, text = read_whole(shard.path, errors=spec.errors, nul_ok=True, name=shard.name, hint=spec.hint)
    if raw:  # an empty file holds no record
        yield Record(raw, text)


def _read_jsonl(shard: Shard, spec: RecordSpec) -> Iterator[Record]:
    for number, text, raw in iter_lines(shard.path, errors=spec.errors, nul_ok=True, name=shard.name,
                                        hint=spec.hint):
        if not text.strip():
            yield Record(raw, "")  # a blank line: kept, as blank lines of text files are
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            hint = " (a JSON array? this reads JSON Lines, one object a line)" if number == 1 and \
                text.lstrip().startswith("[") else ""
            yield Record(raw, None, bad=f"not a JSON line ({exc}){hint}")
            continue
        if not isinstance(value, dict):
            yield Record(raw, None, bad=f"a JSON {type(value).__name__}, not an object")
            continue
        yield _from_fields(raw, value, spec, "field")


def _from_fields(raw: bytes | None, fields: dict, spec: RecordSpec, what: str) -> Record:
    """A record from a mapping of field -> value (a JSON object, a CSV row, a Parquet row)."""
    parts = []
    for name in spec.text_fields:
        if name not in fields:
            return Record(raw, None, bad=f"no {what} {name!r}")
        value = fields[name]
        if not isinstance(value, str):
            kind = "null" if value is None else type(value).__name__
            return Record(raw, None, bad=f"{what} {name!r} is {kind}, not a string")
        parts.append(value)
    ident = None
    if spec.id_field is not None:
        if spec.id_field not in fields:
            return Record(raw, None, bad=f"no {what} {spec.id_field!r} (the id field)")
        ident = fields[spec.id_field]
    return Record(raw, "\n".join(parts), ident)


def _delimited_rows(shard: Shard, spec: RecordSpec) -> Iterator[tuple[bytes, list[str] | None, int, str | None]]:
    """(raw bytes, fields or None, first line number, csv error or None) of each row, header first.

    The csv module pulls one physical line at a time and ends a row at the end of a line, so the
    lines it took for a row are exactly that row's bytes.
    """
    taken: list[bytes] = []
    first = [1]

    def lines() -> Iterator[str]:
        for number, text, raw in iter_lines(shard.path, errors=spec.errors, nul_ok=True, name=shard.name,
                                            hint=spec.hint):
            if not taken:
                first[0] = number
            taken.append(raw)
            yield text + ("\r\n" if raw.endswith(b"\r\n") else "\n" if raw.endswith(b"\n") else "")

    source = lines()
    options = dict(delimiter=",", quotechar='"', strict=True) if shard.format == "csv" else \
        dict(delimiter="\t", quoting=csv.QUOTE_NONE)
    while True:
        reader = csv.reader(source, **options)
        try:
            for row in reader:
                yield b"".join(taken), row, first[0], None
                taken.clear()
            return
        except csv.Error as exc:  # a malformed row: its lines are what the reader took; go on after them
            if not taken:  # nothing read, so nothing to skip past
                raise InputFileError(f"{shard.name}: not valid {shard.format.upper()} ({exc})") from None
            yield b"".join(taken), None, first[0], f"not valid {shard.format.upper()} ({exc})"
            taken.clear()


def _read_delimited(shard: Shard, spec: RecordSpec) -> Iterator[Record]:
    rows = _delimited_rows(shard, spec)
    header = next(rows, None)
    if header is None:  # an empty file: no header, no record
        return
    raw, columns, _, error = header
    if columns is None:
        raise InputFileError(f"{shard.name}: the header row is {error}")
    position = {}
    for i, name in enumerate(columns):
        position.setdefault(name, i)
    for raw, row, line, error in rows:
        where = f" (line {line})"
        if row is None:
            yield Record(raw, None, bad=error + where)
        elif not row:
            yield Record(raw, "")  # a blank line: kept, as blank lines of text files are
        elif len(row) != len(columns):
            yield Record(raw, None, bad=f"{len(row)} fields where the header has {len(columns)}{where}")
        else:
            yield _from_fields(raw, {name: row[i] for name, i in position.items()}, spec, "column")


def header_bytes(shard: Shard, spec: RecordSpec) -> bytes:
    """The header row of a CSV / TSV shard as in the file (b"" for an empty file)."""
    first = next(_delimited_rows(shard, spec), None)
    return first[0] if first is not None else b""


def _parquet_file(shard: Shard):
    pq = require("pyarrow.parquet", "parquet", "reading Parquet")
    try:
        return pq.ParquetFile(shard.path)
    except FileNotFoundError:
        raise InputFileError(f"{shard.name}: no such file") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds; show one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputFileError(f"{shard.name}: not a readable Parquet file ({first})") from None


PARQUET_BATCH = 8192  # rows converted to Python at a time


def _read_parquet(shard: Shard, spec: RecordSpec) -> Iterator[Record]:
    pf = _parquet_file(shard)
    names = pf.schema_arrow.names
    wanted = list(dict.fromkeys([*spec.text_fields, *([spec.id_field] if spec.id_field else [])]))
    missing = [f for f in wanted if f not in names]
    if missing:  # every row lacks it
        role = "the id column" if missing[0] == spec.id_field and missing[0] not in spec.text_fields else "column"
        bad = f"no {role} {missing[0]!r} (columns: {', '.join(names)})"
        for _ in range(pf.metadata.num_rows):
            yield Record(None, None, bad=bad)
        return
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH, columns=wanted):
        columns = {name: batch.column(name).to_pylist() for name in wanted}
        for i in range(batch.num_rows):
            yield _from_fields(None, {name: values[i] for name, values in columns.items()}, spec, "column")


_READERS = {"lines": _read_lines, "file": _read_file, "jsonl": _read_jsonl, "csv": _read_delimited,
            "tsv": _read_delimited, "parquet": _read_parquet}


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
