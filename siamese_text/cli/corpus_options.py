"""How `train`, `evaluate` and `distill` name labelled pairs: the same options on all three.

Kept apart from common.py so that the commands that read no corpus (`score` above all) do not
import the corpus readers.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from siamese_text.corpora.formats import CorpusFormat

# one reader behind them all: corpora/labelled.py
FormatOption = Annotated[CorpusFormat, typer.Option("--format", help="Layout of DATA (see corpora/ for each; "
                                                    "graded corpora are cut at --binarize).")]
TextAOption = Annotated[Optional[str], typer.Option("--text-a", help="Column of the first text (tsv with a "
                        "header, csv, jsonl).", show_default=False)]
TextBOption = Annotated[Optional[str], typer.Option("--text-b", help="Column of the second text.",
                        show_default=False)]
LabelOption = Annotated[Optional[str], typer.Option("--label", help="Column of the label.", show_default=False)]
SplitOption = Annotated[Optional[str], typer.Option(help="Only rows of this split (SICK: TRAIN, TRIAL, TEST).",
                        show_default=False)]
BinarizeOption = Annotated[Optional[float], typer.Option(help="Graded corpora: gold score >= this counts as the "
                           "same meaning (default: 4.0 for stsb and sick-relatedness).", show_default=False)]
