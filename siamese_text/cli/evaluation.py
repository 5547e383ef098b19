"""The command for judging a model on labelled pairs: evaluate (needs scikit-learn, not torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from siamese_text.cli.common import ModelOption, load_model, note, pair_source, skipped, user_errors
from siamese_text.cli.corpus_options import (BinarizeOption, FormatOption, LabelOption, SplitOption, TextAOption,
                                              TextBOption)
from siamese_text.corpora.formats import CorpusFormat
from siamese_text.evaluation.run import BATCH_SIZE


def evaluate(
    data: Annotated[Path, typer.Argument(help="Labelled pairs file.")],
    fmt: FormatOption = CorpusFormat.tsv,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write PNG plots (ROC, precision-recall, "
                      "energy histograms, reliability) into this folder; needs matplotlib.",
                      show_default=False)] = None,
    text_a: TextAOption = None,
    text_b: TextBOption = None,
    label: LabelOption = None,
    split: SplitOption = None,
    binarize: BinarizeOption = None,
    overwrite: Annotated[bool, typer.Option(help="Write --report into a folder that already has files.")] = False,
    batch_size: Annotated[int, typer.Option(help="Texts per forward pass.", min=1)] = BATCH_SIZE,
) -> None:
    """Accuracy, precision, recall, F1 (at the stored and the best threshold), ROC-AUC, average
    precision, log loss, Brier score and calibration error of a model on labelled pairs; Pearson and
    Spearman on graded corpora. With --report, also PNG plots.
    """
    from siamese_text.evaluation.metrics import format_metrics
    from siamese_text.evaluation.run import evaluate_file

    with user_errors():
        source = pair_source(data, fmt, text_a, text_b, label, split, binarize)
        result = evaluate_file(load_model(model), source, batch_size=batch_size, report=report, overwrite=overwrite)
        skipped(result.skipped_lines)
        if report is not None:
            note(f"wrote {len(result.plots)} plots to {report}")
        typer.echo(json.dumps(result.metrics) if as_json else format_metrics(result.metrics))
