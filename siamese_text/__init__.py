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
    "SiameseModel": "model.siamese",
    "Pair": "corpora.pairs",
    "Triplet": "corpora.pairs",
    "TrainConfig": "training.trainer",
    "Trainer": "training.trainer",
    "EncoderConfig": "model.torch_encoder",
    "SiameseTextError": "errors",
    "Match": "model.siamese",
    "TextEncoder": "integrations.encoder_protocol",
    "SiameseClassifier": "integrations.sklearn_estimator",
}

if TYPE_CHECKING:  # pragma: no cover
    from .model.folder import EncoderConfig
    from .errors import SiameseTextError
    from .integrations.sklearn_estimator import SiameseClassifier
    from .model.siamese import Match, SiameseModel
    from .corpora.pairs import Pair, Triplet
    from .integrations.encoder_protocol import TextEncoder
    from .training.trainer import TrainConfig, Trainer


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'siamese_text' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
