"""The ONNX Runtime backend (model/onnx_backend.py) must give the NumPy path's vectors, or fall back to it and say so."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from siamese_text.extras import MissingExtra  # noqa: E402
from siamese_text.model import onnx_backend  # noqa: E402
from siamese_text.model.folder import DEFAULT_MODEL_DIR, ENCODER_ONNX, ENCODER_ONNX_INT8  # noqa: E402
from siamese_text.model.numpy_encoder import NumpyEncoder  # noqa: E402
from siamese_text.model.onnx_backend import OnnxEncoder, onnx_encoder  # noqa: E402
from siamese_text.model.siamese import SiameseModel  # noqa: E402
from siamese_text.model.torch_encoder import Encoder, EncoderConfig  # noqa: E402
from siamese_text.text.features import Featurizer, pad_batch  # noqa: E402
from siamese_text.text.tokenizer import Tokenizer  # noqa: E402
from siamese_text.text.vocab import Vocab  # noqa: E402

TOKENS = ["<pad>", "<unk>", "how", "do", "i", "learn", "python", "?", "what", "is", "the", "best", "way", "not"]
TEXTS = ["How do I learn Python?", "What is the best way to learn python?", "", "not", "zebra unicorn ?",
         "how how how do do i i learn learn python python what is is the best way ? ? ?"]
SETTINGS = [dict(pooling=p, subword_buckets=b, num_layers=n, output_dim=o)
            for p, b, n, o in itertools.product(["mean", "max", "last"], [0, 32], [1, 2], [0, 3])]


def _tiny_encoder(seed: int, **options) -> Encoder:
    torch.manual_seed(seed)
    encoder = Encoder(EncoderConfig(vocab_size=len(TOKENS), embedding_dim=6, hidden_size=5, **options)).eval()
    with torch.no_grad():  # the default init leaves biases small; make every weight matter
        for p in encoder.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return encoder


def _weights(encoder: Encoder) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in encoder.state_dict().items()}


@pytest.mark.parametrize("options", SETTINGS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_onnx_encoder_equals_numpy(options):
    encoder = _tiny_encoder(len(str(options)) + 7, **options)
    weights = _weights(encoder)
    fast = onnx_encoder(encoder.config, weights)
    assert fast.backend == "onnx" and fast.note == ""
    reference = NumpyEncoder(encoder.config, weights)
    feats = Featurizer(Tokenizer(), Vocab(TOKENS), encoder.config)(TEXTS)
    use_sub = bool(options["subword_buckets"])
    expected = reference(**pad_batch(feats, use_sub))
    for batch in (feats, feats[::-1], feats[2:3], feats[:2]):  # orders, an all-empty batch, equal lengths
        got = fast(**pad_batch(batch, use_sub))
        want = reference(**pad_batch(batch, use_sub))
        assert got.dtype == np.float32 and got.shape == (len(batch), encoder.config.dim)
        assert np.abs(got - want).max() < 1e-4
    assert np.all(fast(**pad_batch(feats, use_sub))[2] == 0)  # the empty text
    assert np.abs(fast(**pad_batch(feats, use_sub)) - expected).max() < 1e-4


def test_load_exports_once_then_reads_the_folder_without_torch(tmp_path, monkeypatch):
    model = SiameseModel(_tiny_encoder(1, pooling="max", subword_buckets=32, output_dim=3), Vocab(TOKENS))
    model.save(tmp_path / "m")
    first = SiameseModel.load(tmp_path / "m", backend="onnx", threads=2)
    assert first.backend == "onnx" and (tmp_path / "m" / ENCODER_ONNX).is_file()
    assert first.encoder.session.get_session_options().intra_op_num_threads == 2
    assert ("backend", "onnx") in first.card()
    reference = SiameseModel.load(tmp_path / "m")
    assert np.abs(first.encode(TEXTS) - reference.encode(TEXTS)).max() < 1e-4

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the folder holds the network")

    monkeypatch.setattr(onnx_backend, "_export", no_export)
    again = SiameseModel.load(tmp_path / "m", backend="onnx")
    assert again.backend == "onnx"
    np.testing.assert_array_equal(again.encode(TEXTS), first.encode(TEXTS))
    # the light core: a folder carrying encoder.onnx loads and scores without importing torch
    code = (f"import sys; from siamese_text import SiameseModel; "
            f"m = SiameseModel.load({str(tmp_path / 'm')!r}, backend='onnx'); v = m.encode(['how do i learn python']); "
            f"print(m.backend, v.shape, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["onnx", "(1,", "3)", "False"]


def test_a_stale_or_damaged_network_in_the_folder_is_exported_again(tmp_path):
    SiameseModel(_tiny_encoder(2, pooling="last"), Vocab(TOKENS)).save(tmp_path / "a")
    SiameseModel(_tiny_encoder(3, pooling="last"), Vocab(TOKENS)).save(tmp_path / "b")
    SiameseModel.load(tmp_path / "a", backend="onnx")
    stale = (tmp_path / "a" / ENCODER_ONNX).read_bytes()
    (tmp_path / "b" / ENCODER_ONNX).write_bytes(stale)  # another model's network
    b = SiameseModel.load(tmp_path / "b", backend="onnx")
    assert np.abs(b.encode(TEXTS) - SiameseModel.load(tmp_path / "b").encode(TEXTS)).max() < 1e-4
    assert (tmp_path / "b" / ENCODER_ONNX).read_bytes() != stale  # replaced by b's own
    (tmp_path / "b" / ENCODER_ONNX).write_bytes(b"not an onnx model")
    damaged = SiameseModel.load(tmp_path / "b", backend="onnx")
    assert damaged.backend == "onnx"
    np.testing.assert_allclose(damaged.encode(TEXTS), b.encode(TEXTS), atol=1e-6)


def test_without_torch_or_onnxruntime_it_falls_back_to_numpy_and_says_why(tmp_path, monkeypatch):
    model = SiameseModel(_tiny_encoder(4, subword_buckets=32), Vocab(TOKENS))
    model.save(tmp_path / "m")

    def no_torch(*args, **kwargs):
        raise MissingExtra("exporting to ONNX needs torch: pip install 'siamese-text[train]'", "torch", "train")

    monkeypatch.setattr(onnx_backend, "_export", no_torch)
    fallen = SiameseModel.load(tmp_path / "m", backend="onnx")
    assert fallen.backend == "numpy" and not (tmp_path / "m" / ENCODER_ONNX).exists()
    row = dict(fallen.card())["backend"]
    assert row.startswith("numpy (requested onnx: no valid encoder.onnx") and "siamese-text[train]" in row
    np.testing.assert_array_equal(fallen.encode(TEXTS), SiameseModel.load(tmp_path / "m").encode(TEXTS))

    real_require = onnx_backend.require

    def no_runtime(module, *args, **kwargs):
        if module == "onnxruntime":
            raise MissingExtra("the ONNX backend needs onnxruntime: pip install 'siamese-text[onnx]'",
                               module, "onnx")
        return real_require(module, *args, **kwargs)

    monkeypatch.setattr(onnx_backend, "require", no_runtime)
    fallen = model.with_backend("onnx")
    assert fallen.backend == "numpy" and "siamese-text[onnx]" in dict(fallen.card())["backend"]


def test_int8_is_close_cached_and_not_the_default(tmp_path):
    model = SiameseModel(_tiny_encoder(5, subword_buckets=32, output_dim=3), Vocab(TOKENS))
    model.save(tmp_path / "m")
    assert SiameseModel.load(tmp_path / "m").backend == "numpy"
    q = SiameseModel.load(tmp_path / "m", backend="onnx-int8")
    assert q.backend == "onnx-int8" and (tmp_path / "m" / ENCODER_ONNX_INT8).is_file()
    ops = {node.op_type for node in __import__("onnx").load(tmp_path / "m" / ENCODER_ONNX_INT8).graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops
    diff = np.abs(q.encode(TEXTS) - model.encode(TEXTS)).max()
    assert 0 < diff < 0.1
    for name, value in model.weights.items():  # the float weights stay, for saving
        np.testing.assert_array_equal(q.weights[name], value)


def test_bundled_model_same_vectors_and_nothing_written_into_it():
    before = sorted(p.name for p in DEFAULT_MODEL_DIR.iterdir())
    numpy_model = SiameseModel.load()
    fast = SiameseModel.load(backend="onnx")
    assert isinstance(fast.encoder, OnnxEncoder) and fast.backend == "onnx"
    texts = TEXTS + ["Is it safe to eat raw eggs?", "Why don't cats like water? :)", "https://example.com rocks",
                     "What's the GDP of the U.S. in 2017 ($)?"] * 3
    assert np.abs(fast.encode(texts, batch_size=5) - numpy_model.encode(texts)).max() < 1e-4
    assert sorted(p.name for p in DEFAULT_MODEL_DIR.iterdir()) == before
