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

import ctypes
import functools
import glob
import hashlib
import json
import math
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from siamese_text.errors import FolderError
from siamese_text.model.calibration import Calibration
from siamese_text.model.crash_points import crash_point
from siamese_text.model.energy import Energy
from siamese_text.text.tokenizer import TokenizerConfig
from siamese_text.text.vocab import Vocab

FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE = "config.json", "model.safetensors", "vocab.txt"
MODEL_FILES = (CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE)
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "default_model"
# optional: the tower after its embedding exported for ONNX Runtime (model/onnx_export.py), in
# float32 and int8; each records a digest of the weights it holds and is ignored when they differ
ENCODER_ONNX, ENCODER_ONNX_INT8 = "encoder.onnx", "encoder.int8.onnx"
# config.json's "checksums": sha256 of model.safetensors (its bytes), of vocab.txt (its tokens) and of
# "settings" (every key of config.json but these two: provenance in meta may be edited). Folders
# without it (older ones) load unchecked.
CHECKSUMS, UNCHECKED = "checksums", ("meta", "checksums")
# Encoder settings config.json must hold: their defaults are choices, and reading a missing one as
# its default would run another network on the same weights. Those it may leave out are implied
# by the weights (num_layers, output_dim: a mismatch is refused there) or unused (dropout).
REQUIRED_ENCODER = ("vocab_size", "embedding_dim", "hidden_size", "pooling", "subword_buckets", "subword_min_n",
                    "subword_max_n", "max_tokens")
MAX_LAYERS = 64  # a config asking for more is damaged, not deep (listing 10**12 layers' weights would exhaust memory)
# Upper bounds on the other sizes, far above any model that fits in memory, so that a damaged
# config.json is refused by read_spec before anything is sized by it (fastText uses 2M buckets)
MAX_ROWS = 1 << 26  # vocab_size, subword_buckets: 67M rows
MAX_WIDTH = 1 << 16  # embedding_dim, hidden_size, output_dim
MAX_TOKENS = 1 << 20  # max_tokens; subword_max_n is at most MAX_NGRAM characters
MAX_NGRAM = 64


class Pooling(str, Enum):
    """How the token states of a text become one vector."""

    mean = "mean"
    max = "max"
    last = "last"  # the final forward state and the first backward state


POOLINGS = tuple(p.value for p in Pooling)


class ModelFolderError(FolderError):
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
    """config.json of model folder `path`, parsed into a ModelSpec (a named error if malformed).

    Every setting is checked for its type and range here, so that a config.json that loads is
    one the model runs with: a wrong value is refused by name, never read as something else.
    """
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
        missing = [name for name in REQUIRED_ENCODER if name not in enc]
        if missing:
            raise KeyError(f"encoder.{missing[0]}")
        for f in fields(EncoderConfig):
            if f.name in enc:
                _check_setting(f"encoder.{f.name}", enc[f.name], f.type)
        encoder = EncoderConfig(**enc)
        _check_encoder(encoder)
        tokenizer = config.get("tokenizer", {})
        if not isinstance(tokenizer, dict):
            raise TypeError("tokenizer must be an object")
        unknown = sorted(set(tokenizer) - {f.name for f in fields(TokenizerConfig)})
        if unknown:
            raise UnsupportedModel(f"{file}: tokenizer settings {unknown} are unknown to this siamese-text; "
                                   "upgrade to load it")
        for f in fields(TokenizerConfig):
            if f.name in tokenizer:
                _check_setting(f"tokenizer.{f.name}", tokenizer[f.name], f.type)
        tokenizer = TokenizerConfig(**tokenizer)
        if tokenizer.kind != "spacy-en" or tokenizer.max_chars < 1:
            raise ValueError(f"tokenizer.kind must be 'spacy-en' and tokenizer.max_chars >= 1, got "
                             f"{tokenizer.kind!r} and {tokenizer.max_chars!r}")
        calibration = _calibration(config["calibration"])
        if not isinstance(config["energy"], str):
            raise TypeError(f"energy must be a string, got {config['energy']!r}")
        threshold = config["threshold"]
        _check_setting("threshold", threshold, "float")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {threshold!r}")
        meta = config.get("meta", {})
        if not isinstance(meta, dict):
            raise TypeError("meta must be an object")
        checksums = config.get(CHECKSUMS, {})
        if not isinstance(checksums, dict) or not all(isinstance(v, str) for v in checksums.values()):
            raise TypeError(f"{CHECKSUMS} must be an object of strings")
        return ModelSpec(encoder, tokenizer, Energy(config["energy"]), calibration, float(threshold), meta)
    except KeyError as exc:
        raise ModelFolderError(f"{file}: malformed model config (missing {exc})") from None
    except (TypeError, ValueError) as exc:
        raise ModelFolderError(f"{file}: malformed model config ({exc})") from None


def _check_setting(name: str, value: Any, kind: str) -> None:
    """A TypeError unless `value` is of `kind` ("int", "float", "str", "bool"; a float is finite)."""
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif kind == "str":
        ok = isinstance(value, str)
    elif kind == "bool":
        ok = isinstance(value, bool)
    else:  # a new field whose type this check does not know: let it through
        ok = True
    if not ok:
        what = {"int": "an integer", "float": "a finite number", "str": "a string", "bool": "true or false"}[kind]
        raise TypeError(f"{name} must be {what}, got {json.dumps(value)[:40]}")


def _check_encoder(c: EncoderConfig) -> None:
    """A ValueError for sizes the encoder cannot run with (the types are already checked)."""
    bounds = {"num_layers": MAX_LAYERS, "vocab_size": MAX_ROWS, "subword_buckets": MAX_ROWS,
              "embedding_dim": MAX_WIDTH, "hidden_size": MAX_WIDTH, "output_dim": MAX_WIDTH,
              "max_tokens": MAX_TOKENS, "subword_max_n": MAX_NGRAM}
    for name, bound in bounds.items():  # before expected_shapes lists every layer's weights
        if getattr(c, name) > bound:
            raise ValueError(f"encoder.{name} must be at most {bound}, got {getattr(c, name)}")
    if not 0.0 <= c.dropout < 1.0:
        raise ValueError(f"encoder.dropout must lie in [0, 1), got {c.dropout!r}")
    if c.subword_buckets < 0 or c.output_dim < 0 or c.max_tokens < 1:
        raise ValueError("encoder.subword_buckets and encoder.output_dim must be >= 0, encoder.max_tokens >= 1")
    if not 1 <= c.subword_min_n <= c.subword_max_n:
        raise ValueError(f"encoder.subword_min_n and subword_max_n must satisfy 1 <= min <= max, got "
                         f"{c.subword_min_n} and {c.subword_max_n}")


def _calibration(d: Any) -> Calibration:
    """The calibration object of config.json, every field present and of its type."""
    if not isinstance(d, dict):
        raise TypeError("calibration must be an object")
    method = d.get("method")
    if method == "platt":
        for key in ("a", "b"):
            _check_setting(f"calibration.{key}", d[key], "float")
    elif method == "isotonic":
        x, y = d["x"], d["y"]
        if not isinstance(x, list) or not isinstance(y, list) or not x or len(x) != len(y):
            raise TypeError("calibration.x and calibration.y must be lists of the same, non-zero length")
        for key, values in (("x", x), ("y", y)):
            for value in values:
                _check_setting(f"calibration.{key}", value, "float")
        if any(b < a for a, b in zip(x, x[1:])) or not all(0.0 <= v <= 1.0 for v in y):
            raise ValueError("calibration.x must be sorted and calibration.y lie in [0, 1]")
    if "fitted_on" in d:
        _check_setting("calibration.fitted_on", d["fitted_on"], "str")
    return Calibration.from_dict(d)


def read_weights(file: Path, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Weights from safetensors as float32 arrays, checked against the expected names and shapes."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not file.is_file():
        raise ModelFolderError(f"{file}: file is missing from the model folder")
    try:
        state = load_file(str(file))
    except (SafetensorError, OSError, ValueError, TypeError, MemoryError) as exc:
        raise ModelFolderError(f"{file}: unreadable or truncated weights "
                               f"({(str(exc).splitlines() or [type(exc).__name__])[0][:200]})") from None
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


def settings_digest(config: Mapping[str, Any]) -> str:
    """sha256 of the settings in `config` (every key but meta and checksums), as canonical JSON."""
    body = {k: v for k, v in config.items() if k not in UNCHECKED}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def vocab_digest(tokens: list[str]) -> str:
    """sha256 of a vocabulary as vocab.txt holds it (one token a line, LF endings)."""
    return hashlib.sha256(("\n".join(tokens) + "\n").encode("utf-8")).hexdigest()


def file_digest(file: Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def with_checksums(config: Mapping[str, Any], weights_file: Path, tokens: list[str]) -> dict[str, Any]:
    """`config` with its "checksums" of the weights file, the vocabulary and the settings."""
    body = {k: v for k, v in config.items() if k != CHECKSUMS}
    return {**body, CHECKSUMS: {WEIGHTS_FILE: file_digest(weights_file), VOCAB_FILE: vocab_digest(tokens),
                                "settings": settings_digest(body)}}


def verify_checksums(path: Path, tokens: list[str]) -> None:
    """Compare model folder `path` with the checksums its config.json records (if it records any).

    Called once the files have been parsed and checked against each other, so a malformed file
    is named for what is wrong with it; this catches what parses but was altered (a flipped
    byte in the weights, an edited setting or token).

    Raises:
        ModelFolderError: naming the file whose content differs from its checksum.
    """
    config = read_config(path)
    sums = config.get(CHECKSUMS)
    if not isinstance(sums, dict):
        return
    checks = {"settings": (path / CONFIG_FILE, lambda: settings_digest(config)),
              VOCAB_FILE: (path / VOCAB_FILE, lambda: vocab_digest(tokens)),
              WEIGHTS_FILE: (path / WEIGHTS_FILE, lambda: file_digest(path / WEIGHTS_FILE))}
    for key, (file, digest) in checks.items():
        if key in sums and sums[key] != digest():
            edited = " (edited by hand? set the value in Python and save the model)" if key == "settings" else ""
            raise ModelFolderError(f"{file}: content differs from the checksum in {CONFIG_FILE}; the file is "
                                   f"damaged or was changed after saving{edited}")


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
        crash_point("model.weights-written")
        write_vocab(tmp / VOCAB_FILE)
        crash_point("model.vocab-written")
        config = with_checksums(config, tmp / WEIGHTS_FILE, Vocab.load(tmp / VOCAB_FILE).itos)
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        crash_point("model.config-written")
        swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def swap_in(new: Path, path: Path) -> None:
    """Replace folder `path` by the complete folder `new` (same parent), then remove the old one.

    On Linux the two are exchanged by one atomic rename (renameat2 with RENAME_EXCHANGE), so
    `path` always names a complete folder. Elsewhere the old folder is renamed aside first; a
    crash between the two renames leaves it there, and `remove_stale` puts it back.
    """
    old = None
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise ModelFolderError(f"{path}: exists and is not a folder; not replacing it")
        if not path.is_symlink() and _exchange(new, path):  # `new` now names the old folder
            crash_point("swap.exchanged")
            shutil.rmtree(new, ignore_errors=True)
            crash_point("swap.old-removed")
            return
        old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(path, old)
        crash_point("swap.old-aside")
    try:
        os.replace(new, path)
    except BaseException:
        if old is not None:
            os.replace(old, path)
        raise
    crash_point("swap.new-in")
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
        crash_point("swap.old-removed")


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names of `a` and `b` in one atomic step; False where the system cannot."""
    renameat2 = _renameat2()
    at_fdcwd, rename_exchange = -100, 2
    # a file system without RENAME_EXCHANGE says EINVAL: the caller then renames in two steps
    return renameat2 is not None and renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b),
                                               rename_exchange) == 0


@functools.cache
def _renameat2():
    """libc's renameat2 (Linux, glibc >= 2.28), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


def remove_stale(path: Path) -> None:
    """Remove temporary folders that a killed write to `path` left beside it."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.old-*"):
        if path.exists():  # the swap completed; the old copy is garbage
            shutil.rmtree(stale, ignore_errors=True)
        else:  # killed between the two renames: the old model is the complete one
            os.replace(stale, path)


def read_optional(path: Path, name: str) -> bytes | None:
    """The bytes of optional file `name` of model folder `path`, or None when absent or unreadable."""
    try:
        return (path / name).read_bytes()
    except OSError:
        return None


def write_optional(path: Path, name: str, data: bytes) -> bool:
    """Write optional file `name` into model folder `path` atomically; False when the folder is read-only."""
    tmp = path / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path / name)
        return True
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
