"""The model folder: its files, format version, config schema and defaults, weight shapes, errors.

    MODEL/
        config.json        every setting (encoder, tokenizer, energy, calibration, threshold),
                           the format version, library versions and provenance (meta)
        model.safetensors  the encoder's weights under torch's state-dict names; no pickle
        vocab.txt          one token a line, line number = id

This module is the only one that knows those names and how they are checked. It imports neither
torch nor spaCy: the NumPy inference path, the torch training side and the integrations all read
and write folders through it. Writing is atomic: a new folder is filled beside the target and
swapped in, so a crash leaves either the old model or the new one, never a mix of the two.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from siamese_text.errors import SiameseTextError
from siamese_text.model.calibration import Calibration
from siamese_text.model.energy import Energy
from siamese_text.text.tokenizer import TokenizerConfig

FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE = "config.json", "model.safetensors", "vocab.txt"
MODEL_FILES = (CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE)
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "default_model"


class Pooling(str, Enum):
    """How the token states of a text become one vector."""

    mean = "mean"
    max = "max"
    last = "last"  # the final forward state and the first backward state


POOLINGS = tuple(p.value for p in Pooling)


class ModelFolderError(SiameseTextError):
    """A model folder that is missing, incomplete, corrupted or inconsistent (the message names the file)."""


class UnsupportedModel(ModelFolderError):
    """A valid folder written by a newer siamese-text, with settings this version cannot run."""


@dataclass(frozen=True)
class EncoderConfig:
    """Sizes and switches of the tower; stored in config.json under "encoder"."""

    vocab_size: int
    embedding_dim: int = 128
    hidden_size: int = 192
    num_layers: int = 1
    dropout: float = 0.1  # on embeddings and between LSTM layers, training only
    pooling: str = "max"  # mean | max | last (last = final forward state + first backward state)
    subword_buckets: int = 16384  # hashed character n-grams for unknown words (0 = off); fastText uses 2M
    subword_min_n: int = 3
    subword_max_n: int = 5
    max_tokens: int = 128  # longer texts are truncated to their first max_tokens tokens
    output_dim: int = 0  # 0 = no projection, the vector is the pooled 2 * hidden_size

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.vocab_size < 2 or self.embedding_dim < 1 or self.hidden_size < 1 or self.num_layers < 1:
            raise ValueError("vocab_size >= 2, embedding_dim, hidden_size and num_layers >= 1")

    @property
    def dim(self) -> int:
        """Length of the vector the encoder returns."""
        return self.output_dim or 2 * self.hidden_size

    def to_dict(self) -> dict:
        return asdict(self)


def expected_shapes(config: EncoderConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every weight the encoder of `config` holds (torch's state-dict names)."""
    c = config
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (c.vocab_size, c.embedding_dim)}
    if c.subword_buckets:
        shapes["subword.weight"] = (c.subword_buckets, c.embedding_dim)
    for layer in range(c.num_layers):
        n_in = c.embedding_dim if layer == 0 else 2 * c.hidden_size
        for suffix in ("", "_reverse"):
            shapes[f"lstm.weight_ih_l{layer}{suffix}"] = (4 * c.hidden_size, n_in)
            shapes[f"lstm.weight_hh_l{layer}{suffix}"] = (4 * c.hidden_size, c.hidden_size)
            shapes[f"lstm.bias_ih_l{layer}{suffix}"] = (4 * c.hidden_size,)
            shapes[f"lstm.bias_hh_l{layer}{suffix}"] = (4 * c.hidden_size,)
    if c.output_dim:
        shapes["projection.weight"] = (c.output_dim, 2 * c.hidden_size)
        shapes["projection.bias"] = (c.output_dim,)
    return shapes


@dataclass(frozen=True)
class ModelSpec:
    """Everything config.json says, parsed and checked."""

    encoder: EncoderConfig
    tokenizer: TokenizerConfig
    energy: Energy
    calibration: Calibration
    threshold: float
    meta: dict[str, Any]


def check_folder(path: Path) -> Path:
    """`path` if it is a folder, else a ModelFolderError saying what it is instead."""
    if not path.is_dir():
        raise ModelFolderError(f"{path}: model folder not found" if not path.exists()
                               else f"{path}: not a folder (a model is a folder)")
    return path


def read_config(path: Path) -> dict[str, Any]:
    """The raw config.json of model folder `path`, its format version checked."""
    file = path / CONFIG_FILE
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFolderError(f"{file}: file is missing from the model folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{file}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise ModelFolderError(f"{file}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(config, dict):
        raise ModelFolderError(f"{file}: expected a JSON object")
    version = config.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFolderError(f"{file}: format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise UnsupportedModel(f"{file}: written by a newer siamese-text (format {version}); upgrade to load it")
    return config


def read_spec(path: Path) -> ModelSpec:
    """config.json of model folder `path`, parsed into a ModelSpec (a named error if malformed)."""
    config = read_config(path)
    file = path / CONFIG_FILE
    try:
        enc = config["encoder"]
        if not isinstance(enc, dict):
            raise TypeError("encoder must be an object")
        unknown = sorted(set(enc) - {f.name for f in fields(EncoderConfig)})
        if unknown:
            raise UnsupportedModel(f"{file}: encoder settings {unknown} are unknown to this siamese-text; "
                                   "upgrade to load it")
        encoder = EncoderConfig(**enc)
        for f in fields(EncoderConfig):
            value = getattr(encoder, f.name)
            if f.type in ("int", "float") and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise TypeError(f"encoder.{f.name} must be a number, got {value!r}")
        tokenizer = config.get("tokenizer", {})
        if not isinstance(tokenizer, dict):
            raise TypeError("tokenizer must be an object")
        calibration = config["calibration"]
        if not isinstance(calibration, dict):
            raise TypeError("calibration must be an object")
        meta = config.get("meta", {})
        if not isinstance(meta, dict):
            raise TypeError("meta must be an object")
        return ModelSpec(encoder, TokenizerConfig(**tokenizer), Energy(config["energy"]),
                         Calibration.from_dict(calibration), float(config["threshold"]), meta)
    except KeyError as exc:
        raise ModelFolderError(f"{file}: malformed model config (missing {exc})") from None
    except (TypeError, ValueError) as exc:
        raise ModelFolderError(f"{file}: malformed model config ({exc})") from None


def read_weights(file: Path, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Weights from safetensors as float32 arrays, checked against the expected names and shapes."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not file.is_file():
        raise ModelFolderError(f"{file}: file is missing from the model folder")
    try:
        state = load_file(str(file))
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise ModelFolderError(f"{file}: unreadable or truncated weights ({exc})") from None
    missing = sorted(set(shapes) - set(state))
    extra = sorted(set(state) - set(shapes))
    if missing or extra:
        raise ModelFolderError(f"{file}: weights do not match config.json (missing {missing[:3]}, "
                               f"unexpected {extra[:3]})")
    out = {}
    for name, shape in shapes.items():
        if tuple(state[name].shape) != tuple(shape):
            raise ModelFolderError(f"{file}: {name} has shape {tuple(state[name].shape)}, config.json "
                                   f"implies {tuple(shape)}")
        if state[name].dtype.kind != "f":
            raise ModelFolderError(f"{file}: {name} holds {state[name].dtype} values, expected floats")
        value = state[name].astype(np.float32, copy=False)
        if not np.isfinite(value).all():
            raise ModelFolderError(f"{file}: {name} holds NaN or infinite values")
        out[name] = value
    return out


def config_dict(spec: ModelSpec, versions: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What config.json holds for `spec` (versions: library versions to record beside ours)."""
    import importlib.metadata as md

    try:
        version = md.version("siamese-text")
    except md.PackageNotFoundError:  # running from a checkout
        version = "unknown"
    return {
        "format_version": FORMAT_VERSION,
        "siamese_text_version": version,
        **{f"{k}_version": v for k, v in (versions or {}).items()},
        "tokenizer": {f.name: getattr(spec.tokenizer, f.name) for f in fields(TokenizerConfig)},
        "encoder": spec.encoder.to_dict(),
        "energy": spec.energy.value,
        "calibration": spec.calibration.to_dict(),
        "threshold": spec.threshold,
        "meta": spec.meta,
    }


def write_folder(path: str | Path, config: Mapping[str, Any], weights: Mapping[str, np.ndarray],
                 write_vocab: Callable[[Path], None], dtype: str = "float32") -> Path:
    """Write a model folder atomically: filled under a temporary name beside `path`, then swapped in.

    Args:
        path: the folder to (re)place. An existing folder is replaced only once the new one is
            complete; files of two runs are never mixed.
        config: the content of config.json.
        weights: name -> array (torch state-dict names).
        write_vocab: writes vocab.txt to the path it is given.
        dtype: "float32" or "float16" (halves the folder; loading restores float32).
    """
    from safetensors.numpy import save_file

    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        state = {k: np.ascontiguousarray(np.asarray(v, dtype=dtype)) for k, v in weights.items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        write_vocab(tmp / VOCAB_FILE)
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def swap_in(new: Path, path: Path) -> None:
    """Replace folder `path` by the complete folder `new` (same parent): old aside, new in, old removed."""
    old = None
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise ModelFolderError(f"{path}: exists and is not a folder; not replacing it")
        old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(path, old)
    try:
        os.replace(new, path)
    except BaseException:
        if old is not None:
            os.replace(old, path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_stale(path: Path) -> None:
    """Remove temporary folders that a killed write to `path` left beside it."""
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in path.parent.glob(f".{path.name}.old-*"):
        if path.exists():  # the swap completed; the old copy is garbage
            shutil.rmtree(stale, ignore_errors=True)
        else:  # killed between the two renames: the old model is the complete one
            os.replace(stale, path)
