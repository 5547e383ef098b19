"""Scoring pairs as `siamese-text score` does: one pair, or a pair file streamed in batches.

A pair file of any length is read, scored and given back batch by batch (memory O(batch)).
Imports neither torch nor scikit-learn: scoring is part of the light core.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from siamese_text.corpora.pairs import Pair, PairFormat, iter_pairs
from siamese_text.errors import InputError, InputFileError

MAX_TEXT_CHARS = 100_000  # a longer text is refused (a 1 MB line is a mistake, not a question)
BATCH_SIZE = 512  # pairs of a file scored together


@dataclass(frozen=True)
class PairScore:
    """What the model says about one pair; numbers rounded to 6 decimals (as printed)."""

    probability: float  # calibrated probability of the same meaning
    duplicate: bool  # probability >= threshold (before rounding)
    energy: float  # raw distance, lower = more alike
    threshold: float  # the model's stored threshold
    label: int | None = None  # the pair file's label, when it has one

    def to_dict(self) -> dict:
        """The JSON object `score --json` prints (no "label" key for an unlabelled pair)."""
        out = asdict(self)
        if self.label is None:
            del out["label"]
        return out


def check_text(text: str, what: str) -> None:
    """Refuse an empty text, or one over MAX_TEXT_CHARS, with a SiameseTextError naming `what`."""
    if not text.strip():
        raise InputError(f"{what} is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"{what} is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}")


def _score(probability: float, energy: float, threshold: float, label: float | None = None) -> PairScore:
    known = label is not None and not (isinstance(label, float) and math.isnan(label))
    return PairScore(round(float(probability), 6), bool(probability >= threshold), round(float(energy), 6),
                     round(float(threshold), 6), int(label) if known else None)


def score_pair(model, text_a: str, text_b: str) -> PairScore:
    """Score two texts (each checked by `check_text`)."""
    check_text(text_a, "text A")
    check_text(text_b, "text B")
    energy = float(model.energies([text_a], [text_b])[0])
    return _score(float(model.calibration(energy)), energy, model.threshold)


class PairStream:
    """The pairs of a file, scored in batches; iterate to get one PairScore per pair, in order.

    After the iteration, `pairs` counts the pairs, `labelled` those with a label and `correct`
    those whose verdict matches it.

    Args:
        model: anything with energies(texts_a, texts_b), calibration and threshold.
        path: the pair file ("-" = standard input).
        fmt: its layout.
        batch_size: pairs scored together.
    Raises (while iterating):
        SiameseTextError: a malformed line, a text over MAX_TEXT_CHARS, or no pair at all.
    """

    def __init__(self, model, path: str | Path, fmt: PairFormat | str = PairFormat.tsv,
                 batch_size: int = BATCH_SIZE) -> None:
        self.model, self.path, self.fmt, self.batch_size = model, path, PairFormat(fmt), batch_size
        self.pairs = self.labelled = self.correct = 0

    @property
    def accuracy(self) -> float:
        """Share of the labelled pairs whose verdict matches the label (NaN without labels)."""
        return self.correct / self.labelled if self.labelled else float("nan")

    def __iter__(self) -> Iterator[PairScore]:
        buffer: list[Pair] = []
        for pair in iter_pairs(self.path, self.fmt.value):
            self.pairs += 1
            for text, side in ((pair.a, "A"), (pair.b, "B")):
                if len(text) > MAX_TEXT_CHARS:
                    raise InputFileError(f"{self.path}: pair {self.pairs}: text {side} is {len(text):,} "
                                           f"characters long; the limit is {MAX_TEXT_CHARS:,}")
            buffer.append(pair)
            if len(buffer) >= self.batch_size:
                yield from self._flush(buffer)
        yield from self._flush(buffer)
        if self.pairs == 0:
            raise InputFileError(f"{self.path}: no pairs in the file")

    def _flush(self, buffer: list[Pair]) -> Iterator[PairScore]:
        if not buffer:
            return
        energies = self.model.energies([p.a for p in buffer], [p.b for p in buffer])
        scores = [_score(float(self.model.calibration(float(e))), float(e), self.model.threshold, p.label)
                  for p, e in zip(buffer, energies)]
        buffer.clear()
        for s in scores:
            if s.label is not None:
                self.labelled += 1
                self.correct += int(s.duplicate == bool(s.label))
            yield s
