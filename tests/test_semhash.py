"""SemHash (semhash from PyPI) as the client: our SiameseModel is its encoder.

SemHash accepts any object with `encode(list) -> ndarray` and thresholds cosine similarity;
`cosine_cutoff` turns our calibrated threshold into that cosine similarity.
"""

import itertools
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before semhash (huggingface_hub) is imported: never download

import numpy as np  # noqa: E402
import pytest  # noqa: E402

semhash = pytest.importorskip("semhash")
from semhash import SemHash  # noqa: E402

from siamese_text.integrations.encoder_protocol import TextEncoder, cosine_cutoff  # noqa: E402

LINES = [
    "How do I learn Python?",
    "Do you ship to Canada?",
    "What is the best way to learn Python?",
    "How do I bake bread at home?",
    "Do you deliver to Canada?",
    "How do I learn Python?",
    "What is the capital of France?",
    "Which city is the capital of France?",
    "Where can I buy a cheap laptop?",
]
TOL = 1e-3  # cosine_cutoff is exact to 1e-5 in cosine; allow for float32 rounding in the index


@pytest.fixture(autouse=True)
def no_default_encoder(monkeypatch):
    """SemHash must use our model: loading its own default (a download) fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("SemHash tried to load its default model")

    monkeypatch.setattr(semhash.semhash.StaticModel, "from_pretrained", refuse)


def test_our_model_is_a_semhash_encoder(bundled_model):
    assert isinstance(bundled_model, TextEncoder)
    # semhash's own featurizer calls our encode and gets our vectors
    vectors = semhash.utils.featurize([{"text": t} for t in LINES[:3]], ["text"], bundled_model)
    assert vectors.shape == (3, bundled_model.dim)
    np.testing.assert_allclose(vectors, bundled_model.encode(LINES[:3]), atol=1e-6)


def test_self_deduplicate_removes_paraphrases_and_agrees_with_our_verdicts(bundled_model):
    cut = cosine_cutoff(bundled_model)
    result = SemHash.from_records(LINES, model=bundled_model).self_deduplicate(threshold=cut)
    removed = {d.record: d for d in result.filtered}
    # the exact repeat and the three paraphrases go, each pointing at the line it repeats
    assert removed["How do I learn Python?"].exact
    assert removed["What is the best way to learn Python?"].duplicate_of == "How do I learn Python?"
    assert removed["Do you deliver to Canada?"].duplicate_of == "Do you ship to Canada?"
    assert removed["Which city is the capital of France?"].duplicate_of == "What is the capital of France?"
    assert {"How do I learn Python?", "Do you ship to Canada?", "What is the capital of France?",
            "How do I bake bread at home?"} <= set(result.selected)
    # SemHash's cosine decisions are our calibrated decisions
    for d in result.filtered:
        assert bundled_model.similarity(d.record, d.duplicate_of) >= bundled_model.threshold - TOL
    for a, b in itertools.combinations(result.selected, 2):
        assert bundled_model.similarity(a, b) < bundled_model.threshold + TOL


def test_a_paraphrase_scores_higher_than_an_unrelated_text(bundled_model):
    index = SemHash.from_records(["How do I learn Python?"], model=bundled_model)
    result = index.deduplicate(["What is the best way to learn Python?", "How do I bake bread at home?"],
                               threshold=-1.0)  # report every score
    scores = {d.record: d.score for d in result.filtered}
    assert scores["What is the best way to learn Python?"] > scores["How do I bake bread at home?"]
    strict = index.deduplicate(["What is the best way to learn Python?", "How do I bake bread at home?"],
                               threshold=cosine_cutoff(bundled_model))
    assert strict.selected == ["How do I bake bread at home?"]
