"""Ctrl-C as a request: the training loop finishes its batch, saves a checkpoint, then stops."""

from __future__ import annotations

import signal
import threading


class CtrlC:
    """Context manager: while active, the first SIGINT only sets `pressed`; a second one raises
    KeyboardInterrupt at once. Outside the main thread (or when disabled) it does nothing.
    The previous handler is restored on exit.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.pressed = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def __enter__(self) -> "CtrlC":
        self.pressed = False
        if self.enabled and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> bool:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False
