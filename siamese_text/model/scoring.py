"""What a model does once it can measure the energy of a pair: probabilities and verdicts.

`SiameseModel` (torch) and `FastModel` (NumPy only) both derive from `PairScorer`, so the two
inference paths share one definition of the text side (tokenizer, vocabulary, features), of the
calibrated probability and of the verdict at the stored threshold. Imports neither torch nor spaCy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from siamese_text.model.calibration import Calibration
from siamese_text.text.features import Featurizer
from siamese_text.text.tokenizer import Tokenizer, TokenizerConfig
from siamese_text.text.vocab import Vocab


class PairScorer:
    """Base of the model classes; a subclass implements `energies`.

    Attributes set by `_set_text_side`: vocab, energy, calibration, threshold, tokenizer,
    featurizer, meta.
    """

    batch_size = 256  # texts per forward pass when a caller does not say

    def _set_text_side(self, vocab: Vocab, energy: Any, calibration: Calibration | None, threshold: float,
                       tokenizer_config: TokenizerConfig | None, encoder_config: Any,
                       meta: dict[str, Any] | None) -> None:
        self.vocab = vocab
        self.energy = energy
        self.calibration = calibration or Calibration()
        self.threshold = float(threshold)
        self.tokenizer = Tokenizer(tokenizer_config)
        self.featurizer = Featurizer(self.tokenizer, vocab, encoder_config)
        self.meta = dict(meta or {})

    def energies(self, texts_a: Sequence[str], texts_b: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Energy of each pair (texts_a[i], texts_b[i]); lower = more alike. -> (N,)"""
        raise NotImplementedError

    def probabilities(self, texts_a: Sequence[str], texts_b: Sequence[str],
                      batch_size: int | None = None) -> np.ndarray:
        """Calibrated probability that each pair means the same. -> (N,) in [0, 1]"""
        return self.calibration(self.energies(texts_a, texts_b, batch_size))

    def similarity(self, a: str, b: str) -> float:
        """Calibrated probability in [0, 1] that texts a and b mean the same thing."""
        return float(self.probabilities([a], [b])[0])

    def predict(self, texts_a: Sequence[str], texts_b: Sequence[str]) -> np.ndarray:
        """Verdict of each pair at the stored threshold. -> (N,) bool"""
        return self.probabilities(texts_a, texts_b) >= self.threshold

    def is_paraphrase(self, a: str, b: str) -> bool:
        """True when the probability that a and b mean the same reaches the stored threshold."""
        return self.similarity(a, b) >= self.threshold
