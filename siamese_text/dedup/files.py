"""Deduplicating text files: records read by streaming, outputs written atomically.

A record is one line (`unit="line"`, the line ending and a first-line BOM not part of its text)
or one whole file (`unit="file"`). Inputs are read twice, never held in memory: once to hash and
collect the distinct texts, once to copy the kept records byte for byte. Standard input ("-")
is first spooled to a file in a temporary folder beside the outputs (`work_folder`).

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
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from siamese_text.dedup.engine import get_engine
from siamese_text.dedup.stages import DedupConfig, DedupResult, ExactGroups, resolve
from siamese_text.corpora.lines import iter_lines, read_whole
from siamese_text.errors import ArgumentError, InputFileError, OutputError
from siamese_text.dedup.index import Scoring
from siamese_text.model.crash_points import crash_point
from siamese_text.model.siamese import SiameseModel

STDIN_NAME = "stdin.txt"  # output name of records read from "-"
WORK_PREFIX = ".siamese-text-work-"  # + PID-RANDOM: a run's temporary folder (the stdin spool)


class Unit(str, Enum):
    """What one record is."""

    line = "line"
    file = "file"


class DecodeErrors(str, Enum):
    """What invalid UTF-8 does: stop with an error naming the line, or read as U+FFFD for comparison."""

    strict = "strict"
    replace = "replace"


@dataclass(frozen=True)
class Source:
    name: str  # as the user gave it (shown in errors and the report)
    path: Path  # where the bytes are (a spool file for stdin)
    out_name: str


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

    @property
    def kept(self) -> int:
        return self.records - self.exact_removed - self.near_removed


def iter_records(source: Source, unit: str, errors: str) -> Iterator[tuple[bytes, str]]:
    """(raw bytes as in the file, decoded text) of each record of one source, in order.

    Lines are read by `corpora.lines` (NUL characters kept: records are copied byte for byte).
    """
    hint = "pass --errors replace to read it anyway"
    if unit == "file":
        raw, text = read_whole(source.path, errors=errors, nul_ok=True, name=source.name, hint=hint)
        if raw:  # an empty file holds no record
            yield raw, text
        return
    for _, text, raw in iter_lines(source.path, errors=errors, nul_ok=True, name=source.name, hint=hint):
        yield raw, text


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
                config: DedupConfig | None = None, engine="local") -> DedupSummary:
    """Deduplicate text files: one output per input under out_dir (kept records, byte-identical,
    in order), and a JSONL report of removed records. out_dir=None writes only the report.
    `engine` runs the near-duplicate stages ("local", or an Engine: see engine.py).

    Raises:
        SiameseTextError: a missing input, invalid UTF-8 (under errors="strict"), an output that
            would replace an input, or an existing output without overwrite.
    """
    if unit not in tuple(Unit) or errors not in tuple(DecodeErrors):
        raise ValueError("unit is 'line' or 'file'; errors is 'strict' or 'replace'")
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
        sources = open_sources(paths, spool)
        outputs = plan_outputs(sources, out_dir, report, overwrite)
        groups, counts, unique = ExactGroups(), [], []
        total = sum(s.path.stat().st_size for s in sources)
        from tqdm.auto import tqdm

        with tqdm(total=total, desc="reading", unit="B", unit_scale=True, leave=False,
                  disable=not progress) as bar:
            for source in sources:
                count = done = 0
                for raw, text in iter_records(source, unit, errors):
                    if groups.add(text):
                        unique.append(text[:max_chars])
                    count += 1
                    done += len(raw)
                    if count % 16384 == 0:
                        bar.update(done)
                        done = 0
                counts.append(count)
                bar.update(done)
        clock = _Clock(started)
        clock("read")
        dup_of, best = get_engine(engine).near_duplicates(unique, encoder, scoring, config or DedupConfig(),
                                                          progress, on_stage=clock)
        del unique
        blank = int(np.count_nonzero(np.frombuffer(groups.unique_of, dtype=np.int64) < 0)) \
            if len(groups.unique_of) else 0
        result = resolve(groups, dup_of, best, scoring.threshold)
        del groups
        written = write_outputs(sources, counts, result, outputs, report, unit, errors)
        clock("write")
    return DedupSummary(len(result.duplicate_of), blank, result.n_exact, result.n_near, written,
                        time.perf_counter() - started, scoring.threshold, clock.stages)


class _Clock:
    """Seconds since the previous call, per stage name."""

    def __init__(self, start: float) -> None:
        self.last, self.stages = start, {}

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + now - self.last
        self.last = now


def write_outputs(sources: Sequence[Source], counts: Sequence[int], result: DedupResult,
                  outputs: Sequence[Path], report: Path | None, unit: str, errors: str) -> int:
    """Second pass: kept records into temporary outputs and removed ones into the report;
    then every temporary file is renamed into place. On any failure none is left behind.

    Returns:
        The number of output files written (with unit="file", removed files get none).
    """
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)  # first record of each source
    dup_of = result.duplicate_of
    twins = set(np.unique(dup_of[dup_of >= 0]).tolist())  # kept records some removed one points at
    twin_text: dict[int, str] = {}
    temps: list[tuple[Path, Path]] = []
    rep = _temp_for(report) if report is not None else None
    try:
        rep_fh = open(rep, "w", encoding="utf-8", newline="\n") if rep is not None else None
        try:
            for f, source in enumerate(sources):
                out_fh = None
                if outputs and (unit == "line" or counts[f] == 0 or dup_of[starts[f]] < 0):
                    temps.append((_temp_for(outputs[f]), outputs[f]))
                    out_fh = open(temps[-1][0], "wb")
                try:
                    for offset, (raw, text) in enumerate(iter_records(source, unit, errors)):
                        g = int(starts[f]) + offset
                        if dup_of[g] < 0:
                            if out_fh is not None:
                                _write_kept(out_fh, raw)
                            if g in twins:
                                twin_text[g] = text
                        elif rep_fh is not None:
                            rep_fh.write(_report_line(g, text, result, twin_text, sources, starts, unit))
                finally:
                    if out_fh is not None:
                        out_fh.close()
                if out_fh is not None:
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


def _where(g: int, sources: Sequence[Source], starts: np.ndarray, unit: str) -> tuple[str, int | None]:
    f = int(np.searchsorted(starts, g, side="right")) - 1
    return sources[f].name, (g - int(starts[f]) + 1 if unit == "line" else None)


def _report_line(g: int, text: str, result: DedupResult, twin_text: dict[int, str],
                 sources: Sequence[Source], starts: np.ndarray, unit: str) -> str:
    twin = int(result.duplicate_of[g])
    file, line = _where(g, sources, starts, unit)
    twin_file, twin_line = _where(twin, sources, starts, unit)
    return json.dumps({
        "file": file, "line": line, "text": text,
        "duplicate_of": {"file": twin_file, "line": twin_line, "text": twin_text[twin]},
        "score": round(float(result.scores[g]), 6), "exact": bool(result.exact[g]),
    }, ensure_ascii=False) + "\n"
