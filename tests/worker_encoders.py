"""Encoders for tests/test_workers.py, in a module of their own: a spawned worker process imports
the module of the encoder it unpickles, and this one imports only NumPy (not torch, as conftest does)."""

from __future__ import annotations

import os

import numpy as np


class Failing:
    """Raises on the text "bad!!" (a bug of the encoder, in a worker process)."""

    def encode(self, texts):
        if "bad!!" in texts:
            raise ValueError("cannot encode 'bad!!'\nsecond line of the message")
        return np.ones((len(texts), 2), dtype=np.float32)


class Dying:
    """Ends its worker process abruptly: always, or only the first time (marker file absent)."""

    def __init__(self, marker: str | None = None) -> None:
        self.marker = marker

    def encode(self, texts):
        if self.marker is None:
            os._exit(3)
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            os._exit(3)  # the first call anywhere
        except FileExistsError:
            return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
