"""The inputs of a dedup run: what a record is, each input's format, and the outputs it gets.

Globs and folders of shards expand in `corpora.records` (sorted); standard input ("-") is spooled
to a file in the run's work folder (`outputs.work_folder`) so that it can be read twice. Outputs
are planned before anything is read: one per input under --out, never an input, never two alike.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from siamese_text.corpora.records import RECORD_FORMATS, RecordSpec, Shard, format_of
from siamese_text.corpora.records import iter_records as iter_shard_records
from siamese_text.dedup.outputs import remove_stale_files
from siamese_text.errors import ArgumentError, InputFileError, OutputError

STDIN_NAME = "stdin.txt"  # output name of records read from "-"


class Unit(str, Enum):
    """What one record is (of a text file; `format` says how other shards hold records)."""

    line = "line"
    file = "file"


class OnBad(str, Enum):
    """What a record that cannot be read does: stop with an error naming shard and record, or
    stay out of deduplication, written through unchanged and listed in the report."""

    error = "error"
    skip = "skip"


class DecodeErrors(str, Enum):
    """What invalid UTF-8 does: stop with an error naming the line, or read as U+FFFD for comparison."""

    strict = "strict"
    replace = "replace"


@dataclass(frozen=True)
class Source:
    name: str  # as the user gave it (shown in errors and the report)
    path: Path  # where the bytes are (a spool file for stdin)
    out_name: str
    format: str = "lines"  # how it holds records (corpora.records.Format, never "auto")

    @property
    def shard(self) -> Shard:
        return Shard(self.name, self.path, self.format)


def iter_records(source: Source, unit: str, errors: str) -> Iterator[tuple[bytes, str]]:
    """(raw bytes as in the file, decoded text) of each line (unit="line") or of the whole file
    (unit="file") of a text source, in order.

    Lines are read by `corpora.lines` (NUL characters kept: records are copied byte for byte).
    """
    shard = Shard(source.name, source.path, "file" if unit == "file" else "lines")
    for record in iter_shard_records(shard, RecordSpec(errors=errors)):
        yield record.raw, record.text


def resolve_formats(sources: Sequence[Source], fmt: str, unit: str) -> list[Source]:
    """Each source with its format: `fmt`, or with "auto" the one of its extension ("file" for
    every source when unit="file"); standard input is read as lines unless `fmt` says otherwise,
    and its output is named after the format (stdin.txt, stdin.jsonl, ...)."""
    if unit == "file" and fmt not in ("auto", "file"):
        raise ArgumentError(f"--unit file reads whole files; it does not go with --format {fmt}")
    out = []
    for source in sources:
        chosen = "file" if unit == "file" else "lines" if source.name == "<stdin>" and fmt == "auto" \
            else format_of(source.name, fmt)
        out_name = source.out_name
        if source.name == "<stdin>" and chosen in RECORD_FORMATS:
            out_name = f"stdin.{chosen}"
        out.append(replace(source, format=chosen, out_name=out_name))
    return out


def open_sources(paths: Sequence[str | Path], spool_dir: Path | None) -> list[Source]:
    """Check every input exists; spool standard input ("-") to a file under spool_dir (needed
    only when "-" is among the paths)."""
    if sum(1 for p in paths if str(p) == "-") > 1:
        raise ArgumentError("standard input ('-') can be read only once")
    sources = []
    for p in paths:
        if str(p) == "-":
            if spool_dir is None:
                raise ValueError("reading standard input needs a spool_dir")
            spool = spool_dir / "stdin"
            with open(spool, "wb") as fh:
                shutil.copyfileobj(sys.stdin.buffer, fh)
            sources.append(Source("<stdin>", spool, STDIN_NAME))
            continue
        path = Path(p)
        if not path.exists():
            raise InputFileError(f"{path}: no such file")
        if not path.is_file():
            raise InputFileError(f"{path}: not a file")
        sources.append(Source(str(path), path, path.name))
    return sources


def plan_outputs(sources: Sequence[Source], out_dir: Path | None, report: Path | None,
                 overwrite: bool) -> list[Path]:
    """Output paths, refusing any that would land on an input, collide, or replace a file.

    What a killed run left beside these outputs is cleaned up first (`remove_stale_files`).
    """
    inputs = {s.path.resolve() for s in sources}
    outputs = [out_dir / s.out_name for s in sources] if out_dir is not None else []
    if len({o.name for o in outputs}) < len(outputs):
        raise OutputError("two inputs have the same file name; their outputs would collide in --out")
    finals = outputs + ([report] if report is not None else [])
    for out in finals:
        if out.resolve() in inputs or (out.exists() and any(_same(out, s.path) for s in sources)):
            raise OutputError(f"{out}: refusing to write over an input")
    for out in finals:
        remove_stale_files(out)
    for out in finals:
        if out.exists() and not overwrite:
            raise OutputError(f"{out}: already exists (pass --overwrite to replace it)")
    return outputs


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
