"""Labelled pairs from a corpus file: the one reader that `train` and `evaluate` share.

Both commands take the same options (--format, --text-a, --text-b, --label, --split,
--binarize), gather them into a `PairSource` and read it with `read_labelled`, so a file that
evaluates also trains. Graded corpora (STS-B, SICK relatedness) are cut into 0/1 labels at
`PairSource.cut` for training; evaluation keeps the gold scores as well, for correlations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from siamese_text.corpora.formats import DEFAULT_BINARIZE, FORMATS, GRADED_FORMATS, Corpus, CorpusFormat, read_corpus
from siamese_text.errors import ArgumentError


@dataclass(frozen=True)
class PairSource:
    """Where labelled pairs come from and how to read them.

    Attributes:
        path: the file, or `hub:NAME[:CONFIG]` (see formats.read_corpus).
        fmt: a CorpusFormat value.
        text_a, text_b, label: column names (tsv with a header, csv, jsonl), overriding the guess.
        split: keep only rows of this split (SICK: TRAIN, TRIAL, TEST).
        binarize: graded corpora: gold score >= this counts as the same meaning
            (default: DEFAULT_BINARIZE of the format).
    """

    path: str | Path
    fmt: str = CorpusFormat.tsv.value
    text_a: str | None = None
    text_b: str | None = None
    label: str | None = None
    split: str | None = None
    binarize: float | None = None

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise ArgumentError(f"unknown corpus format {self.fmt!r}; expected one of {', '.join(FORMATS)}")
        object.__setattr__(self, "fmt", CorpusFormat(self.fmt).value)  # a plain str in messages and meta
        if self.binarize is not None and not self.graded:
            raise ArgumentError(f"--binarize applies to graded corpora ({', '.join(sorted(GRADED_FORMATS))}), "
                                   f"not {self.fmt}")

    @property
    def graded(self) -> bool:
        """True when the labels are scores (STS-B, SICK relatedness), not 0/1."""
        return self.fmt in GRADED_FORMATS

    @property
    def cut(self) -> float | None:
        """Gold score at or above which a graded pair means the same; None for 0/1 labels."""
        if not self.graded:
            return None
        return self.binarize if self.binarize is not None else DEFAULT_BINARIZE[self.fmt]

    @property
    def name(self) -> str:
        """The file's name, as provenance and plot titles show it."""
        return Path(self.path).name

    def at(self, path: str | Path) -> "PairSource":
        """Another file read the same way (e.g. a separate validation file)."""
        return replace(self, path=path)


def read_labelled(source: PairSource, keep_scores: bool = False) -> Corpus:
    """Read the labelled pairs of `source`.

    Args:
        keep_scores: graded corpora keep their gold score in `Pair.label` (evaluation reports
            correlations and cuts at `source.cut` itself); otherwise every label is 0 or 1.
    Returns:
        The Corpus: its pairs, and the lines left out because a text was empty.
    Raises:
        SiameseTextError: one line naming the file (and line) for any malformed input.
    """
    return read_corpus(source.path, source.fmt, text_a=source.text_a, text_b=source.text_b, label=source.label,
                       split=source.split, binarize=None if keep_scores else source.cut)
