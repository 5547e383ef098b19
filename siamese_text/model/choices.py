"""Choices of the encoder offered as options (a str Enum shows as `<a|b|c>` in `--help`).

`Pooling` names how the BiLSTM's token states become one vector; EncoderConfig.pooling holds one
of its values (folder.POOLINGS lists the same names for the checks of config.json).
"""

from __future__ import annotations

from enum import Enum


class Pooling(str, Enum):
    """How the token states of a text become one vector."""

    mean = "mean"
    max = "max"
    last = "last"  # the final forward state and the first backward state
