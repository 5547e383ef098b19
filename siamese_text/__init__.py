"""siamese-text: decide whether two texts mean the same thing with a Siamese BiLSTM.

    >>> from siamese_text import SiameseModel
    >>> model = SiameseModel.load()          # the bundled default model
    >>> model.similarity("How do I learn Python?", "What is the best way to learn Python?")

Names are imported lazily, so `import siamese_text` loads neither torch nor spaCy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "SiameseModel",
    "Pair",
    "Triplet",
    "TrainConfig",
    "Trainer",
    "EncoderConfig",
    "SiameseTextError",
    "Match",
    "TextEncoder",
    "SiameseClassifier",
]

_WHERE = {
    "SiameseModel": "model",
    "Pair": "pairs",
    "Triplet": "pairs",
    "TrainConfig": "train",
    "Trainer": "train",
    "EncoderConfig": "encoder",
    "SiameseTextError": "errors",
    "Match": "model",
    "TextEncoder": "protocols",
    "SiameseClassifier": "estimator",
}

if TYPE_CHECKING:  # pragma: no cover
    from .encoder import EncoderConfig
    from .errors import SiameseTextError
    from .estimator import SiameseClassifier
    from .model import Match, SiameseModel
    from .pairs import Pair, Triplet
    from .protocols import TextEncoder
    from .train import TrainConfig, Trainer


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'siamese_text' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
