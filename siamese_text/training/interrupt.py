"""Ctrl-C as a request: the training loop finishes its batch, saves a checkpoint, then stops."""

from __future__ import annotations

import signal
import threading


class CtrlC:
    """Context manager: while active, a signal in `signals` (SIGINT by default) only sets
    `pressed`. Outside the main thread (or when disabled) it does nothing.

    With `escalate` (a plain run), a second signal raises KeyboardInterrupt at once: pressing
    Ctrl-C twice stops without waiting for the checkpoint. Under torchrun it is off: the agent
    forwards the terminal's Ctrl-C (or a SIGTERM it gets) to every rank, and a rank that shares
    the terminal's process group gets the key press twice, its own and the agent's copy; the
    ranks agree on stopping at the next step boundary instead (see `Distributed.any`), and the
    agent kills them if they do not stop within its timeout.

    The handlers are installed even when a signal was ignored (a background job, `nohup`), so that
    the training stays interruptible by a signal sent on purpose; on exit the handlers from before
    are put back as they were, whatever they were (Python's, SIG_IGN, SIG_DFL or the caller's).
    """

    def __init__(self, enabled: bool = True, signals: tuple[int, ...] = (signal.SIGINT,),
                 escalate: bool = True) -> None:
        self.enabled = enabled
        self.signals = tuple(signals)
        self.escalate = escalate
        self.pressed = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.pressed and self.escalate:
            raise KeyboardInterrupt
        self.pressed = True

    def __enter__(self) -> "CtrlC":
        self.pressed = False
        if self.enabled and threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> bool:
        for signum, previous in self._previous.items():
            # None: a handler not set from Python; the closest restorable one is the default
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        self._previous = {}
        return False
