"""Deduplicating files of records: records read by streaming, outputs written atomically.

A record is one line (the line ending and a first-line BOM not part of its text), one whole file,
or a record of a JSONL, CSV, TSV or Parquet shard whose text is one or more of its fields; the
shards are read and written by `corpora.records` (globs and folders of shards expand there, in
sorted order; records are numbered in shard order, then record order). Inputs are read twice,
never held in memory: once to hash and collect the distinct texts, once to copy the kept records
unchanged (byte for byte, or for Parquet the kept rows under the same schema). Standard input
("-") is first spooled to a file in a temporary folder beside the outputs (`work_folder`).

Every output goes to a temporary file beside its destination (`.NAME.tmp-*`, same file system)
and is renamed into place only when all of them are complete. A replaced output is kept aside
(`.NAME.old-*`, a hard link) until every rename has succeeded, so a failed rename puts back the
outputs already replaced; a killed run leaves each output whole, old or new, and the next run
removes its leftovers (`remove_stale_files`).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import numpy as np

from siamese_text.dedup.engine import get_engine
from siamese_text.dedup.stages import DedupConfig, DedupResult, ExactGroups, resolve
from siamese_text.corpora.records import (RECORD_FORMATS, Record, RecordSpec, ReportWriter, Shard, ShardWriter,
                                          check_spec, expand_paths, format_of)
from siamese_text.corpora.records import iter_records as iter_shard_records
from siamese_text.errors import ArgumentError, InputFileError, OutputError
from siamese_text.extras import require
from siamese_text.dedup.index import Scoring
from siamese_text.model.crash_points import crash_point
from siamese_text.model.siamese import SiameseModel

STDIN_NAME = "stdin.txt"  # output name of records read from "-"
WORK_PREFIX = ".siamese-text-work-"  # + PID-RANDOM: a run's temporary folder (the stdin spool)


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


@dataclass(frozen=True)
class DedupSummary:
    """What a file dedup run did."""

    records: int
    blank: int
    exact_removed: int
    near_removed: int
    files_written: int
    seconds: float
    threshold: float
    stages: dict  # seconds spent reading, embedding, indexing, searching, writing
    bad: int = 0  # records that could not be read (on_bad="skip"): written through, in the report

    @property
    def kept(self) -> int:
        """Records written to the outputs (bad ones included: they are passed through)."""
        return self.records - self.exact_removed - self.near_removed


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


def dedup_files(paths: Sequence[str | Path], out_dir: Path | None = None, report: Path | None = None,
                model=None, threshold: float | None = None, unit: str = "line", errors: str = "strict",
                overwrite: bool = False, progress: bool = False,
                config: DedupConfig | None = None, engine="local", *, format: str = "auto",
                text_fields: Sequence[str] = (), id_field: str | None = None,
                on_bad: str = "error") -> DedupSummary:
    """Deduplicate files of records: one output shard per input under out_dir (the kept records,
    unchanged and in order, in the input's format), and a report of removed records (JSONL, or
    Parquet when `report` ends in .parquet). out_dir=None writes only the report.

    Args:
        paths: files, folders (their files, sorted) and globs; "-" is standard input.
        unit: "line" or "file" (each text file is one record: the same as format="file").
        engine: who runs the near-duplicate stages ("local", or an Engine: see engine.py).
        format: "auto" (from each file's extension: .jsonl/.json/.ndjson, .csv, .tsv, .parquet,
            else lines), or one of "lines", "file", "jsonl", "csv", "tsv", "parquet" for all.
        text_fields: the field(s) holding the text of a record format (several are joined with a
            newline); required when a shard is JSONL, CSV, TSV or Parquet.
        id_field: a field naming each record in the report, beside its shard and record number.
        on_bad: a record that cannot be read stops the run ("error": `SHARD:RECORD: reason`), or
            ("skip") is not deduplicated, written through unchanged, counted and reported as bad.

    Raises:
        SiameseTextError: a missing input, invalid UTF-8 (under errors="strict"), a bad record
            (under on_bad="error"), an output that would replace an input, or an existing output
            without overwrite.
    """
    if unit not in tuple(Unit) or errors not in tuple(DecodeErrors):
        raise ValueError("unit is 'line' or 'file'; errors is 'strict' or 'replace'")
    if isinstance(text_fields, str):
        text_fields = (text_fields,)
    spec = RecordSpec(tuple(text_fields), id_field, errors, on_bad)
    format_of("", format)  # an unknown format is an error before anything is read
    if report is not None and report.suffix.lower() == ".parquet":
        require("pyarrow.parquet", "parquet", "a Parquet report")  # missing: say so before any work
    started = time.perf_counter()
    encoder = model if model is not None else SiameseModel.load()
    scoring = Scoring.for_encoder(encoder, threshold)
    tokenizer_config = getattr(getattr(encoder, "tokenizer", None), "config", None)
    max_chars = getattr(tokenizer_config, "max_chars", 20_000)  # only this much of a text is embedded
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: not a folder")
    spooling = any(str(p) == "-" for p in paths)  # standard input is read twice: spooled to a file
    where = out_dir if out_dir is not None else report.parent if report is not None else None
    with work_folder(where) if spooling else contextlib.nullcontext() as spool:
        sources = resolve_formats(open_sources(expand_paths(paths, format), spool), format, unit)
        check_spec([s.shard for s in sources], spec)
        outputs = plan_outputs(sources, out_dir, report, overwrite)
        groups, counts, unique, bad = ExactGroups(), [], [], {}
        total = sum(s.path.stat().st_size for s in sources)
        from tqdm.auto import tqdm

        with tqdm(total=total, desc="reading", unit="B", unit_scale=True, leave=False,
                  disable=not progress) as bar:
            for source in sources:
                count = done = 0
                for record in iter_shard_records(source.shard, spec):
                    if record.bad is not None:  # kept out of deduplication: grouped as a blank record
                        bad[len(groups.unique_of)] = record.bad
                        groups.add("")
                    elif groups.add(record.text):
                        unique.append(record.text[:max_chars])
                    count += 1
                    done += len(record.raw) if record.raw is not None else 0
                    if count % 16384 == 0:
                        bar.update(done)
                        done = 0
                counts.append(count)
                bar.update(done if source.format != "parquet" else source.path.stat().st_size)
        clock = _Clock(started)
        clock("read")
        dup_of, best = get_engine(engine).near_duplicates(unique, encoder, scoring, config or DedupConfig(),
                                                          progress, on_stage=clock)
        del unique
        blank = int(np.count_nonzero(np.frombuffer(groups.unique_of, dtype=np.int64) < 0)) \
            if len(groups.unique_of) else 0
        result = resolve(groups, dup_of, best, scoring.threshold)
        del groups
        written = write_outputs(sources, counts, result, outputs, report, spec, bad)
        clock("write")
    return DedupSummary(len(result.duplicate_of), blank - len(bad), result.n_exact, result.n_near, written,
                        time.perf_counter() - started, scoring.threshold, clock.stages, len(bad))


class _Clock:
    """Seconds since the previous call, per stage name."""

    def __init__(self, start: float) -> None:
        self.last, self.stages = start, {}

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + now - self.last
        self.last = now


def write_outputs(sources: Sequence[Source], counts: Sequence[int], result: DedupResult,
                  outputs: Sequence[Path], report: Path | None, spec: RecordSpec,
                  bad: dict[int, str] | None = None) -> int:
    """Second pass: kept records into temporary outputs and removed (and bad) ones into the report;
    then every temporary file is renamed into place. On any failure none is left behind.

    Args:
        bad: record (global number) -> why it could not be read; such records are written through.
    Returns:
        The number of output files written (whole files that were removed get none).
    """
    bad = bad or {}
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)  # first record of each source
    dup_of = result.duplicate_of
    twins = set(np.unique(dup_of[dup_of >= 0]).tolist())  # kept records some removed one points at
    twin_of: dict[int, Record] = {}
    temps: list[tuple[Path, Path]] = []
    rep = _temp_for(report) if report is not None else None
    parquet = report is not None and report.suffix.lower() == ".parquet"
    try:
        rep_fh = ReportWriter(rep, parquet, REPORT_COLUMNS) if rep is not None else None
        try:
            for f, source in enumerate(sources):
                writer = None
                if outputs and (source.format != "file" or counts[f] == 0 or dup_of[starts[f]] < 0):
                    temps.append((_temp_for(outputs[f]), outputs[f]))
                    writer = ShardWriter(source.shard, temps[-1][0], spec, _write_kept)
                try:
                    for offset, record in enumerate(iter_shard_records(source.shard, spec)):
                        g = int(starts[f]) + offset
                        if writer is not None:
                            writer.add(record, bool(dup_of[g] < 0))
                        if dup_of[g] < 0:
                            if g in twins:
                                twin_of[g] = Record(None, record.text, record.id)  # not its bytes
                            if g in bad and rep_fh is not None:
                                rep_fh.write(_bad_entry(g, bad[g], sources, starts, parquet))
                        elif rep_fh is not None:
                            rep_fh.write(_report_entry(g, record, result, twin_of, sources, starts, spec, parquet))
                    if writer is not None:
                        writer.close()
                finally:
                    if writer is not None:
                        writer.discard()
                if writer is not None:
                    crash_point("dedup.output-written")
        finally:
            if rep_fh is not None:
                rep_fh.close()
        if rep is not None:
            crash_point("dedup.report-written")
            temps.append((rep, report))
        _commit(temps)
        return len(temps) - (rep is not None)
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        if rep is not None:
            rep.unlink(missing_ok=True)


def _write_kept(fh, raw: bytes) -> None:
    fh.write(raw)


def _commit(temps: Sequence[tuple[Path, Path]]) -> None:
    """Rename every finished temporary file into place. A replaced output is kept aside until all
    renames have succeeded; if one fails, every output renamed so far is put back as it was."""
    done: list[tuple[Path, Path | None]] = []  # (output, its old content kept aside or None)
    try:
        for tmp, final in temps:
            done.append((final, _keep_aside(final)))
            os.replace(tmp, final)
            crash_point("dedup.renamed")
    except BaseException:
        for final, old in reversed(done):
            with contextlib.suppress(OSError):  # put back as many as can be; the first error is raised
                if old is not None:
                    os.replace(old, final)
                    old.unlink(missing_ok=True)  # still there when both named one file: rename does nothing then
                else:
                    final.unlink(missing_ok=True)
        raise
    for _, old in done:
        if old is not None:
            old.unlink(missing_ok=True)
            crash_point("dedup.old-removed")


def _keep_aside(final: Path) -> Path | None:
    """A second name (`.NAME.old-*`) for the file at `final` before it is replaced; None if none is there.

    A hard link, so `final` stays in place until the new file replaces it in one rename; where
    the file system has none, `final` is renamed aside (and put back by `remove_stale_files` if
    the run is killed before the new file is in).
    """
    if not (final.exists() or final.is_symlink()):
        return None
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    try:
        os.link(final, old, follow_symlinks=False)
    except OSError:
        os.replace(final, old)
    crash_point("dedup.old-kept")
    return old


def _temp_for(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")


def remove_stale_files(path: Path) -> None:
    """Remove the temporary files a killed run left beside output `path` (`.NAME.tmp-*`), and its
    kept-aside old copies (`.NAME.old-*`), putting one back when `path` itself is missing."""
    pattern = f".{glob.escape(path.name)}"
    for stale in path.parent.glob(pattern + ".tmp-*"):
        with contextlib.suppress(OSError):
            stale.unlink()
    for stale in path.parent.glob(pattern + ".old-*"):
        if path.exists() or path.is_symlink():  # the old copy is garbage
            with contextlib.suppress(OSError):
                stale.unlink()
        else:  # killed between renaming the old file aside and the new one in
            os.replace(stale, path)


@contextlib.contextmanager
def work_folder(where: Path | None) -> Iterator[Path]:
    """A temporary folder for one run (`.siamese-text-work-PID-*` in `where`), removed on exit.

    Beside the outputs rather than in the system's temporary directory, so that what a run holds
    there is on the outputs' file system and in sight; folders of runs whose process is gone
    (killed) are removed first. `where=None` (a run without outputs): the system's temporary
    directory.
    """
    if where is None:
        with tempfile.TemporaryDirectory(prefix="siamese-text-") as tmp:
            yield Path(tmp)
        return
    where.mkdir(parents=True, exist_ok=True)
    for stale in where.glob(WORK_PREFIX + "*"):
        pid = stale.name[len(WORK_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    folder = where / f"{WORK_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether process `pid` exists (on Windows, always assumed: there is no harmless probe)."""
    if pid == os.getpid() or os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, but belongs to someone else
        return True
    return True


# The columns of a Parquet report (a JSONL report has the same facts, with `duplicate_of` nested)
REPORT_COLUMNS = {"file": "string", "record": "int64", "kind": "string", "score": "float64", "exact": "bool_",
                  "text": "string", "duplicate_of_file": "string", "duplicate_of_record": "int64",
                  "duplicate_of_text": "string", "id": "string", "duplicate_of_id": "string", "reason": "string"}


def _where(g: int, sources: Sequence[Source], starts: np.ndarray) -> tuple[Source, int]:
    """The source of record g and its 1-based record number there."""
    f = int(np.searchsorted(starts, g, side="right")) - 1
    return sources[f], g - int(starts[f]) + 1


def _name(g: int, sources: Sequence[Source], starts: np.ndarray) -> dict:
    """How an entry names a record: its file and, for text lines, "line" (null for a whole file),
    for other shards "record" (1-based). Entries of record shards also say their "kind" (exact,
    near, bad); those of text lines keep the fields they have always had (`exact` says the kind)."""
    source, number = _where(g, sources, starts)
    if source.format in RECORD_FORMATS:
        return {"file": source.name, "record": number}
    return {"file": source.name, "line": number if source.format == "lines" else None}


def _report_entry(g: int, record: Record, result: DedupResult, twin_of: dict[int, Record],
                  sources: Sequence[Source], starts: np.ndarray, spec: RecordSpec, parquet: bool) -> dict:
    twin = int(result.duplicate_of[g])
    kept = twin_of[twin]
    entry = {**_name(g, sources, starts), "text": record.text}
    duplicate_of = {**_name(twin, sources, starts), "text": kept.text}
    if spec.id_field is not None:
        entry["id"], duplicate_of["id"] = record.id, kept.id
    exact = bool(result.exact[g])
    entry.update({"duplicate_of": duplicate_of, "score": round(float(result.scores[g]), 6), "exact": exact})
    if "record" in entry or parquet:  # entries of text lines stay as they have always been
        entry["kind"] = "exact" if exact else "near"
    return _flat(entry) if parquet else entry


def _bad_entry(g: int, reason: str, sources: Sequence[Source], starts: np.ndarray, parquet: bool) -> dict:
    entry = {**_name(g, sources, starts), "text": None, "duplicate_of": None, "score": None, "exact": False,
             "kind": "bad", "reason": reason}
    return _flat(entry) if parquet else entry


def _flat(entry: dict) -> dict:
    """An entry as a row of REPORT_COLUMNS (ids as text: one column type for ids of any type)."""
    row = {k: v for k, v in entry.items() if k != "duplicate_of"}
    row["record"] = entry.get("record", entry.get("line"))
    for key, value in (entry.get("duplicate_of") or {}).items():
        row[f"duplicate_of_{'record' if key == 'line' else key}"] = value
    for key in ("id", "duplicate_of_id"):
        if row.get(key) is not None and not isinstance(row[key], str):
            row[key] = json.dumps(row[key], ensure_ascii=False, default=str)
    return row
