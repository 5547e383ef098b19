"""The backends that run a SiameseModel's tower, how one is chosen and built, and its threads.

"numpy" (numpy_encoder.py, the reference), "onnx" / "onnx-int8" (onnx_backend.py, ONNX Runtime),
"torch" / "int8" (torch_backend.py, the `train` extra); None, the default, is ONNX Runtime when
it is installed and the model folder carries its network, else NumPy.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from siamese_text.errors import ArgumentError
from siamese_text.model.numpy_encoder import NumpyEncoder
from siamese_text.model.spec import EncoderConfig

if TYPE_CHECKING:  # pragma: no cover
    from siamese_text.model.siamese import SiameseModel

BACKENDS = ("numpy", "torch", "int8", "onnx", "onnx-int8")
INT8 = {"onnx": "onnx-int8", "torch": "int8"}  # the int8 twin of a float backend


def available_cpus() -> int:
    """The CPUs this process may use: its CPU affinity (1 where the system has none, as macOS).

    dedup/workers.py's `available_cpus` also caps it by a container's CPU quota; it sits in a
    layer above this one.
    """
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return 1


def build_encoder(current: Any, config: EncoderConfig, weights: Mapping[str, np.ndarray], backend: str | None,
                  threads: int, source: Path | None, int8: bool) -> tuple[str | None, Any]:
    """(the backend asked for, int8 resolved; the tower running it): see SiameseModel.with_backend.

    `current` is the tower the weights come from; a NumpyEncoder is shared with an ONNX one
    (its table of known words is built once).
    """
    if backend is not None and backend not in BACKENDS:
        raise ArgumentError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if int8:
        if (backend or "onnx") not in INT8 and backend not in INT8.values():
            raise ArgumentError(f"int8 runs on the onnx or torch backend, not on {backend}")
        backend = INT8.get(backend or "onnx", backend)
    if backend == "numpy":
        encoder = NumpyEncoder(config, weights)
    elif backend in (None, "onnx", "onnx-int8"):
        from siamese_text.model.onnx_backend import onnx_encoder

        embedder = current if isinstance(current, NumpyEncoder) else None  # shared: built once
        encoder = onnx_encoder(config, weights, int8=backend == "onnx-int8",
                               threads=threads, path=source, export=backend is not None, embedder=embedder)
    else:
        from siamese_text.model.torch_backend import torch_backend

        encoder = torch_backend(config, weights, int8=backend == "int8", threads=threads)
    return backend, encoder


FEW_TEXTS = 8  # an encode of this many texts or fewer leaves BLAS's threads as they are


def blas_threads(model: "SiameseModel", count: int | None = None):
    """A context that keeps BLAS to one thread per encoding thread wherever NumPy runs the network:
    the NumPy backend, and an ONNX one's NumPy path (a lazy session's small batches, a fallback).
    Not for `count` <= FEW_TEXTS texts: finding and limiting BLAS's threads (threadpoolctl) costs
    about 3 ms the first time, more than a one-pair score can lose to BLAS's own threads."""
    if not model.threads or model.backend not in ("numpy", "onnx", "onnx-int8"):
        return contextlib.nullcontext()
    if count is not None and count <= FEW_TEXTS:
        return contextlib.nullcontext()
    if model.backend != "numpy" and getattr(model.encoder, "session", None) is not None:
        return contextlib.nullcontext()  # ONNX Runtime runs; the NumPy part makes no BLAS calls
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, found once (finding them costs about
    0.3 ms, which every `encode` call paid before; NumPy's BLAS is loaded with NumPy itself)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
