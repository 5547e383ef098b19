"""The ONNX Runtime backend (model/onnx_backend.py) must give the NumPy path's vectors, or fall back to it and say so."""

from __future__ import annotations

import json
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
from siamese_text.model.torch_encoder import Encoder  # noqa: E402
from siamese_text.text.features import Featurizer, pad_batch  # noqa: E402
from siamese_text.text.tokenizer import Tokenizer  # noqa: E402
from siamese_text.text.vocab import Vocab  # noqa: E402

from tiny_encoders import SETTINGS, TEXTS, TOKENS, tiny_encoder  # noqa: E402


def _weights(encoder: Encoder) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in encoder.state_dict().items()}


@pytest.mark.parametrize("options", SETTINGS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_onnx_encoder_equals_numpy(options):
    encoder = tiny_encoder(len(str(options)) + 7, **options)
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
    model = SiameseModel(tiny_encoder(1, pooling="max", subword_buckets=32, output_dim=3), Vocab(TOKENS))
    model.save(tmp_path / "m")
    first = SiameseModel.load(tmp_path / "m", backend="onnx", threads=2)
    assert first.backend == "onnx" and (tmp_path / "m" / ENCODER_ONNX).is_file()
    assert first.encoder.session.get_session_options().intra_op_num_threads == 1  # threads = sessions
    assert dict(first.card())["backend"] == "onnx, 2 threads"
    reference = SiameseModel.load(tmp_path / "m", backend="numpy")
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
    SiameseModel(tiny_encoder(2, pooling="last"), Vocab(TOKENS)).save(tmp_path / "a")
    SiameseModel(tiny_encoder(3, pooling="last"), Vocab(TOKENS)).save(tmp_path / "b")
    SiameseModel.load(tmp_path / "a", backend="onnx")
    stale = (tmp_path / "a" / ENCODER_ONNX).read_bytes()
    (tmp_path / "b" / ENCODER_ONNX).write_bytes(stale)  # another model's network
    b = SiameseModel.load(tmp_path / "b", backend="onnx")
    assert np.abs(b.encode(TEXTS) - SiameseModel.load(tmp_path / "b", backend="numpy").encode(TEXTS)).max() < 1e-4
    assert (tmp_path / "b" / ENCODER_ONNX).read_bytes() != stale  # replaced by b's own
    (tmp_path / "b" / ENCODER_ONNX).write_bytes(b"not an onnx model")
    damaged = SiameseModel.load(tmp_path / "b", backend="onnx")
    assert damaged.backend == "onnx"
    np.testing.assert_allclose(damaged.encode(TEXTS), b.encode(TEXTS), atol=1e-6)


def test_without_torch_or_onnxruntime_it_falls_back_to_numpy_and_says_why(tmp_path, monkeypatch):
    model = SiameseModel(tiny_encoder(4, subword_buckets=32), Vocab(TOKENS))
    model.save(tmp_path / "m")

    def no_torch(*args, **kwargs):
        raise MissingExtra("exporting to ONNX needs torch: pip install 'siamese-text[train]'", "torch", "train")

    monkeypatch.setattr(onnx_backend, "_export", no_torch)
    fallen = SiameseModel.load(tmp_path / "m", backend="onnx", threads=1)
    assert fallen.backend == "numpy" and not (tmp_path / "m" / ENCODER_ONNX).exists()
    row = dict(fallen.card())["backend"]
    assert row.startswith("numpy, 1 thread (requested onnx: no valid encoder.onnx") and "siamese-text[train]" in row
    np.testing.assert_array_equal(fallen.encode(TEXTS), SiameseModel.load(tmp_path / "m").encode(TEXTS))
    default = SiameseModel.load(tmp_path / "m", threads=1)  # the default never exports: NumPy, and why
    assert default.backend == "numpy" and not (tmp_path / "m" / ENCODER_ONNX).exists()
    assert dict(default.card())["backend"].startswith("numpy, 1 thread (encoder.onnx is not in the model folder")

    real_require = onnx_backend.require

    def no_runtime(module, *args, **kwargs):
        if module == "onnxruntime":
            raise MissingExtra("the ONNX backend needs onnxruntime: pip install 'siamese-text[onnx]'",
                               module, "onnx")
        return real_require(module, *args, **kwargs)

    monkeypatch.setattr(onnx_backend, "require", no_runtime)
    monkeypatch.setattr(onnx_backend, "runtime_installed", lambda: False)
    with pytest.raises(MissingExtra, match=r"pip install 'siamese-text\[onnx\]'"):  # asked for: one line
        model.with_backend("onnx")
    fallen = model.with_backend(None, threads=2)
    assert fallen.backend == "numpy" and dict(fallen.card())["backend"] == "numpy, 2 threads (onnxruntime not installed)"


def test_int8_is_close_cached_and_not_the_default(tmp_path):
    model = SiameseModel(tiny_encoder(5, subword_buckets=32, output_dim=3), Vocab(TOKENS))
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
    numpy_model = SiameseModel.load(backend="numpy")
    fast = SiameseModel.load()  # the default: the network the bundled model ships
    assert isinstance(fast.encoder, OnnxEncoder) and fast.backend == "onnx"
    texts = TEXTS + ["Is it safe to eat raw eggs?", "Why don't cats like water? :)", "https://example.com rocks",
                     "What's the GDP of the U.S. in 2017 ($)?"] * 3
    assert np.abs(fast.encode(texts) - numpy_model.encode(texts)).max() < 1e-4
    assert fast.encoder.session is not None  # that batch was large enough to open the session
    assert sorted(p.name for p in DEFAULT_MODEL_DIR.iterdir()) == before


def test_bundled_model_ships_its_network_and_runs_it_by_default_without_torch():
    from siamese_text.model.folder import read_spec

    weights = SiameseModel.load(backend="numpy").weights
    config = read_spec(DEFAULT_MODEL_DIR).encoder
    digest = onnx_backend.weights_digest(config, weights)
    ort = pytest.importorskip("onnxruntime")
    for name in (ENCODER_ONNX, ENCODER_ONNX_INT8):  # exported from these very weights, not a stale copy
        session = ort.InferenceSession(str(DEFAULT_MODEL_DIR / name), providers=["CPUExecutionProvider"])
        assert onnx_backend._digest_of(session) == digest, name
    assert sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir()) < 20e6
    assert read_spec(DEFAULT_MODEL_DIR).meta["onnx_export"] == "python -m siamese_text.model.onnx_export $OUT"
    code = ("import sys; from siamese_text import SiameseModel; m = SiameseModel.load(); "
            "m.encode(['how do i learn python', 'is it?']); cold = 'onnxruntime' in sys.modules; "
            "q = SiameseModel.load(int8=True); texts = ['how do i learn python in a week or two'] * 40; "
            "m.encode(texts); q.encode(texts); print(m.backend, q.backend, cold, m.encoder.session is not None, "
            "q.encoder.session is not None, 'torch' in sys.modules, 'onnx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # one short pair: NumPy, onnxruntime not even imported; then sessions on the shipped networks, no export
    assert out.split() == ["onnx", "onnx-int8", "False", "True", "True", "False", "False"]


def test_the_default_checks_the_folders_network_lazily_and_falls_back(tmp_path):
    model = SiameseModel(tiny_encoder(8, subword_buckets=32), Vocab(TOKENS))
    model.save(tmp_path / "m")
    SiameseModel(tiny_encoder(9, subword_buckets=32), Vocab(TOKENS)).save(tmp_path / "other")
    SiameseModel.load(tmp_path / "other", backend="onnx")  # exports other's network
    reference = SiameseModel.load(tmp_path / "m", backend="numpy", threads=1)
    texts = TEXTS * 20
    for bad in ((tmp_path / "other" / ENCODER_ONNX).read_bytes(), b"damaged"):
        (tmp_path / "m" / ENCODER_ONNX).write_bytes(bad)
        lazy = SiameseModel.load(tmp_path / "m", threads=1)
        assert lazy.backend == "onnx" and lazy.encoder.session is None  # not checked yet
        np.testing.assert_allclose(lazy.encode(texts), reference.encode(texts), atol=1e-6)  # fell back on the way
        assert lazy.backend == "numpy" and "does not match its weights" in lazy.backend_reason()
        again = SiameseModel.load(tmp_path / "m", threads=1)
        assert again.backend_reason().startswith("numpy, 1 thread (the model folder's network is damaged")


def test_threads_give_the_same_vectors_each_on_its_own_session(tmp_path):
    model = SiameseModel(tiny_encoder(6, subword_buckets=32, pooling="mean"), Vocab(TOKENS))
    model.save(tmp_path / "m")
    texts = [f"{t} {i}" for i in range(7) for t in TEXTS]  # 42 texts, many batches
    one = SiameseModel.load(tmp_path / "m", backend="onnx", threads=1)
    three = SiameseModel.load(tmp_path / "m", backend="onnx", threads=3)
    np.testing.assert_array_equal(three.encode(texts, batch_size=3), one.encode(texts, batch_size=3))
    assert 1 <= three.encoder._made <= 3
    sessions = [three.encoder._session() for _ in range(3)]  # up to `threads` sessions, one thread each
    assert len({id(s) for s in sessions}) == 3
    assert all(s.get_session_options().intra_op_num_threads == 1 for s in sessions)
    for s in sessions:
        three.encoder._idle.put(s)
    numpy_one = SiameseModel.load(tmp_path / "m", backend="numpy", threads=1)
    numpy_two = SiameseModel.load(tmp_path / "m", backend="numpy", threads=2)
    np.testing.assert_array_equal(numpy_two.encode(texts, batch_size=3), numpy_one.encode(texts, batch_size=3))
    assert np.abs(one.encode(texts) - numpy_one.encode(texts)).max() < 1e-4


def test_cli_backend_int8_and_threads(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from siamese_text.cli import app

    runner = CliRunner()
    q = ["How do I learn Python?", "What is the best way to learn Python?"]
    fast = runner.invoke(app, ["score", "--json", *q])
    reference = runner.invoke(app, ["score", "--json", "--backend", "numpy", "--threads", "1", *q])
    assert fast.exit_code == reference.exit_code == 0
    assert json.loads(fast.stdout)["probability"] == pytest.approx(json.loads(reference.stdout)["probability"],
                                                                    abs=1e-5)
    quantized = json.loads(runner.invoke(app, ["score", "--json", "--int8", *q]).stdout)
    assert quantized["probability"] == pytest.approx(json.loads(reference.stdout)["probability"], abs=0.05)
    card = runner.invoke(app, ["info", "--int8", "--threads", "1"]).stdout
    assert "backend      onnx-int8, 1 thread" in card
    (tmp_path / "in.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    for name, args in (("a", []), ("b", ["--backend", "numpy", "--threads", "1"])):
        done = runner.invoke(app, ["embed", str(tmp_path / "in.txt"), "--out", str(tmp_path / f"{name}.npy"), *args])
        assert done.exit_code == 0, done.output
    assert np.abs(np.load(tmp_path / "a.npy") - np.load(tmp_path / "b.npy")).max() < 1e-4
    bad = runner.invoke(app, ["score", "--backend", "numpy", "--int8", *q])
    assert bad.exit_code == 1 and bad.output.strip() == "error: int8 runs on the onnx or torch backend, not on numpy"

    real_require = onnx_backend.require

    def no_runtime(module, *args, **kwargs):
        if module == "onnxruntime":
            raise MissingExtra("the ONNX backend needs onnxruntime: pip install 'siamese-text[onnx]'", module, "onnx")
        return real_require(module, *args, **kwargs)

    monkeypatch.setattr(onnx_backend, "require", no_runtime)
    monkeypatch.setattr(onnx_backend, "runtime_installed", lambda: False)
    missing = runner.invoke(app, ["score", "--backend", "onnx", *q])
    assert missing.exit_code == 1
    assert missing.output.strip() == "error: the ONNX backend needs onnxruntime: pip install 'siamese-text[onnx]'"
    fallback = runner.invoke(app, ["info", "--threads", "1"])  # not asked for: NumPy, and info says why
    assert "backend      numpy, 1 thread (onnxruntime not installed)" in fallback.stdout


def test_export_command_writes_a_folders_network(tmp_path):
    from siamese_text.model.onnx_export import main

    SiameseModel(tiny_encoder(7, subword_buckets=32), Vocab(TOKENS)).save(tmp_path / "m")
    assert SiameseModel.load(tmp_path / "m").backend == "numpy"
    main([str(tmp_path / "m")])
    assert (tmp_path / "m" / ENCODER_ONNX).is_file() and (tmp_path / "m" / ENCODER_ONNX_INT8).is_file()
    assert SiameseModel.load(tmp_path / "m").backend == "onnx"
    assert SiameseModel.load(tmp_path / "m", int8=True).backend == "onnx-int8"


def test_an_onnx_encoder_pickles_and_its_copy_opens_its_own_session():
    import pickle

    model = SiameseModel.load(threads=2)
    texts = TEXTS * 30
    want = model.encode(texts)
    assert model.encoder.session is not None
    copy = pickle.loads(pickle.dumps(model.encoder))
    assert copy.backend == "onnx" and copy.session is None
    feats = model.featurizer(texts)
    np.testing.assert_array_equal(copy(**pad_batch(feats, True)), model.encoder(**pad_batch(feats, True)))
    assert np.abs(want - SiameseModel.load(backend="numpy").encode(texts)).max() < 1e-4
    explicit = pickle.loads(pickle.dumps(SiameseModel.load(backend="onnx", int8=True, threads=1).encoder))
    assert explicit.backend == "onnx-int8"
    explicit(**pad_batch(feats[:1], True))
    assert explicit.session is not None  # asked for explicitly: no NumPy detour, even for one text
