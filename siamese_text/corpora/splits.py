"""Split routing: labelled pairs into training, validation and test parts.

Either one file is cut into three parts, or a separate validation file is given and the file is
cut into training and test parts only. Parts never share a text (`pairs.split_pairs`), so
validation and test numbers are not flattered by texts the model trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from siamese_text.corpora.labelled import PairSource, read_labelled
from siamese_text.corpora.pairs import Pair, split_pairs
from siamese_text.errors import ArgumentError


@dataclass(frozen=True)
class SplitConfig:
    """How one labelled file is cut."""

    valid_fraction: float = 0.15  # for early stopping and calibration (unused with a validation file)
    test_fraction: float = 0.0  # held out untouched and reported once, at the end
    seed: int = 0  # the same seed gives the same parts

    def __post_init__(self) -> None:
        if not 0.0 <= self.test_fraction < 1.0 or not 0.0 <= self.valid_fraction < 1.0 \
                or self.valid_fraction + self.test_fraction >= 1.0:
            raise ArgumentError(f"the validation ({self.valid_fraction}) and test ({self.test_fraction}) "
                                   f"fractions must lie in [0, 1) and leave some pairs for training")


@dataclass(frozen=True)
class Parts:
    """Training, validation and test pairs, and what was left out while reading."""

    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]
    seed: int = 0
    skipped_lines: list[int] = field(default_factory=list)  # lines of the file with an empty text

    def sizes(self) -> dict[str, int]:
        """The split as a model's meta records it."""
        return {"seed": self.seed, "train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


def split_parts(pairs: Sequence[Pair], config: SplitConfig = SplitConfig(),
                valid: Sequence[Pair] | None = None) -> Parts:
    """Cut `pairs` into parts with no text in two of them.

    Args:
        valid: validation pairs from elsewhere; `pairs` then gives only training and test parts.
    """
    test = config.test_fraction
    if valid is not None:
        train, held = split_pairs(pairs, [1 - test, test], config.seed) if test else (list(pairs), [])
        return Parts(train, list(valid), held, config.seed)
    rest = round(1 - config.valid_fraction - test, 9)  # 0.65, not 0.6500000000000001
    train, valid_part, held = split_pairs(pairs, [rest, config.valid_fraction, test], config.seed)
    return Parts(train, valid_part, held, config.seed)


def read_parts(source: PairSource, config: SplitConfig = SplitConfig(),
               valid: str | Path | None = None) -> Parts:
    """Read `source` (and the validation file `valid`, read the same way) and split it.

    Graded corpora are cut into 0/1 labels at `source.cut`.
    """
    corpus = read_labelled(source)
    valid_pairs = read_labelled(source.at(valid)).pairs if valid is not None else None
    parts = split_parts(corpus.pairs, config, valid_pairs)
    return Parts(parts.train, parts.valid, parts.test, parts.seed, list(corpus.skipped_lines))
