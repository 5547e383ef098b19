"""ONNX Runtime as an inference backend of SiameseModel: the BiLSTM, pooling and projection in one session.

Token vectors (word vector + mean n-gram vector) are built by the NumPy path's `embed`, with its
cache of known words' n-gram means; the exported graph (onnx_export.py) runs the rest on the
padded (B, T, E) batch and the per-row lengths. Vectors equal the NumPy path's within 1e-4
(tests/test_onnx_backend.py). "onnx-int8" is ONNX Runtime's dynamic quantization of that graph
(the LSTM becomes DynamicQuantizeLSTM).

Where the network comes from: the model folder's encoder.onnx (encoder.int8.onnx), when its
recorded weight digest matches; else it is exported on the fly, which needs torch, and written
into the folder when the folder is writable (never into the bundled model's). When neither is
possible, or onnxruntime is missing, the model runs on the NumPy path and `note` says why.
Needs the `onnx` extra (onnxruntime; onnx too for exporting and int8).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from siamese_text.extras import MissingExtra, require
from siamese_text.model import folder
from siamese_text.model.folder import EncoderConfig
from siamese_text.model.numpy_encoder import NumpyEncoder

GRAPH_VERSION = 1  # of onnx_export's graph: bump when its inputs, outputs or meaning change (caches are redone)
_RECURRENT_SETTINGS = ("embedding_dim", "hidden_size", "num_layers", "pooling", "output_dim")


def weights_digest(config: EncoderConfig, weights: Mapping[str, np.ndarray]) -> str:
    """sha256 of what the exported graph holds: its settings and its weights (float32 bytes)."""
    h = hashlib.sha256(json.dumps({k: getattr(config, k) for k in _RECURRENT_SETTINGS}, sort_keys=True).encode())
    for name in sorted(weights):
        if name.startswith(("lstm.", "projection.")):
            h.update(name.encode())
            h.update(np.ascontiguousarray(weights[name], dtype=np.float32).tobytes())
    return h.hexdigest()


class OnnxEncoder:
    """The tower with its recurrent part in an ONNX Runtime session (or on NumPy, having fallen back).

    Same interface as NumpyEncoder: `config`, `weights`, `__call__(**pad_batch arrays) -> (B, D)`.

    Args:
        config, weights: the tower's settings and float32 weights (torch's state-dict names).
        model: the serialized ONNX model of onnx_export.py, or None to run on NumPy.
        threads: ONNX Runtime intra-op threads of this model's one session (0 = ONNX Runtime's default).
        int8: whether `model` is the int8-quantized graph.
        note: why the requested backend is not running (when `model` is None), for `info`.
    """

    def __init__(self, config: EncoderConfig, weights: Mapping[str, np.ndarray], model: bytes | None,
                 threads: int = 1, int8: bool = False, note: str = "") -> None:
        self.config = config
        self.embedder = NumpyEncoder(config, weights)  # embed() with its n-gram cache; the fallback
        self.int8 = int8 and model is not None
        self.note = note
        self.session = None
        if model is not None:
            ort = require("onnxruntime", "onnx", "the ONNX backend")
            options = ort.SessionOptions()
            options.intra_op_num_threads = max(int(threads), 0)
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.log_severity_level = 3  # errors only
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    @property
    def backend(self) -> str:
        """"onnx", "onnx-int8", or "numpy" when it fell back."""
        if self.session is None:
            return "numpy"
        return "onnx-int8" if self.int8 else "onnx"

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """The float32 weights the tower was built from (also for an int8 session)."""
        return self.embedder.weights

    def __call__(self, ids: np.ndarray, lengths: np.ndarray, sub_ids=None, sub_offsets=None,
                 sub_counts=None) -> np.ndarray:
        """(B, T) ids, (B,) lengths [, n-grams in EmbeddingBag layout] -> (B, D) float32 vectors."""
        if self.session is None:
            return self.embedder(ids, lengths, sub_ids, sub_offsets, sub_counts)
        lengths = np.asarray(lengths, dtype=np.int64)
        x = self.embedder.embed(np.asarray(ids), sub_ids, sub_offsets, sub_counts)  # (B, T, E)
        return self.session.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32), "lengths": lengths})[0]


def _digest_of(session) -> str | None:
    """The weight digest an exported model's session records (None if it is not one of ours)."""
    meta = session.get_modelmeta().custom_metadata_map
    return meta.get("weights_sha256") if meta.get("siamese_text_graph") == str(GRAPH_VERSION) else None


def onnx_encoder(config: EncoderConfig, weights: Mapping[str, np.ndarray], int8: bool = False,
                 threads: int = 1, path: Path | None = None) -> OnnxEncoder:
    """An OnnxEncoder for `weights`: the exported network from folder `path` or exported now.

    Falls back to the NumPy path (the encoder's `note` says why) when onnxruntime is missing, or
    the network is neither in the folder nor exportable here (no torch, or onnx for int8).
    """
    try:
        require("onnxruntime", "onnx", "the ONNX backend")
    except MissingExtra as exc:
        return OnnxEncoder(config, weights, None, note=str(exc))
    digest = weights_digest(config, weights)
    name = folder.ENCODER_ONNX_INT8 if int8 else folder.ENCODER_ONNX
    cached = folder.read_optional(path, name) if path is not None else None
    if cached is not None:
        try:
            encoder = OnnxEncoder(config, weights, cached, threads=threads, int8=int8)
            if _digest_of(encoder.session) == digest:
                return encoder
        except Exception:  # noqa: BLE001 - a damaged cache file is exported again, not an error
            pass
    try:
        model = _export(config, weights, digest, int8, path)
    except MissingExtra as exc:
        return OnnxEncoder(config, weights, None, note=f"no valid {name} in the model folder, and {exc}")
    if path is not None and path.resolve() != folder.DEFAULT_MODEL_DIR.resolve():
        folder.write_optional(path, name, model)  # a cache: a read-only folder just exports again next time
    return OnnxEncoder(config, weights, model, threads=threads, int8=int8)


def _export(config: EncoderConfig, weights: Mapping[str, np.ndarray], digest: str, int8: bool,
            path: Path | None) -> bytes:
    """The fp32 graph (from the folder's cache if valid, else exported), quantized when int8."""
    from siamese_text.model.onnx_export import export_onnx, quantize_int8

    model = folder.read_optional(path, folder.ENCODER_ONNX) if int8 and path is not None else None
    if model is not None:  # int8 from the folder's float graph, when it holds these weights
        ort = require("onnxruntime", "onnx", "the ONNX backend")
        try:
            valid = _digest_of(ort.InferenceSession(model, providers=["CPUExecutionProvider"])) == digest
        except Exception:  # noqa: BLE001 - damaged: export again
            valid = False
        model = model if valid else None
    if model is None:
        model = export_onnx(config, weights, digest)
    if not int8:
        return model
    quiet = logging.getLogger()  # the quantizer logs a hint about pre-processing on the root logger
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return quantize_int8(model)
    finally:
        quiet.setLevel(level)
