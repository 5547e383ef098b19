"""Tiny worlds built in-process: a dozen hand-written pairs and an 8-dimensional model."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import torch

from siamese_text.model.calibration import Calibration
from siamese_text.model.folder import EncoderConfig
from siamese_text.model.torch_encoder import Encoder
from siamese_text.model.siamese import SiameseModel
from siamese_text.corpora.pairs import Pair
from siamese_text.text.vocab import Vocab

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

TOY_PAIRS = [
    Pair("How do I learn Python?", "What is the best way to learn Python?", 1),
    Pair("How do I learn Python?", "How do I bake bread at home?", 0),
    Pair("Is it going to rain today?", "Will it rain today?", 1),
    Pair("Is it going to rain today?", "Is it not going to rain today?", 0),
    Pair("I like cats.", "I love cats.", 1),
    Pair("I like cats.", "I never liked cats.", 0),
    Pair("What is the capital of France?", "Which city is the capital of France?", 1),
    Pair("What is the capital of France?", "What is the population of France?", 0),
    Pair("How can I lose weight fast?", "What is the fastest way to lose weight?", 1),
    Pair("How can I lose weight fast?", "How can I gain weight fast?", 0),
    Pair("Where can I buy a cheap laptop?", "Where do I find an inexpensive laptop?", 1),
    Pair("Where can I buy a cheap laptop?", "Where can I sell my old laptop?", 0),
]


def require_data(path: Path) -> Path:
    """`path` when it exists; else skip the test, or fail it under CI=true, where a missing data
    file is a broken layout, not a reason to test less."""
    if not path.exists():
        message = f"{path} is not available"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI must have it)", pytrace=False)
        pytest.skip(message)
    return path


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data; see `require_data` for when it is absent."""
    return require_data(SHARED_DATA.joinpath(*parts))


def make_tiny_model(subword_buckets: int = 64, pooling: str = "mean", energy: str = "cosine",
                    seed: int = 0) -> SiameseModel:
    """A ten-odd-token vocabulary and an 8-dimensional BiLSTM, random weights."""
    torch.manual_seed(seed)
    vocab = Vocab(["<pad>", "<unk>", "how", "do", "i", "learn", "python", "?", "bake", "bread", "not", "cats"])
    config = EncoderConfig(vocab_size=len(vocab), embedding_dim=8, hidden_size=4, pooling=pooling,
                           subword_buckets=subword_buckets, dropout=0.0)
    calibration = Calibration(method="platt", a=-4.0, b=2.0, fitted_on="hand-set for tests")  # a fitted one
    return SiameseModel(Encoder(config), vocab, energy, calibration).with_backend("numpy")  # as `load` gives


@pytest.fixture(scope="session")
def _tiny_model() -> SiameseModel:
    return make_tiny_model()


@pytest.fixture
def tiny_model(_tiny_model) -> SiameseModel:
    """A fresh deep copy per test, so no test sees another's changes."""
    return copy.deepcopy(_tiny_model)


@pytest.fixture(scope="session")
def bundled_model() -> SiameseModel:
    return SiameseModel.load()


# Hypothesis: deterministic and small by default (CI); `--hypothesis-profile long` for the long run.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", derandomize=True, max_examples=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", derandomize=False, max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("SIAMESE_HYPOTHESIS_PROFILE", "ci"))


def examples(n: int):
    """Hypothesis settings for a fuzz test that runs n examples under the "ci" profile; other
    profiles ("long") scale n as their default scales ci's."""
    from hypothesis import settings

    return settings(max_examples=max(1, n * settings.default.max_examples // settings.get_profile("ci").max_examples))
