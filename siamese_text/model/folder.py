"""The model folder: reading its weights, and writing it atomically (a new folder is filled beside
the target and swapped in, so a crash leaves either the old model or the new one, never a mix).

The layout, file names and errors are layout.py's, the settings spec.py's, the checksums
checksums.py's; their names are re-exported here (`from siamese_text.model.folder import X`).
This module imports neither torch nor spaCy: the NumPy inference path, the torch training side
and the integrations all read and write folders through it.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import json
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from siamese_text.model.checksums import (file_digest, settings_digest, verify_checksums, vocab_digest,  # noqa: F401
                                          with_checksums)
from siamese_text.model.crash_points import crash_point
from siamese_text.model.layout import (CHECKSUMS, CONFIG_FILE, DEFAULT_MODEL_DIR, ENCODER_ONNX,  # noqa: F401
                                       ENCODER_ONNX_INT8, FORMAT_VERSION, MODEL_FILES, UNCHECKED, VOCAB_FILE,
                                       WEIGHTS_FILE, ModelFolderError, UnsupportedModel, check_folder, read_config,
                                       read_optional, write_optional)
from siamese_text.model.spec import (MAX_LAYERS, MAX_NGRAM, MAX_ROWS, MAX_TOKENS, MAX_WIDTH,  # noqa: F401
                                     POOLINGS, REQUIRED_ENCODER, EncoderConfig, ModelSpec, Pooling, config_dict,
                                     expected_shapes, read_spec)
from siamese_text.text.vocab import Vocab

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


def write_folder(path: str | Path, config: Mapping[str, Any], weights: Mapping[str, np.ndarray],
                 write_vocab: Callable[[Path], None], dtype: str = "float32", network: bytes | None = None) -> Path:
    """Write a model folder atomically: filled under a temporary name beside `path`, then swapped in.

    Args:
        path: the folder to (re)place. An existing folder is replaced only once the new one is
            complete; files of two runs are never mixed.
        config: the content of config.json.
        weights: name -> array (torch state-dict names).
        write_vocab: writes vocab.txt to the path it is given.
        dtype: "float32" or "float16" (halves the folder; loading restores float32).
        network: the exported network (onnx_export.py) to write as encoder.onnx, checksummed too.
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
        if network is not None:
            (tmp / ENCODER_ONNX).write_bytes(network)
        config = with_checksums(config, tmp / WEIGHTS_FILE, Vocab.load(tmp / VOCAB_FILE).itos,
                                tmp / ENCODER_ONNX if network is not None else None)
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


