"""The settings of a model folder (config.json): the encoder's sizes, the tokenizer, energy and
calibration, each read and checked by name and type so that a config that loads is one the model
runs with. Layout and errors: layout.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Any

from siamese_text.model.calibration import Calibration
from siamese_text.model.energy import Energy
from siamese_text.model.layout import CHECKSUMS, CONFIG_FILE, FORMAT_VERSION, ModelFolderError, UnsupportedModel, read_config
from siamese_text.text.tokenizer import TokenizerConfig

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


def _section(file: Path, name: str, values: Any, cls: type, required: tuple[str, ...] = ()):
    """config.json's object `name` as a `cls` dataclass: an object, no unknown keys (a newer
    siamese-text wrote it), the `required` keys present, every value of its field's type."""
    if not isinstance(values, dict):
        raise TypeError(f"{name} must be an object")
    unknown = sorted(set(values) - {f.name for f in fields(cls)})
    if unknown:
        raise UnsupportedModel(f"{file}: {name} settings {unknown} are unknown to this siamese-text; "
                               "upgrade to load it")
    missing = [key for key in required if key not in values]
    if missing:
        raise KeyError(f"{name}.{missing[0]}")
    for f in fields(cls):
        if f.name in values:
            _check_setting(f"{name}.{f.name}", values[f.name], f.type)
    return cls(**values)


def read_spec(path: Path) -> ModelSpec:
    """config.json of model folder `path`, parsed into a ModelSpec (a named error if malformed).

    Every setting is checked for its type and range here, so that a config.json that loads is
    one the model runs with: a wrong value is refused by name, never read as something else.
    """
    config = read_config(path)
    file = path / CONFIG_FILE
    try:
        encoder = _section(file, "encoder", config["encoder"], EncoderConfig, REQUIRED_ENCODER)
        _check_encoder(encoder)
        tokenizer = _section(file, "tokenizer", config.get("tokenizer", {}), TokenizerConfig)
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


