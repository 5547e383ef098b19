"""The NumPy path (numpy_encoder.NumpyEncoder, SiameseModel's default backend) must give the torch Encoder's numbers."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from siamese_text.errors import SiameseTextError
from siamese_text.model.energy import rowwise_energy
from siamese_text.model.folder import ModelFolderError, UnsupportedModel, expected_shapes
from siamese_text.model.numpy_encoder import NumpyEncoder
from siamese_text.text.features import Featurizer, collate, pad_batch
from siamese_text.model.calibration import Calibration
from siamese_text.model.siamese import DEFAULT_MODEL_DIR, SiameseModel
from siamese_text.text.tokenizer import Tokenizer
from siamese_text.text.vocab import Vocab

from conftest import require_data
from tiny_encoders import SETTINGS, TEXTS, TOKENS, tiny_encoder

FITTED = Calibration(method="platt", a=-4.0, b=2.0, fitted_on="hand-set for tests")  # probabilities need one


@pytest.mark.parametrize("options", SETTINGS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_numpy_encoder_equals_torch(options):
    encoder = tiny_encoder(len(str(options)), **options)
    featurizer = Featurizer(Tokenizer(), Vocab(TOKENS), encoder.config)
    feats = featurizer(TEXTS)
    use_sub = bool(options["subword_buckets"])
    weights = {k: v.detach().numpy() for k, v in encoder.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in weights.items()} == expected_shapes(encoder.config)
    fast = NumpyEncoder(encoder.config, weights)
    with torch.inference_mode():
        expected = encoder(**collate(feats, use_sub)).numpy()  # (B, D), unsorted rows
    got = fast(**pad_batch(feats, use_sub))
    assert got.shape == expected.shape == (len(TEXTS), encoder.config.dim)
    assert np.abs(got - expected).max() < 1e-4
    assert np.all(got[2] == 0)  # the empty text
    again = fast(**pad_batch(feats, use_sub))  # second call goes through the n-gram cache
    assert np.abs(again - expected).max() < 1e-4


@pytest.mark.parametrize("energy", ["cosine", "euclidean", "manhattan"])
def test_numpy_energies_equal_torch(energy):
    from siamese_text.model.energy import energy_fn

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 4)).astype(np.float32), rng.normal(size=(7, 4)).astype(np.float32)
    a[0] = 0.0  # a zero vector (an empty text)
    b[1] = a[1]  # identical vectors: energy 0
    expected = energy_fn(energy)(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    got = rowwise_energy(a, b, energy)
    assert np.abs(got - expected).max() < 1e-5
    assert got[1] == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("dtype", ["float32", "float16", torch.float16])
def test_saved_folder_gives_the_same_model_on_every_backend(tmp_path, dtype):
    encoder = tiny_encoder(1, pooling="max", subword_buckets=32)
    model = SiameseModel(encoder, Vocab(TOKENS), "euclidean", threshold=0.3,  # the torch module, as in training
                         calibration=FITTED)
    assert model.backend == "torch"
    model.save(tmp_path / "m", dtype=dtype)
    reference = SiameseModel.load(tmp_path / "m", backend="torch")
    fast = SiameseModel.load(tmp_path / "m")
    assert fast.backend == "numpy" and reference.backend == "torch" and type(fast) is type(reference)
    assert fast.dim == reference.dim and fast.threshold == pytest.approx(0.3)
    assert np.abs(fast.encode(TEXTS) - reference.encode(TEXTS)).max() < 1e-4
    np.testing.assert_allclose(fast.probabilities(TEXTS, TEXTS[::-1]), reference.probabilities(TEXTS, TEXTS[::-1]),
                               atol=1e-5)
    assert fast.predict(TEXTS[:2], TEXTS[:2]).tolist() == reference.predict(TEXTS[:2], TEXTS[:2]).tolist()
    if dtype == "float32":  # what was saved is what was trained, bit for bit
        for name, value in model.weights.items():
            np.testing.assert_array_equal(fast.weights[name], value)


def test_bundled_model_same_vectors_and_scores_on_numpy_and_torch():
    require_data(DEFAULT_MODEL_DIR)
    fast = SiameseModel.load()
    reference = fast.with_backend("torch")
    texts = TEXTS + ["Is it safe to eat raw eggs?", "Why don't cats like water? :)", "https://example.com rocks",
                     "What's the GDP of the U.S. in 2017 ($)?"]
    assert np.abs(fast.encode(texts) - reference.encode(texts)).max() < 1e-4
    a, b = texts, texts[1:] + texts[:1]
    np.testing.assert_allclose(fast.energies(a, b), reference.energies(a, b), atol=1e-5)
    assert fast.similarity(texts[0], texts[1]) == pytest.approx(reference.similarity(texts[0], texts[1]), abs=1e-5)


def test_load_refuses_bad_folders(tmp_path):
    SiameseModel(tiny_encoder(2), Vocab(TOKENS)).save(tmp_path / "m")
    with pytest.raises(ModelFolderError, match="not found"):
        SiameseModel.load(tmp_path / "nope")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["encoder"]["attention_heads"] = 2  # a setting from a newer encoder
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedModel, match="attention_heads"):
        SiameseModel.load(tmp_path / "m")
    del config["encoder"]["attention_heads"]
    config["encoder"]["hidden_size"] = 7  # weights no longer fit
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(SiameseTextError, match="shape"):
        SiameseModel.load(tmp_path / "m")
    config["encoder"]["hidden_size"] = 5
    for bad in ("1", 1.5, None, True):  # format_version that is not an integer
        (tmp_path / "m" / "config.json").write_text(json.dumps({**config, "format_version": bad}))
        with pytest.raises(ModelFolderError, match="format_version"):
            SiameseModel.load(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(SiameseTextError, match="unreadable or truncated"):
        SiameseModel.load(tmp_path / "m")
    with pytest.raises(SiameseTextError, match="backend must be one of"):
        SiameseModel.load(tmp_path / "m", backend="gpu")


def test_loading_and_scoring_do_not_import_torch_or_spacy(tmp_path):
    SiameseModel(tiny_encoder(3, subword_buckets=32), Vocab(TOKENS), calibration=FITTED).save(tmp_path / "m")
    code = (f"import sys; from siamese_text import SiameseModel; "
            f"p = SiameseModel.load({str(tmp_path / 'm')!r}).similarity('how do i learn python', 'learn python'); "
            f"assert 0 <= p <= 1; print(sorted(m for m in ('torch', 'spacy', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_score_stays_light():
    """`siamese-text score A B` must not import torch, spaCy, scikit-learn or the spaCy component."""
    require_data(DEFAULT_MODEL_DIR)
    code = ("import sys\nfrom siamese_text.cli import app\n"
            "sys.argv = ['siamese-text', 'score', 'How do I learn Python?', 'How can I learn Python?']\n"
            "try:\n    app(prog_name='siamese-text')\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "heavy = ('torch', 'spacy', 'thinc', 'sklearn', 'datasets', 'siamese_text.integrations.spacy_pipe',\n"
            "         'siamese_text.model.torch_encoder', 'siamese_text.training')\n"
            "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.startswith("probability ")
    assert run.stderr.strip() == "[]"


def test_int8_quantized_copy_is_close_and_not_saveable(tmp_path):
    model = SiameseModel(tiny_encoder(4, subword_buckets=32, output_dim=3), Vocab(TOKENS))
    q = model.quantized()
    assert q.meta["quantized"] == "int8-dynamic" and "quantized" not in model.meta
    assert q.backend == "int8" and SiameseModel.load is not None
    assert type(q.encoder.module.lstm) is not torch.nn.LSTM  # really swapped for the int8 module
    diff = np.abs(q.encode(TEXTS) - model.encode(TEXTS)).max()
    assert 0 < diff < 0.1
    with pytest.raises(SiameseTextError, match="cannot be saved"):
        q.save(tmp_path / "q")
    assert not (tmp_path / "q").exists()
    model.save(tmp_path / "m")
    loaded = SiameseModel.load(tmp_path / "m", backend="int8")
    assert loaded.backend == "int8" and np.abs(loaded.encode(TEXTS) - q.encode(TEXTS)).max() < 1e-5


def test_with_backend_round_trip_keeps_weights_and_settings():
    model = SiameseModel(tiny_encoder(5, output_dim=3), Vocab(TOKENS), "manhattan", threshold=0.4)
    numpy_model = model.with_backend("numpy")
    assert numpy_model.backend == "numpy" and numpy_model.energy == "manhattan" and numpy_model.threshold == 0.4
    back = numpy_model.with_backend("torch")
    for name, value in model.weights.items():
        np.testing.assert_array_equal(back.weights[name], value)
    np.testing.assert_allclose(back.encode(TEXTS), model.encode(TEXTS), atol=1e-6)


def test_pad_batch_layout():
    from siamese_text.text.features import Features

    batch = [Features((5, 6), ((1, 2), (3,))), Features((), ()), Features((7,), ((),))]
    out = pad_batch(batch, use_subwords=True)
    assert out["ids"].tolist() == [[5, 6], [0, 0], [7, 0]]
    assert out["lengths"].tolist() == [2, 0, 1]
    assert out["sub_ids"].tolist() == [1, 2, 3]
    assert out["sub_counts"].tolist() == [2, 1, 0, 0, 0, 0]  # position b*T + t
    assert out["sub_offsets"].tolist() == [0, 2, 3, 3, 3, 3]
    tensors = collate(batch, use_subwords=False)
    assert set(tensors) == {"ids", "lengths"} and tensors["ids"].dtype == torch.long


def test_features_hash_only_unknown_words_and_vectors_stay_identical():
    encoder = tiny_encoder(11, subword_buckets=32, pooling="max", num_layers=2)
    vocab = Vocab(TOKENS)
    full = Featurizer(Tokenizer(), vocab, encoder.config)
    lean = Featurizer(Tokenizer(), vocab, encoder.config, unknown_only=True)
    f, g = full(["how do zebras learn python"])[0], lean(["how do zebras learn python"])[0]
    assert f.ids == g.ids == (2, 3, 1, 5, 6)
    assert [bool(s) for s in g.subwords] == [False, False, True, False, False]  # only 'zebras' is hashed
    assert g.subwords[2] == f.subwords[2] and all(f.subwords)
    weights = {k: v.detach().numpy() for k, v in encoder.state_dict().items()}
    texts = TEXTS + ["zebra python unicorn learn", "the the way is not the best"]
    reference = NumpyEncoder(encoder.config, weights)(**pad_batch(full(texts), True))  # n-grams of every word
    table = NumpyEncoder(encoder.config, weights)
    table.know_words(TOKENS)
    for feats in (lean(texts), full(texts), lean(texts)):  # the table ignores known words' n-grams; refills nothing
        np.testing.assert_array_equal(table(**pad_batch(feats, True)), reference)
    # what SiameseModel does: the table, and features of unknown words only; identical vectors
    model = SiameseModel(NumpyEncoder(encoder.config, weights), vocab)
    assert model.encoder.knows_words and model._encode_features.unknown_only and not model.featurizer.unknown_only
    feats = full(texts)
    order = sorted(range(len(texts)), key=lambda i: len(feats[i]))  # encode's one batch, sorted by length
    want = np.zeros_like(reference)
    want[order] = NumpyEncoder(encoder.config, weights)(**pad_batch([feats[i] for i in order], True))
    np.testing.assert_array_equal(model.encode(texts), want)
    import pickle

    copy = pickle.loads(pickle.dumps(model.encoder))  # the table is a cache: not pickled, refilled
    assert copy._rows is None and copy.knows_words
    np.testing.assert_array_equal(copy(**pad_batch(lean(texts), True)), reference)


def test_bundled_model_vectors_identical_with_the_word_table():
    model = SiameseModel.load(backend="numpy", threads=1)
    texts = ["How do I learn Python?", "Why don't cats like water? :)", "qwertyuiop zxcvb asdfgh", "",
             "What's the GDP of the U.S. in 2017 ($)?", "Is it safe to eat raw eggs?"] * 3
    old = NumpyEncoder(model.encoder_config, model.weights)  # n-grams of every word, from the features
    want = np.zeros((len(texts), model.dim), dtype=np.float32)
    for i, feats in enumerate(model.featurizer(texts)):
        want[i] = old(**pad_batch([feats], True))[0]
    np.testing.assert_array_equal(model.encode(texts, batch_size=1), want)
