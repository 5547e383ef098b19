"""Commands for text collections: dedup, index, search. Light: NumPy and faiss, no torch."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from siamese_text.cli.common import (AddressOption, BackendOption, EngineName, Int8Option, JsonOption, ModelOption,
                                     ThreadsOption, fail, load_model, note, switch_backend, user_errors)
from siamese_text.corpora.records import Format
from siamese_text.dedup.files import DecodeErrors, OnBad, Unit
from siamese_text.dedup.stages import DedupConfig

ProgressOption = Annotated[bool, typer.Option(help="Progress bars on stderr (when it is a terminal).")]


def dedup(
    files: Annotated[list[Path], typer.Argument(help="Files, folders of shards (their files, sorted) or globs "
                     "('-' reads stdin).", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the deduplicated files "
                   "(same names and format as the inputs).", show_default=False)] = None,
    report: Annotated[Optional[Path], typer.Option(help="JSONL file (Parquet if it ends in .parquet): one entry "
                      "per removed record, with the kept record it duplicates, and per bad record.",
                      show_default=False)] = None,
    threshold: Annotated[Optional[float], typer.Option(help="Probability at or above which two records are "
                         "duplicates (default: the model's).", show_default=False)] = None,
    unit: Annotated[Unit, typer.Option(help="A record of a text file is a line, or the whole file "
                    "(--unit file is --format file).")] = Unit.line,
    record_format: Annotated[Format, typer.Option("--format", help="How the inputs hold records; auto: from "
                             "the extension (.jsonl/.json/.ndjson, .csv, .tsv, .parquet; else lines).")]
    = Format.auto,
    text_field: Annotated[Optional[list[str]], typer.Option("--text-field", help="The field (JSONL, Parquet) or "
                          "column (CSV, TSV) holding the text; repeat it to join several fields with a "
                          "newline. Required for record formats.", show_default=False)] = None,
    id_field: Annotated[Optional[str], typer.Option("--id-field", help="A field naming each record in the "
                        "report, beside its file and record number.", show_default=False)] = None,
    on_bad: Annotated[OnBad, typer.Option("--on-bad", help="A record that cannot be read (not JSON, no text "
                      "field, wrong number of CSV fields): stop with an error, or skip deduplicating it "
                      "(written through unchanged, counted, listed in the report).")] = OnBad.error,
    errors: Annotated[DecodeErrors, typer.Option(help="Invalid UTF-8: stop with an error, or replace the "
                      "bad bytes with U+FFFD for comparison (outputs stay byte-identical).")] = DecodeErrors.strict,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write only the report.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files (never an input).")] = False,
    model: ModelOption = None,
    backend: BackendOption = None,
    int8: Int8Option = False,
    progress: ProgressOption = True,
    threads: Annotated[int, typer.Option(help="Threads for the encoder and the index (0 = the library "
                       "default); one is often fastest on a busy machine.", min=0)] = DedupConfig.threads,
    workers: Annotated[int, typer.Option(help="Processes that embed at once, one thread each (0 = the CPUs "
                       "this process may use).", min=0)] = DedupConfig.workers,
    engine: Annotated[EngineName, typer.Option(help="Who runs the near-duplicate stages: this machine, or "
                      "Ray Data (the ray extra).")] = EngineName.local,
    address: AddressOption = None,
) -> None:
    """Remove exact and near-duplicate records, keeping the first of each group.

    Writes one file per input under --out with the kept records, unchanged and in order: lines
    and JSONL/CSV/TSV records byte-identical (CSV/TSV after their header), Parquet rows under the
    same schema. Blank lines are always kept. A record is removed only as a duplicate of an
    earlier record that is kept; records are ordered by input, then by position.
    """
    from siamese_text.dedup.engine import get_engine
    from siamese_text.dedup.files import dedup_files

    with user_errors():
        if out is None and not dry_run:
            raise fail("give --out DIR for the deduplicated files (or --dry-run)", 2)
        if address is not None and engine != EngineName.ray:
            raise fail("--address goes with --engine ray", 2)
        runner = get_engine(engine.value, address=address) if address is not None else get_engine(engine.value)
        s = dedup_files([str(f) for f in files], None if dry_run else out, report,
                        load_model(model, backend, int8, threads or None), threshold,
                        unit.value, errors.value, overwrite, progress and sys.stderr.isatty(),
                        DedupConfig(threads=threads, workers=workers), runner, format=record_format.value,
                        text_fields=tuple(text_field or ()), id_field=id_field, on_bad=on_bad.value)
        note(f"{s.records:,} records read ({s.blank:,} blank): kept {s.kept:,}, removed "
             f"{s.exact_removed:,} exact and {s.near_removed:,} near duplicates (threshold "
             f"{s.threshold:.4f}) in {s.seconds:.1f} s")
        if s.bad:
            note(f"{s.bad:,} bad record(s) not deduplicated: written through unchanged"
                 + (", listed in the report" if report is not None else ""))
        note("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in s.stages.items()))
        if not dry_run:
            note(f"wrote {s.files_written} file(s) to {out}")
        if report is not None:
            note(f"report: {report}")


def index(
    source: Annotated[Path, typer.Argument(help="Text file, one record per line ('-' reads stdin).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Index folder to write.")],
    model: ModelOption = None,
    backend: BackendOption = None,
    int8: Int8Option = False,
    threads: ThreadsOption = None,
    errors: Annotated[DecodeErrors, typer.Option(help="Invalid UTF-8: stop, or replace bad bytes.")]
    = DecodeErrors.strict,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing index folder.")] = False,
    progress: ProgressOption = True,
) -> None:
    """Build a persistent search index of a text collection (blank and repeated lines skipped)."""
    from siamese_text.dedup.collection import index_file

    with user_errors():
        built = index_file(source, out, model=load_model(model, backend, int8, threads), model_path=model,
                           errors=errors, overwrite=overwrite, progress=progress and sys.stderr.isatty())
        note(f"indexed {len(built.index):,} distinct texts from {built.lines:,} lines "
             f"({'exact' if built.index.meta['exact'] else 'IVF'} search) into {out}")


def search(
    index_dir: Annotated[Path, typer.Argument(help="Folder written by `siamese-text index`.")],
    query: Annotated[str, typer.Argument(help="The text to look for.")],
    k: Annotated[int, typer.Option("-k", help="How many results.", min=1)] = 5,
    model: ModelOption = None,
    as_json: JsonOption = False,
    backend: BackendOption = None,
    int8: Int8Option = False,
    threads: ThreadsOption = None,
) -> None:
    """The indexed records nearest to QUERY, with their probability of being a duplicate."""
    from siamese_text.dedup.search import TextIndex
    from siamese_text.evaluation.pair_stream import check_text

    with user_errors():
        check_text(query, "the query")
        found = TextIndex.load(index_dir, model_path=model)
        found.model = switch_backend(found.model, model or found.meta.get("model"), backend, int8, threads)
        hits = found.search(query, k)
        for rank, hit in enumerate(hits, start=1):
            if as_json:
                typer.echo(json.dumps({"rank": rank, "line": hit.line, "text": hit.text,
                                       "score": round(hit.score, 6), "duplicate": hit.duplicate},
                                      ensure_ascii=False))
            else:
                typer.echo(f"{rank}\t{hit.score:.4f}\t{'duplicate' if hit.duplicate else 'different'}\t"
                           f"line {hit.line}\t{hit.text}")
