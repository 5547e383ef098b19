"""The Python API as other code sees it: the package surface, most_similar, the encoder protocol."""

import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

import siamese_text
from siamese_text.model.siamese import Match, SiameseModel
from siamese_text.integrations.encoder_protocol import TextEncoder, cosine_cutoff

from conftest import make_tiny_model

FAQ = ["How do I reset my password?", "Do you ship to Canada?", "How do I bake bread at home?"]


def test_import_loads_neither_torch_nor_spacy_nor_sklearn():
    code = ("import sys, siamese_text; "
            "print(sorted(m for m in ('torch', 'spacy', 'sklearn', 'thinc') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_public_surface_is_small_and_every_name_resolves():
    assert 5 <= len(siamese_text.__all__) <= 12
    for name in siamese_text.__all__:
        assert getattr(siamese_text, name) is not None
    assert siamese_text.SiameseModel is SiameseModel and siamese_text.Match is Match
    assert sorted(dir(siamese_text)) == sorted(siamese_text.__all__)
    with pytest.raises(AttributeError):
        siamese_text.not_a_name  # noqa: B018


def test_package_ships_py_typed():
    assert resources.files("siamese_text").joinpath("py.typed").is_file()


def test_most_similar_ranks_by_probability_with_indices(tiny_model):
    query = "how do i learn python"
    candidates = ["bake bread", "learn python", "not cats", "how do i learn python ?"]
    matches = tiny_model.most_similar(query, candidates, k=10)
    assert len(matches) == len(candidates)  # k larger than the list: all of them
    assert all(isinstance(m, Match) for m in matches)
    assert sorted(m.index for m in matches) == [0, 1, 2, 3]
    probs = [m.probability for m in matches]
    assert probs == sorted(probs, reverse=True)
    for m in matches:
        assert m.text == candidates[m.index]
        assert m.probability == pytest.approx(tiny_model.similarity(query, m.text), abs=1e-6)
        assert m.paraphrase == (m.probability >= tiny_model.threshold)
    assert [m.index for m in tiny_model.most_similar(query, candidates, k=2)] == [m.index for m in matches[:2]]


def test_most_similar_reuses_candidate_vectors_and_checks_them(tiny_model):
    vecs = tiny_model.encode(FAQ)
    direct = tiny_model.most_similar("reset password", FAQ, k=3)
    cached = tiny_model.most_similar("reset password", FAQ, k=3, candidate_vectors=vecs)
    assert [(m.index, round(m.probability, 6)) for m in direct] == [(m.index, round(m.probability, 6)) for m in cached]
    with pytest.raises(ValueError, match="shape"):
        tiny_model.most_similar("reset password", FAQ, candidate_vectors=vecs[:2])


def test_most_similar_edge_cases(tiny_model):
    assert tiny_model.most_similar("anything", []) == []
    with pytest.raises(ValueError):
        tiny_model.most_similar("anything", FAQ, k=0)
    with pytest.raises(TypeError):
        tiny_model.most_similar(["not", "a", "str"], FAQ)
    assert len(tiny_model.most_similar("", FAQ)) == 1  # an empty query is valid input


def test_bundled_model_matches_a_question_to_its_faq_entry(bundled_model):
    best = bundled_model.most_similar("Do you deliver to Canada?", FAQ, k=3)
    assert best[0].text == "Do you ship to Canada?" and best[0].paraphrase
    assert best[0].probability > best[-1].probability
    # paraphrase vs unrelated through the plain API too
    q = "How do I learn Python?"
    assert bundled_model.similarity(q, "What is the best way to learn Python?") > \
        bundled_model.similarity(q, "How do I bake bread at home?")


def test_models_and_plain_objects_satisfy_the_encoder_protocol(tiny_model):
    class Hashing:
        def encode(self, texts):
            return np.array([[len(t), t.count(" ")] for t in texts], dtype=np.float32)

    assert isinstance(tiny_model, TextEncoder)
    assert isinstance(Hashing(), TextEncoder)
    assert not isinstance(["no", "encode", "method"], TextEncoder)
    # runtime checks see only the method's name (str.encode passes too): the contract is the doc


def test_cosine_cutoff_agrees_with_the_calibrated_threshold(bundled_model):
    cut = cosine_cutoff(bundled_model)
    assert -1.0 <= cut <= 1.0
    at = float(bundled_model.calibration(1.0 - cut))  # cosine energy = 1 - cosine similarity
    below = float(bundled_model.calibration(1.0 - cut + 1e-3))
    assert at >= bundled_model.threshold > below
    assert cosine_cutoff(bundled_model, 0.8) > cut  # a stricter probability needs more similar vectors
    with pytest.raises(ValueError, match="reaches"):
        cosine_cutoff(bundled_model, 1.0)


def test_cosine_cutoff_refuses_other_energies():
    with pytest.raises(ValueError, match="cosine"):
        cosine_cutoff(make_tiny_model(energy="euclidean"))
