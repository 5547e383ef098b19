"""A trained model's folder carries its network (encoder.onnx, written by `save(network=True)`, as
`train` and `distill` do), checksummed; a folder without it runs on NumPy and `info` says why.
And dedup/embed's worker processes run the model on the same backend as the calling process."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("torch")

from siamese_text.dedup.workers import _payload, encode_chunks  # noqa: E402
from siamese_text.model.folder import CHECKSUMS, CONFIG_FILE, ENCODER_ONNX, ModelFolderError  # noqa: E402
from siamese_text.model.siamese import SiameseModel  # noqa: E402
from siamese_text.training.trainer import Trainer, TrainConfig  # noqa: E402

from conftest import TOY_PAIRS  # noqa: E402

TEXTS = ["how do i learn python ?", "how to bake bread", "", "zebra unicorn", "do cats learn ?"] * 9


@pytest.fixture(scope="module")
def trained() -> SiameseModel:
    config = TrainConfig(epochs=2, batch_size=4, lr=0.02, patience=100, seed=0)
    return Trainer(config, dict(embedding_dim=8, hidden_size=6, subword_buckets=64, dropout=0.0),
                   progress=False).fit(TOY_PAIRS, TOY_PAIRS, trained_on="toy")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_save_writes_the_network_and_load_runs_it(trained, tmp_path, dtype):
    trained.save(tmp_path / "m", dtype=dtype, network=True)
    assert (tmp_path / "m" / ENCODER_ONNX).is_file()
    sums = json.loads((tmp_path / "m" / CONFIG_FILE).read_text())[CHECKSUMS]
    assert set(sums) == {"model.safetensors", "vocab.txt", "settings", ENCODER_ONNX}
    fast = SiameseModel.load(tmp_path / "m", threads=1)  # the default backend, nothing exported
    assert fast.backend_reason() == "onnx, 1 thread"
    reference = SiameseModel.load(tmp_path / "m", backend="numpy", threads=1)
    assert np.abs(fast.encode(TEXTS) - reference.encode(TEXTS)).max() < 1e-4
    assert fast.encoder.session is not None  # the batch was large enough to open the session

    (tmp_path / "m" / ENCODER_ONNX).write_bytes(b"damaged")
    with pytest.raises(ModelFolderError, match=r"encoder\.onnx: content differs from the checksum"):
        SiameseModel.load(tmp_path / "m")
    (tmp_path / "m" / ENCODER_ONNX).unlink()
    with pytest.raises(ModelFolderError, match=r"encoder\.onnx: file is missing"):
        SiameseModel.load(tmp_path / "m")


def test_without_the_network_the_folder_loads_on_numpy_and_says_why(trained, tmp_path):
    trained.save(tmp_path / "m")
    assert not (tmp_path / "m" / ENCODER_ONNX).exists()
    model = SiameseModel.load(tmp_path / "m", threads=1)
    assert model.backend == "numpy"
    assert dict(model.card())["backend"].startswith("numpy, 1 thread (encoder.onnx is not in the model folder")


def test_workers_run_the_same_backend_and_give_the_same_vectors(bundled_model):
    model = SiameseModel.load(threads=2)
    assert model.backend == "onnx"
    shipped = pickle.loads(_payload(model))
    assert (shipped.backend, shipped.threads, shipped.encoder.threads) == ("onnx", 1, 1)
    assert model.threads == 2 and model.encoder.threads == 2  # the caller's model is left alone
    texts = [f"{t} {i}" for i in range(60) for t in ("how do i learn python ?", "what is a good bread recipe")]
    chunks = [texts[s : s + 40] for s in range(0, len(texts), 40)]
    in_process = model.encode(texts)
    in_workers = np.concatenate(list(encode_chunks(model, chunks, batch_size=128, workers=2)))
    np.testing.assert_allclose(in_workers, in_process, atol=1e-6)
