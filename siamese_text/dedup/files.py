"""Deduplicating files of records: records read by streaming, outputs written atomically.

A record is one line (the line ending and a first-line BOM not part of its text), one whole file,
or a record of a JSONL, CSV, TSV or Parquet shard whose text is one or more of its fields; the
shards are read and written by `corpora.records` (globs and folders of shards expand there, in
sorted order; records are numbered in shard order, then record order). Inputs are read twice,
never held in memory: once to hash and collect the distinct texts, once to copy the kept records
unchanged (byte for byte, or for Parquet the kept rows under the same schema). Standard input
("-") is first spooled to a file in a temporary folder beside the outputs (`work_folder`).

The local engine reads and writes here, in this process; an engine that reads and writes shards
itself (RayEngine: `dedup_shards`, in tasks on its cluster) is handed the planned sources and
outputs instead. Either way the outputs are committed as `outputs.py` says: temporary files
renamed into place only when all are complete.
"""

from __future__ import annotations

import contextlib
import os  # noqa: F401 - tests patch files.os.replace to fail a rename
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamese_text.corpora.records import Record, RecordSpec, ReportWriter, ShardWriter, check_spec, expand_paths, \
    format_of
from siamese_text.corpora.records import iter_records as iter_shard_records
from siamese_text.dedup.engine import get_engine
from siamese_text.dedup.index import Scoring
from siamese_text.dedup.outputs import WORK_PREFIX, commit, remove_stale_files, temp_for, work_folder  # noqa: F401
from siamese_text.dedup.report import REPORT_COLUMNS, bad_entry, record_name, removed_entry
from siamese_text.dedup.sources import (STDIN_NAME, DecodeErrors, OnBad, Source, Unit,  # noqa: F401
                                        iter_records, open_sources, plan_outputs, resolve_formats)
from siamese_text.dedup.stages import DedupConfig, DedupResult, ExactGroups, resolve
from siamese_text.errors import OutputError
from siamese_text.extras import require
from siamese_text.model.crash_points import crash_point
from siamese_text.model.siamese import SiameseModel


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
        runner = get_engine(engine)
        if hasattr(runner, "dedup_shards"):  # an engine that reads and writes the shards itself
            return _dedup_on(runner, sources, outputs, report, spec, encoder, scoring, config or DedupConfig(),
                             max_chars, progress, started)
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
        dup_of, best = runner.near_duplicates(unique, encoder, scoring, config or DedupConfig(),
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


def _dedup_on(runner, sources: Sequence[Source], outputs: Sequence[Path], report: Path | None, spec: RecordSpec,
              encoder, scoring: Scoring, config: DedupConfig, max_chars: int, progress: bool,
              started: float) -> DedupSummary:
    """A run whose engine reads and writes the shards (RayEngine.dedup_shards): its temporary
    files renamed into place here, all at once, or on any failure every one of them removed."""
    clock = _Clock(started)
    tag = None
    try:
        done = runner.dedup_shards(sources, outputs, report, spec, encoder, scoring, config, max_chars,
                                   progress, on_stage=clock)
        tag, rows = done["tag"], done["rows"]
        temps = [(Path(r["output"]), outputs[f]) for f, r in enumerate(rows) if r["output"]]
        if report is not None:
            temps.append((temp_for(report, tag), report))
        commit(temps)
        clock("write")
    finally:  # what a failed run left: every `.NAME.tmp-*` beside the outputs (this run's, a killed one's)
        for final in [*outputs, *([report] if report is not None else [])]:
            remove_stale_files(final)
    total = {k: sum(int(r[k]) for r in rows) for k in ("records", "blank", "bad", "exact", "near")}
    return DedupSummary(total["records"], total["blank"], total["exact"], total["near"],
                        sum(1 for r in rows if r["output"]), time.perf_counter() - started, scoring.threshold,
                        clock.stages, total["bad"])


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
    rep = temp_for(report) if report is not None else None
    parquet = report is not None and report.suffix.lower() == ".parquet"
    try:
        rep_fh = ReportWriter(rep, parquet, REPORT_COLUMNS) if rep is not None else None
        try:
            for f, source in enumerate(sources):
                writer = None
                if outputs and (source.format != "file" or counts[f] == 0 or dup_of[starts[f]] < 0):
                    temps.append((temp_for(outputs[f]), outputs[f]))
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
                                rep_fh.write(bad_entry(record_name(source.name, source.format, offset + 1),
                                                       bad[g], parquet))
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
        commit(temps)
        return len(temps) - (rep is not None)
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        if rep is not None:
            rep.unlink(missing_ok=True)


def _write_kept(fh, raw: bytes) -> None:
    fh.write(raw)


def _report_entry(g: int, record: Record, result: DedupResult, twin_of: dict[int, Record],
                  sources: Sequence[Source], starts: np.ndarray, spec: RecordSpec, parquet: bool) -> dict:
    twin = int(result.duplicate_of[g])
    kept = twin_of[twin]
    ids = (record.id, kept.id) if spec.id_field is not None else None
    return removed_entry(_name(g, sources, starts), record.text, _name(twin, sources, starts), kept.text,
                         result.scores[g], result.exact[g], ids, parquet)


def _name(g: int, sources: Sequence[Source], starts: np.ndarray) -> dict:
    """How an entry names global record g: its file and its 1-based number there."""
    f = int(np.searchsorted(starts, g, side="right")) - 1
    return record_name(sources[f].name, sources[f].format, g - int(starts[f]) + 1)
