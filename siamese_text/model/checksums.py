"""The checksums config.json records: sha256 of model.safetensors (its bytes), of vocab.txt (its
tokens), of encoder.onnx when `save` wrote it, and of "settings" (every key of config.json but meta,
which holds editable provenance, and the checksums themselves). Folders without them (older ones)
load unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from siamese_text.model.layout import (CHECKSUMS, CONFIG_FILE, ENCODER_ONNX, UNCHECKED, VOCAB_FILE, WEIGHTS_FILE,
                                       ModelFolderError, read_config)

def _sha256(data: bytes = b""):
    """A sha256 hasher; hashlib (and OpenSSL with it) is loaded on first use, not by a cold `score`
    of a folder that records no checksums."""
    import hashlib

    return hashlib.sha256(data)


def settings_digest(config: Mapping[str, Any]) -> str:
    """sha256 of the settings in `config` (every key but meta and checksums), as canonical JSON."""
    body = {k: v for k, v in config.items() if k not in UNCHECKED}
    return _sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def vocab_digest(tokens: list[str]) -> str:
    """sha256 of a vocabulary as vocab.txt holds it (one token a line, LF endings)."""
    return _sha256(("\n".join(tokens) + "\n").encode("utf-8")).hexdigest()


def file_digest(file: Path) -> str:
    """sha256 of a file's bytes."""
    h = _sha256()
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def with_checksums(config: Mapping[str, Any], weights_file: Path, tokens: list[str],
                   network: Path | None = None) -> dict[str, Any]:
    """`config` with its "checksums" of the weights file, the vocabulary, the settings and, when
    the folder carries one written by `save`, the exported network (encoder.onnx)."""
    body = {k: v for k, v in config.items() if k != CHECKSUMS}
    sums = {WEIGHTS_FILE: file_digest(weights_file), VOCAB_FILE: vocab_digest(tokens)}
    if network is not None:
        sums[ENCODER_ONNX] = file_digest(network)
    return {**body, CHECKSUMS: {**sums, "settings": settings_digest(body)}}


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
              WEIGHTS_FILE: (path / WEIGHTS_FILE, lambda: file_digest(path / WEIGHTS_FILE)),
              ENCODER_ONNX: (path / ENCODER_ONNX, lambda: file_digest(path / ENCODER_ONNX))}
    for key, (file, digest) in checks.items():
        if key in sums and not file.is_file():
            raise ModelFolderError(f"{file}: file is missing from the model folder ({CONFIG_FILE} records its checksum)")
        if key in sums and sums[key] != digest():
            edited = " (edited by hand? set the value in Python and save the model)" if key == "settings" else ""
            raise ModelFolderError(f"{file}: content differs from the checksum in {CONFIG_FILE}; the file is "
                                   f"damaged or was changed after saving{edited}")


