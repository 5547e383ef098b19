"""Record shards: which files a run reads (globs, folders), each one's format, and what a record is.

`format_of` names a shard's format (from its extension with "auto"), `expand_paths` lists the
shards of folders and globs in sorted order, `RecordSpec` says which fields hold the text (and the
id) and what a bad record does, and `Record` is what a reader yields. Readers are in
`record_readers.py`, writers in `record_writers.py`; `records.py` gathers them.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from siamese_text.errors import ArgumentError, InputFileError


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
