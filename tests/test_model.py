"""SiameseModel: encoding, persistence, and refusal of corrupted folders."""

import json

import numpy as np
import pytest
import torch

from siamese_text.errors import SiameseTextError
from siamese_text.model.siamese import SiameseModel

from conftest import make_tiny_model

TEXTS = ["How do I learn Python?", "", "bake bread", "not cats", "xyzzy unseen words", "?"]


@pytest.mark.parametrize("pooling", ["mean", "max", "last"])
@pytest.mark.parametrize("subwords", [0, 64])
def test_encode_shapes_order_and_empty_text(pooling, subwords):
    model = make_tiny_model(subword_buckets=subwords, pooling=pooling)
    vecs = model.encode(TEXTS, batch_size=2)
    assert vecs.shape == (len(TEXTS), model.dim) and vecs.dtype == np.float32
    assert np.all(vecs[1] == 0)  # an empty text is the zero vector
    assert np.isfinite(vecs).all()
    # batching and length-sorting do not change any row
    one_by_one = np.stack([model.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(vecs, one_by_one, atol=1e-5)


def test_unknown_words_differ_with_subwords_but_not_without():
    with_sub = make_tiny_model(subword_buckets=64)
    without = make_tiny_model(subword_buckets=0)
    a, b = "zebra", "quokka"  # both out of vocabulary
    assert not np.allclose(*with_sub.encode([a, b]))
    np.testing.assert_allclose(*without.encode([a, b]))


def test_similarity_is_a_probability_and_verdict_uses_threshold(tiny_model):
    p = tiny_model.similarity("how do i learn python", "learn python")
    assert 0.0 <= p <= 1.0
    tiny_model.threshold = p - 1e-6
    assert tiny_model.is_paraphrase("how do i learn python", "learn python")
    tiny_model.threshold = p + 1e-6
    assert not tiny_model.is_paraphrase("how do i learn python", "learn python")
    m = tiny_model.similarity_matrix(["a", "b"], ["a", "b", "c"])
    assert m.shape == (2, 3) and ((0 <= m) & (m <= 1)).all()
    assert m[0, 0] == pytest.approx(tiny_model.similarity("a", "a"), abs=1e-6)


def test_encode_refuses_a_bare_string(tiny_model):
    with pytest.raises(TypeError):
        tiny_model.encode("a single string")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_save_load_gives_identical_outputs(tmp_path, dtype):
    model = make_tiny_model()
    model.threshold = 0.42
    model.meta["trained_on"] = "toy"
    model.save(tmp_path / "m", dtype=dtype)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors", "vocab.txt"]
    loaded = SiameseModel.load(tmp_path / "m")
    assert loaded.threshold == 0.42 and loaded.meta["trained_on"] == "toy"
    if dtype is torch.float16:
        model = SiameseModel.load(tmp_path / "m")  # compare like with like after rounding
    np.testing.assert_array_equal(model.encode(TEXTS), loaded.encode(TEXTS))
    again = tmp_path / "again"
    loaded.save(again, dtype=dtype)
    np.testing.assert_array_equal(SiameseModel.load(again).encode(TEXTS), loaded.encode(TEXTS))


def test_no_pickle_in_the_folder(tmp_path):
    make_tiny_model().save(tmp_path)
    head = (tmp_path / "model.safetensors").read_bytes()[:8]
    assert not head.startswith(b"\x80")  # pickle protocol marker
    json.loads((tmp_path / "config.json").read_text())


@pytest.fixture
def saved(tmp_path):
    make_tiny_model().save(tmp_path / "m")
    return tmp_path / "m"


def test_missing_folder(tmp_path):
    with pytest.raises(SiameseTextError, match="not found"):
        SiameseModel.load(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "vocab.txt"])
def test_missing_file_is_named(saved, name):
    (saved / name).unlink()
    with pytest.raises(SiameseTextError, match=name.replace(".", r"\.")):
        SiameseModel.load(saved)


def test_truncated_weights_are_named(saved):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(SiameseTextError, match="model.safetensors"):
        SiameseModel.load(saved)


def test_garbage_config_is_named(saved):
    (saved / "config.json").write_text("{not json")
    with pytest.raises(SiameseTextError, match="config.json"):
        SiameseModel.load(saved)


def test_config_weights_mismatch_is_named(saved):
    config = json.loads((saved / "config.json").read_text())
    config["encoder"]["hidden_size"] = 5
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(SiameseTextError, match="model.safetensors"):
        SiameseModel.load(saved)


def test_vocab_size_mismatch_is_named(saved):
    with open(saved / "vocab.txt", "a") as fh:
        fh.write("extra\n")
    with pytest.raises(SiameseTextError, match="vocab.txt"):
        SiameseModel.load(saved)


def test_bad_energy_in_config_is_named(saved):
    config = json.loads((saved / "config.json").read_text())
    config["energy"] = "chebyshev"
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(SiameseTextError, match="config.json"):
        SiameseModel.load(saved)


def test_bundled_model_prefers_the_paraphrase(bundled_model):
    q = "How do I learn Python?"
    same = bundled_model.similarity(q, "What is the best way to learn Python?")
    other = bundled_model.similarity(q, "How do I bake bread at home?")
    assert 0.0 <= other < same <= 1.0
    meta = bundled_model.meta
    assert meta["trained_on"] and "validation" in meta and "command" in meta


# ----- an uncalibrated model says so ---------------------------------------------------------------


@pytest.fixture
def uncalibrated():
    from siamese_text.model.calibration import Calibration

    model = make_tiny_model()
    model.calibration = Calibration()  # as a hand-built or distilled model has it
    assert not model.calibration.fitted
    return model


UNCALIBRATED = r"^this model's calibration was never fitted; fit it \(Trainer.calibrate\) or use energies/encode$"


@pytest.mark.parametrize("call", [
    lambda m: m.probabilities(["how do i learn python"], ["learn python"]),
    lambda m: m.similarity("how do i learn python", "learn python"),
    lambda m: m.predict(["how do i learn python"], ["learn python"]),
    lambda m: m.is_paraphrase("how do i learn python", "learn python"),
    lambda m: m.similarity_matrix(["how do i learn python"], ["learn python", "bake bread"]),
    lambda m: m.most_similar("how do i learn python", ["learn python", "bake bread"]),
    lambda m: m.calibration(np.array([0.1])),  # what the CLI's score and evaluate go through
])
def test_an_uncalibrated_model_refuses_probabilities_in_one_line(uncalibrated, call):
    from siamese_text.model.calibration import UncalibratedModel

    with pytest.raises(UncalibratedModel, match=UNCALIBRATED) as caught:
        call(uncalibrated)
    assert isinstance(caught.value, SiameseTextError) and "\n" not in str(caught.value)


def test_an_uncalibrated_model_still_gives_vectors_and_energies_and_says_so(uncalibrated, tiny_model, tmp_path):
    import pickle

    from siamese_text.model.calibration import UncalibratedModel

    texts = ["how do i learn python", "learn python"]
    np.testing.assert_array_equal(uncalibrated.encode(texts), tiny_model.encode(texts))
    np.testing.assert_array_equal(uncalibrated.energies(texts[:1], texts[1:]), tiny_model.energies(texts[:1], texts[1:]))
    card = dict(uncalibrated.card())
    assert "uncalibrated" in card["energy"] and "uncalibrated" not in dict(tiny_model.card())["energy"]
    uncalibrated.save(tmp_path / "m")  # a folder keeps saying it: `info` shows the card of the loaded model
    loaded = SiameseModel.load(tmp_path / "m")
    assert "uncalibrated" in dict(loaded.card())["energy"]
    with pytest.raises(UncalibratedModel):
        loaded.similarity(*texts)
    again = pickle.loads(pickle.dumps(UncalibratedModel()))  # crosses worker processes intact
    assert str(again) == str(UncalibratedModel())
    assert 0.0 <= tiny_model.similarity(*texts) <= 1.0  # the tests' model has a (hand-set) fitted calibration


def test_dedup_search_and_the_cli_refuse_an_uncalibrated_model(uncalibrated, tmp_path):
    from typer.testing import CliRunner

    from siamese_text.cli import app
    from siamese_text.dedup.index import Scoring
    from siamese_text.dedup.search import find_duplicates
    from siamese_text.dedup.stages import dedup
    from siamese_text.model.calibration import UncalibratedModel

    texts = ["how do i learn python", "learn python", "bake bread"]
    for call in (lambda: Scoring.for_encoder(uncalibrated), lambda: Scoring.for_encoder(uncalibrated, threshold=0.5),
                 lambda: dedup(texts, uncalibrated), lambda: find_duplicates(texts[:1], texts[1:], uncalibrated)):
        with pytest.raises(UncalibratedModel, match=UNCALIBRATED):  # a probability threshold would mean nothing
            call()
    uncalibrated.save(tmp_path / "m")
    runner = CliRunner()
    score = runner.invoke(app, ["score", "learn python", "bake bread", "--model", str(tmp_path / "m")])
    assert score.exit_code == 1 and score.stdout == ""
    assert score.stderr == "error: this model's calibration was never fitted; fit it (Trainer.calibrate) or use " \
                           "energies/encode\n"
    info = runner.invoke(app, ["info", "--model", str(tmp_path / "m")])
    assert info.exit_code == 0 and "uncalibrated" in info.stdout
