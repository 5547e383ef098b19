"""Reading records from shards, one reader per format, each streaming its file in order.

`iter_records(shard, spec)` yields the records of one shard; a bad record (a line that is not
JSON, no text field, a text that is not a string, a CSV row with the wrong number of fields, a
Parquet file without the column) stops it with one line `SHARD:RECORD: reason`, or with
on_bad="skip" comes out as a Record whose `bad` says why. Line formats keep each record's bytes
as in the file, so that the writers can copy kept records byte for byte.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from siamese_text.corpora.lines import iter_lines, read_whole
from siamese_text.corpora.shards import Record, RecordSpec, Shard, check_spec, expand_paths, format_of
from siamese_text.errors import InputFileError
from siamese_text.extras import require


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
