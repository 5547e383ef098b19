"""FastModel: a saved model folder used for inference with NumPy only (no torch, no spaCy).

It reads the same folder as SiameseModel (config.json, model.safetensors through
`safetensors.numpy`, vocab.txt), tokenizes with the fast tokenizer and encodes with
fastpath.NumpyEncoder, so `siamese-text score A B` starts in a fraction of the time torch needs
to import. Its vectors equal SiameseModel's to about 1e-6 (tests/test_fastpath.py).

    >>> from siamese_text.model.fast import FastModel
    >>> FastModel.load().similarity("How do I learn Python?", "How can I learn Python?")
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from siamese_text.model.calibration import Calibration
from siamese_text.errors import SiameseTextError
from siamese_text.model.numpy_encoder import NumpyEncoder, expected_shapes, pairwise_rows_energy
from siamese_text.text.features import pad_batch
from siamese_text.model.scoring import PairScorer
from siamese_text.text.tokenizer import TokenizerConfig
from siamese_text.text.vocab import Vocab

CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE = "config.json", "model.safetensors", "vocab.txt"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "default_model"
FORMAT_VERSION = 1
ENERGIES = ("euclidean", "manhattan", "cosine")
# EncoderConfig fields this NumPy forward pass implements; a config with any other field (a newer
# encoder) is refused with UnsupportedModel, and callers fall back to SiameseModel.
ENCODER_FIELDS = {"vocab_size", "embedding_dim", "hidden_size", "num_layers", "dropout", "pooling",
                  "subword_buckets", "subword_min_n", "subword_max_n", "max_tokens", "output_dim"}
_ENCODER_DEFAULTS = dict(embedding_dim=128, hidden_size=192, num_layers=1, dropout=0.1, pooling="max",
                         subword_buckets=0, subword_min_n=3, subword_max_n=5, max_tokens=128, output_dim=0)


class UnsupportedModel(SiameseTextError):
    """The folder is valid but uses an encoder feature the NumPy path does not implement."""


class FastModel(PairScorer):
    """Inference-only twin of SiameseModel: encode, energies, probabilities, similarity.

    Args:
        encoder: the NumPy tower.
        vocab, energy, calibration, threshold, tokenizer_config, meta: as in SiameseModel.
        threads: BLAS threads while encoding. The LSTM makes one small matrix product per time
            step, where a second thread costs more than it gains (and on a busy machine far more),
            so 1 is the default; 0 leaves OpenBLAS's default.
    """

    def __init__(self, encoder: NumpyEncoder, vocab: Vocab, energy: str = "cosine",
                 calibration: Calibration | None = None, threshold: float = 0.5,
                 tokenizer_config: TokenizerConfig | None = None, meta: dict[str, Any] | None = None,
                 threads: int = 1) -> None:
        self.encoder = encoder
        self.threads = threads  # BLAS threads while encoding (0 = OpenBLAS's default, all cores)
        self._set_text_side(vocab, energy, calibration, threshold, tokenizer_config, encoder.config, meta)

    @property
    def dim(self) -> int:
        """Length of the vectors `encode` returns."""
        c = self.encoder.config
        return c.output_dim or 2 * c.hidden_size

    batch_size = 128

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Embed texts in batches of similar length. -> (N, D) float32, rows in input order.

        batch_size: 64-128 keeps a batch's (B, T, 4H) gate inputs in cache (benchmarks/speed.py).
        """
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts; wrap a single text in a list")
        feats = self.featurizer(list(texts))
        batch_size = batch_size or self.batch_size
        out = np.zeros((len(feats), self.dim), dtype=np.float32)
        order = sorted(range(len(feats)), key=lambda i: len(feats[i]))
        use_sub = bool(self.encoder.config.subword_buckets)
        with _blas_threads(self.threads):
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                out[idx] = self.encoder(**pad_batch([feats[i] for i in idx], use_sub))
        return out

    def energies(self, texts_a: Sequence[str], texts_b: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Energy of each pair (texts_a[i], texts_b[i]); lower = more alike. -> (N,)"""
        if len(texts_a) != len(texts_b):
            raise ValueError("texts_a and texts_b must have the same length")
        vecs = self.encode(list(texts_a) + list(texts_b), batch_size=batch_size)
        return pairwise_rows_energy(vecs[: len(texts_a)], vecs[len(texts_a) :], self.energy)

    @classmethod
    def load(cls, path: str | Path | None = None, threads: int = 1) -> "FastModel":
        """Load a model folder (default: the bundled model) without importing torch.

        Raises:
            SiameseTextError: a missing, truncated or mismatched file, named in the message.
            UnsupportedModel: the encoder uses a setting this NumPy path does not implement.
        """
        path = Path(path) if path is not None else DEFAULT_MODEL_DIR
        if not path.is_dir():
            raise SiameseTextError(f"{path}: model folder not found" if not path.exists()
                                   else f"{path}: not a folder (a model is a folder)")
        config = _read_config(path / CONFIG_FILE)
        try:
            enc = dict(config["encoder"])
            unknown = sorted(set(enc) - ENCODER_FIELDS)
            if unknown:
                raise UnsupportedModel(f"{path / CONFIG_FILE}: encoder settings {unknown} need the torch path")
            enc_config = SimpleNamespace(**{**_ENCODER_DEFAULTS, **enc})
            if enc_config.pooling not in ("mean", "max", "last") or int(enc_config.vocab_size) < 2:
                raise ValueError("bad pooling or vocab_size")
            tok_config = TokenizerConfig(**config.get("tokenizer", {}))
            energy = str(config["energy"])
            if energy not in ENERGIES:
                raise ValueError(f"unknown energy {energy!r}")
            calibration = Calibration.from_dict(config["calibration"])
            threshold = float(config["threshold"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SiameseTextError(f"{path / CONFIG_FILE}: malformed model config ({exc})") from None
        vocab = Vocab.load(path / VOCAB_FILE)
        if len(vocab) != enc_config.vocab_size:
            raise SiameseTextError(f"{path / VOCAB_FILE}: {len(vocab)} tokens, but config.json says "
                                   f"{enc_config.vocab_size}")
        weights = _read_weights(path / WEIGHTS_FILE, expected_shapes(enc_config))
        return cls(NumpyEncoder(enc_config, weights), vocab, energy, calibration, threshold, tok_config,
                   config.get("meta", {}), threads=threads)


def _blas_threads(threads: int):
    """A context that limits BLAS threads (threadpoolctl), or does nothing for threads=0."""
    if not threads:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def _read_config(file: Path) -> dict[str, Any]:
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SiameseTextError(f"{file}: file is missing from the model folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SiameseTextError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise SiameseTextError(f"{file}: expected a JSON object")
    if not isinstance(config.get("format_version", FORMAT_VERSION), int) \
            or config.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
        raise SiameseTextError(f"{file}: written by a newer siamese-text (format "
                               f"{config.get('format_version')}); upgrade to load it")
    return config


def _read_weights(file: Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Weights from safetensors as float32 arrays, checked against the expected names and shapes."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not file.is_file():
        raise SiameseTextError(f"{file}: file is missing from the model folder")
    try:
        state = load_file(str(file))
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise SiameseTextError(f"{file}: unreadable or truncated weights ({exc})") from None
    missing = sorted(set(shapes) - set(state))
    extra = sorted(set(state) - set(shapes))
    if missing or extra:
        raise SiameseTextError(f"{file}: weights do not match config.json (missing {missing[:3]}, "
                               f"unexpected {extra[:3]})")
    out = {}
    for name, shape in shapes.items():
        if tuple(state[name].shape) != shape:
            raise SiameseTextError(f"{file}: {name} has shape {tuple(state[name].shape)}, config.json "
                                   f"implies {shape}")
        value = state[name].astype(np.float32, copy=False)
        if not np.isfinite(value).all():
            raise SiameseTextError(f"{file}: {name} holds NaN or infinite values")
        out[name] = value
    return out


def load_for_inference(path: str | Path | None = None):
    """FastModel when the NumPy path supports the folder, else SiameseModel (imports torch).

    Returns:
        An object with encode, energies, probabilities, similarity, calibration and threshold.
    """
    try:
        return FastModel.load(path)
    except UnsupportedModel:
        from siamese_text.model.siamese import SiameseModel

        return SiameseModel.load(path)
