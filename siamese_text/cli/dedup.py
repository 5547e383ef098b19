"""Commands for text collections: dedup, index, search. Light: NumPy and faiss, no torch."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from siamese_text.cli.common import JsonOption, ModelOption, fail, load_model, note, user_errors
from siamese_text.dedup.files import DecodeErrors, Unit
from siamese_text.dedup.stages import DedupConfig

ProgressOption = Annotated[bool, typer.Option(help="Progress bars on stderr (when it is a terminal).")]


def dedup(
    files: Annotated[list[Path], typer.Argument(help="UTF-8 text files ('-' reads stdin).", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the deduplicated files "
                   "(same names as the inputs).", show_default=False)] = None,
    report: Annotated[Optional[Path], typer.Option(help="JSONL file: one line per removed record, with the "
                      "kept record it duplicates.", show_default=False)] = None,
    threshold: Annotated[Optional[float], typer.Option(help="Probability at or above which two records are "
                         "duplicates (default: the model's).", show_default=False)] = None,
    unit: Annotated[Unit, typer.Option(help="A record is a line, or a whole file.")] = Unit.line,
    errors: Annotated[DecodeErrors, typer.Option(help="Invalid UTF-8: stop with an error, or replace the "
                      "bad bytes with U+FFFD for comparison (outputs stay byte-identical).")] = DecodeErrors.strict,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write only the report.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files (never an input).")] = False,
    model: ModelOption = None,
    progress: ProgressOption = True,
    threads: Annotated[int, typer.Option(help="Threads for the encoder and the index (0 = the library "
                       "default); one is often fastest on a busy machine.", min=0)] = DedupConfig.threads,
    workers: Annotated[int, typer.Option(help="Processes that embed at once, one thread each (0 = the CPUs "
                       "this process may use).", min=0)] = DedupConfig.workers,
) -> None:
    """Remove exact and near-duplicate records, keeping the first of each group.

    Writes one file per input under --out with the kept lines, byte-identical and in order.
    Blank lines are always kept. A record is removed only as a duplicate of an earlier record
    that is kept.
    """
    from siamese_text.dedup.files import dedup_files

    with user_errors():
        if out is None and not dry_run:
            raise fail("give --out DIR for the deduplicated files (or --dry-run)", 2)
        s = dedup_files([str(f) for f in files], None if dry_run else out, report, load_model(model), threshold,
                        unit.value, errors.value, overwrite, progress and sys.stderr.isatty(),
                        DedupConfig(threads=threads, workers=workers))
        note(f"{s.records:,} records read ({s.blank:,} blank): kept {s.kept:,}, removed "
             f"{s.exact_removed:,} exact and {s.near_removed:,} near duplicates (threshold "
             f"{s.threshold:.4f}) in {s.seconds:.1f} s")
        note("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in s.stages.items()))
        if not dry_run:
            note(f"wrote {s.files_written} file(s) to {out}")
        if report is not None:
            note(f"report: {report}")


def index(
    source: Annotated[Path, typer.Argument(help="Text file, one record per line ('-' reads stdin).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Index folder to write.")],
    model: ModelOption = None,
    errors: Annotated[DecodeErrors, typer.Option(help="Invalid UTF-8: stop, or replace bad bytes.")]
    = DecodeErrors.strict,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing index folder.")] = False,
    progress: ProgressOption = True,
) -> None:
    """Build a persistent search index of a text collection (blank and repeated lines skipped)."""
    from siamese_text.dedup.collection import index_file

    with user_errors():
        built = index_file(source, out, model_path=model, errors=errors, overwrite=overwrite,
                           progress=progress and sys.stderr.isatty())
        note(f"indexed {len(built.index):,} distinct texts from {built.lines:,} lines "
             f"({'exact' if built.index.meta['exact'] else 'IVF'} search) into {out}")


def search(
    index_dir: Annotated[Path, typer.Argument(help="Folder written by `siamese-text index`.")],
    query: Annotated[str, typer.Argument(help="The text to look for.")],
    k: Annotated[int, typer.Option("-k", help="How many results.", min=1)] = 5,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """The indexed records nearest to QUERY, with their probability of being a duplicate."""
    from siamese_text.dedup.search import TextIndex
    from siamese_text.evaluation.pair_stream import check_text

    with user_errors():
        check_text(query, "the query")
        hits = TextIndex.load(index_dir, model_path=model).search(query, k)
        for rank, hit in enumerate(hits, start=1):
            if as_json:
                typer.echo(json.dumps({"rank": rank, "line": hit.line, "text": hit.text,
                                       "score": round(hit.score, 6), "duplicate": hit.duplicate},
                                      ensure_ascii=False))
            else:
                typer.echo(f"{rank}\t{hit.score:.4f}\t{'duplicate' if hit.duplicate else 'different'}\t"
                           f"line {hit.line}\t{hit.text}")
