"""The model folder's layout: its file names, format version and errors, and reading config.json.

    MODEL/
        config.json        every setting (encoder, tokenizer, energy, calibration, threshold),
                           the format version, library versions, provenance (meta) and checksums
        model.safetensors  the encoder's weights under torch's state-dict names; no pickle
        vocab.txt          one token a line, line number = id
        encoder.onnx       optional: the network after the embedding, for ONNX Runtime
        encoder.int8.onnx  optional: the same, int8-quantized

The model folder is read and written through four modules, none importing torch or spaCy: this
one (names, errors, config.json's raw form, optional files), spec.py (the settings and their
checks), checksums.py (what config.json's checksums cover) and folder.py (weights, the atomic
write); folder.py re-exports the names of all four.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from siamese_text.errors import FolderError

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
class ModelFolderError(FolderError):
    """A model folder that is missing, incomplete, corrupted or inconsistent (the message names the file)."""


class UnsupportedModel(ModelFolderError):
    """A valid folder written by a newer siamese-text, with settings this version cannot run."""


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
