"""ONNX Runtime as an inference backend of SiameseModel: the BiLSTM, pooling and projection in one session.

Token vectors (word vector + mean n-gram vector) are built by the NumPy path's `embed`, with its
cache of known words' n-gram means; the exported graph (onnx_export.py) runs the rest on the
padded (B, T, E) batch and the per-row lengths. Vectors equal the NumPy path's within 1e-4
(tests/test_onnx_backend.py). "onnx-int8" is ONNX Runtime's dynamic quantization of that graph
(the LSTM becomes DynamicQuantizeLSTM).

Where the network comes from: the model folder's encoder.onnx (encoder.int8.onnx), when its
recorded weight digest matches; else it is exported on the fly, which needs torch, and written
into the folder when the folder is writable (never into the bundled model's; that one ships its
network, written by `python -m siamese_text.model.onnx_export`). When neither is possible, the
model runs on the NumPy path and `note` says why; so does the default backend
(`SiameseModel.load()`), which uses ONNX Runtime only when it is installed and the folder carries
the network, and never exports.
Needs the `onnx` extra (onnxruntime; onnx too for exporting and int8).
"""

from __future__ import annotations

import importlib.util
import json
import queue
import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from siamese_text.extras import MissingExtra, require
from siamese_text.model import folder
from siamese_text.model.folder import EncoderConfig
from siamese_text.model.numpy_encoder import NumpyEncoder

GRAPH_VERSION = 1  # of onnx_export's graph: bump when its inputs, outputs or meaning change (caches are redone)
LAZY_TOKENS = 256  # a lazy session opens for the first batch of more token positions (B * T) than this
_SESSIONS_LOCK = threading.RLock()  # opening sessions (module-level, so that an encoder pickles)
_RECURRENT_SETTINGS = ("embedding_dim", "hidden_size", "num_layers", "pooling", "output_dim")


def weights_digest(config: EncoderConfig, weights: Mapping[str, np.ndarray]) -> str:
    """sha256 of what the exported graph holds: its settings and its weights (float32 bytes)."""
    import hashlib  # (not at import: a cold `score` never needs it)

    h = hashlib.sha256(json.dumps({k: getattr(config, k) for k in _RECURRENT_SETTINGS}, sort_keys=True).encode())
    for name in sorted(weights):
        if name.startswith(("lstm.", "projection.")):
            h.update(name.encode())
            h.update(np.ascontiguousarray(weights[name], dtype=np.float32).tobytes())
    return h.hexdigest()


class OnnxEncoder:
    """The tower with its recurrent part in ONNX Runtime sessions (or on NumPy, having fallen back).

    Same interface as NumpyEncoder: `config`, `weights`, `know_words`, `__call__(**pad_batch
    arrays) -> (B, D)`. `__call__` may run from several threads at once (SiameseModel.encode does
    with threads > 1): each call takes a session of its own, made on first need, up to `threads`
    sessions of one intra-op thread each; ONNX Runtime releases the GIL while it runs, so they
    add up where one session's intra-op threads hardly split a small LSTM.

    Args:
        config, weights: the tower's settings and float32 weights (torch's state-dict names).
        model: the serialized ONNX model of onnx_export.py (or its file), or None to run on NumPy.
        threads: sessions run at once, one intra-op thread each; 0 = one session with ONNX
            Runtime's default threads.
        int8: whether `model` is the int8-quantized graph.
        note: why the requested backend is not running (when `model` is None), for `info`.
        lazy: open the session lazily (the default backend's choice): onnxruntime is imported and
            `model` checked against the weights' digest (weights_digest) only when a batch
            of more than LAZY_TOKENS token positions comes; smaller ones run on NumPy meanwhile
            (the same vectors within 1e-6), so that a cold `score` of one pair does not pay for
            importing ONNX Runtime. A model that turns out not to match falls back to NumPy.
        embedder: a NumpyEncoder of the same weights to share (its table of known words too).
    """

    def __init__(self, config: EncoderConfig, weights: Mapping[str, np.ndarray], model: bytes | Path | None,
                 threads: int = 1, int8: bool = False, note: str = "", lazy: bool = False,
                 embedder: NumpyEncoder | None = None) -> None:
        self.config = config
        # embed() with its table of known words, and the fallback: the NumPy path of these weights
        self.embedder = embedder if embedder is not None else NumpyEncoder(config, weights)
        self.int8 = int8 and model is not None
        self.note = note
        self.threads = max(int(threads), 0)
        self._model = model
        self._lazy = lazy
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._made = 0
        self.session = None
        if model is not None and not lazy:
            self.open()  # at once: a damaged model fails here, not mid-encode

    def open(self) -> None:
        """Open the first session (if not yet done), checking a lazy model's digest then."""
        with _SESSIONS_LOCK:
            if self.session is not None or self._model is None:
                return
            if not self._lazy:
                session = self._new_session()
            else:  # lazy: a damaged or stale network falls back to NumPy, and says so
                try:
                    session = self._new_session()
                    valid = _digest_of(session) == weights_digest(self.config, self.weights)
                except Exception:  # noqa: BLE001 - ONNX Runtime's errors of a damaged file
                    valid = False
                if not valid:
                    self._model, self.int8 = None, False
                    self.note = "the model folder's network is damaged or does not match its weights; export " \
                                "it again with python -m siamese_text.model.onnx_export MODEL_DIR"
                    return
            self.session = session
            self._idle.put(session)

    def _new_session(self):
        ort = require("onnxruntime", "onnx", "the ONNX backend")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1 if self.threads else 0
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only
        self._made += 1
        model = str(self._model) if isinstance(self._model, Path) else self._model
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def __getstate__(self) -> dict:
        """Pickled without its sessions (they cannot be); the copy opens its own on first use."""
        return {**self.__dict__, "session": None, "_idle": None, "_made": 0}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._idle = queue.SimpleQueue()

    @property
    def backend(self) -> str:
        """"onnx", "onnx-int8", or "numpy" when it fell back."""
        if self._model is None:
            return "numpy"
        return "onnx-int8" if self.int8 else "onnx"

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """The float32 weights the tower was built from (also for an int8 session)."""
        return self.embedder.weights

    def know_words(self, tokens) -> None:
        """See NumpyEncoder.know_words."""
        self.embedder.know_words(tokens)

    @property
    def knows_words(self) -> bool:
        return self.embedder.knows_words

    def _session(self):
        """An idle session, a new one while fewer than `threads` exist, else the next one freed."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with _SESSIONS_LOCK:
            if self._made < max(self.threads, 1):
                return self._new_session()
        return self._idle.get()

    def __call__(self, ids: np.ndarray, lengths: np.ndarray, sub_ids=None, sub_offsets=None,
                 sub_counts=None) -> np.ndarray:
        """(B, T) ids, (B,) lengths [, n-grams in EmbeddingBag layout] -> (B, D) float32 vectors."""
        return self.network(**self.inputs(ids, lengths, sub_ids, sub_offsets, sub_counts))

    def inputs(self, ids: np.ndarray, lengths: np.ndarray, sub_ids=None, sub_offsets=None,
               sub_counts=None) -> dict[str, np.ndarray]:
        """What `network` takes for one padded batch: its token vectors and lengths (NumPy work,
        partly under the GIL), or the padded batch itself when the NumPy path will run it.

        `encode` builds them in the thread that featurizes, so that the threads running the
        network wait for nothing but ONNX Runtime, which releases the GIL."""
        if self.session is None and self._model is not None and (not self._lazy or np.size(ids) > LAZY_TOKENS):
            self.open()
        if self.session is None:
            return {"ids": ids, "lengths": lengths, "sub_ids": sub_ids, "sub_offsets": sub_offsets,
                    "sub_counts": sub_counts}
        x = self.embedder.embed(np.asarray(ids), sub_ids, sub_offsets, sub_counts)  # (B, T, E)
        return {"x": np.ascontiguousarray(x, dtype=np.float32), "lengths": np.asarray(lengths, dtype=np.int64)}

    def network(self, **inputs: np.ndarray) -> np.ndarray:
        """`inputs` (see `inputs`) -> (B, D) float32 vectors."""
        if "x" not in inputs:
            return self.embedder(**inputs)
        session = self._session()
        try:
            return session.run(None, inputs)[0]
        finally:
            self._idle.put(session)


def runtime_installed() -> bool:
    """Whether onnxruntime can be imported (without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def _digest_of(session) -> str | None:
    """The weight digest an exported model's session records (None if it is not one of ours)."""
    meta = session.get_modelmeta().custom_metadata_map
    return meta.get("weights_sha256") if meta.get("siamese_text_graph") == str(GRAPH_VERSION) else None


def onnx_encoder(config: EncoderConfig, weights: Mapping[str, np.ndarray], int8: bool = False,
                 threads: int = 1, path: Path | None = None, export: bool = True,
                 embedder: NumpyEncoder | None = None) -> OnnxEncoder:
    """An OnnxEncoder for `weights`: the exported network from folder `path`, or exported now.

    Args:
        export: export the network (with torch) when the folder lacks it, and raise MissingExtra
            when onnxruntime is missing: an explicit request. False (the default backend's choice):
            only the folder's network, and any shortfall falls back to NumPy.
        embedder: a NumpyEncoder of these weights to reuse (what `load` has built already).

    Falls back to the NumPy path (the encoder's `note` says why) when the network is neither in
    the folder nor exportable here (no torch, or onnx for int8), or, with export=False, when
    onnxruntime is missing or the folder has no network.
    """
    name = folder.ENCODER_ONNX_INT8 if int8 else folder.ENCODER_ONNX
    if not export:  # the default: no import of onnxruntime yet (see OnnxEncoder's `lazy`)
        if not runtime_installed():
            return OnnxEncoder(config, weights, None, note="onnxruntime not installed", embedder=embedder)
        if path is None or not (path / name).is_file():
            return OnnxEncoder(config, weights, None, note=f"{name} is not in the model folder; write it with "
                                                          f"python -m siamese_text.model.onnx_export MODEL_DIR",
                               embedder=embedder)
        return OnnxEncoder(config, weights, path / name, threads=threads, int8=int8, lazy=True, embedder=embedder)
    require("onnxruntime", "onnx", "the ONNX backend")
    digest = weights_digest(config, weights)
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
        return OnnxEncoder(config, weights, None, note=f"requested {'onnx-int8' if int8 else 'onnx'}: no valid "
                                                      f"{name} in the model folder, and {exc}")
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
    import logging

    quiet = logging.getLogger()  # the quantizer logs a hint about pre-processing on the root logger
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return quantize_int8(model)
    finally:
        quiet.setLevel(level)
