"""Ctrl-C as a request: the training loop finishes its batch, saves a checkpoint, then stops."""

from __future__ import annotations

import signal
import threading


class CtrlC:
    """Context manager: while active, the first SIGINT only sets `pressed`; a second one raises
    KeyboardInterrupt at once. Outside the main thread (or when disabled) it does nothing.

    The handler is installed even when SIGINT was ignored (a background job, `nohup`), so that
    the training stays interruptible by a signal sent on purpose; on exit the handler from before
    is put back as it was, whatever it was (Python's, SIG_IGN, SIG_DFL or one of the caller's).
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.pressed = False
        self._previous = None
        self._installed = False

    def _handle(self, signum, frame) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def __enter__(self) -> "CtrlC":
        self.pressed = False
        if self.enabled and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc) -> bool:
        if self._installed:
            # None: a handler not set from Python; the closest restorable one is the default
            signal.signal(signal.SIGINT, signal.SIG_DFL if self._previous is None else self._previous)
            self._previous, self._installed = None, False
        return False
