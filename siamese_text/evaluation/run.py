"""Evaluate a model on a labelled file (`siamese-text evaluate`), and the step that ends training:
evaluate on the untouched test pairs, record provenance, save the folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siamese_text.corpora.labelled import PairSource, read_labelled
from siamese_text.corpora.pairs import Pair
from siamese_text.errors import OutputError
from siamese_text.evaluation.metrics import evaluate_pairs, json_ready, metrics, score_pairs

BATCH_SIZE = 256  # texts per forward pass while evaluating


@dataclass(frozen=True)
class Evaluation:
    """What `evaluate_file` found."""

    metrics: dict[str, Any]  # binary_metrics (+ graded ones), NaN as None: ready for JSON
    pairs: int  # pairs evaluated
    skipped_lines: list[int] = field(default_factory=list)  # lines left out for an empty text
    plots: list[Path] = field(default_factory=list)  # PNG files written (with a report folder)


def evaluate_file(model, source: PairSource, batch_size: int = BATCH_SIZE, report: str | Path | None = None,
                  overwrite: bool = False) -> Evaluation:
    """Every metric of `model` on the labelled pairs of `source`, and optionally PNG plots.

    Graded corpora are scored against 0/1 labels cut at `source.cut`, and correlated with the
    gold scores (Pearson, Spearman).

    Args:
        report: a folder for the plots (ROC, precision-recall, energy histograms, reliability);
            needs matplotlib.
        overwrite: write the plots into a report folder that already holds files.
    """
    if report is not None:
        report = Path(report)
        if report.exists() and (not report.is_dir() or any(report.iterdir())) and not overwrite:
            raise OutputError(f"{report}: exists and is not an empty folder (pass --overwrite to write "
                                   f"the plots into it)")
    corpus = read_labelled(source, keep_scores=True)
    scored = score_pairs(model, corpus.pairs, binarize=source.cut, batch_size=batch_size)
    plots = []
    if report is not None:
        from siamese_text.evaluation.plots import write_report

        plots = write_report(scored, report, title=f"{source.name} ({source.fmt}, {len(corpus.pairs):,} pairs)")
    return Evaluation(json_ready(metrics(scored, source.cut)), len(corpus.pairs), list(corpus.skipped_lines),
                      list(plots))


def evaluate_and_save(model, out: str | Path, test_pairs: Sequence[Pair], split: dict[str, int], command: str,
                  fp16: bool = False) -> dict[str, Any] | None:
    """Record how the model was made, evaluate it on held-out test pairs, save its folder.

    Args:
        model: a trained, calibrated SiameseModel; its meta gains "command", "split" and, with
            test pairs, "test" (their metrics).
        test_pairs: pairs no training step has seen (may be empty).
        split: the sizes of the parts (Parts.sizes()).
        command: the command line that made the model.
        fp16: store the weights as float16.
    Returns:
        The test metrics, or None without test pairs.
    """
    model.meta["command"] = command
    model.meta["split"] = split
    if test_pairs:
        model.meta["test"] = evaluate_pairs(model, test_pairs)
    model.save(out, dtype="float16" if fp16 else "float32", network=True)  # with encoder.onnx when exportable
    return model.meta.get("test")

