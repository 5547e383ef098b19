"""A test hook in every write path: stop the process dead at a named write step.

The writers of model folders, index folders, checkpoints and dedup outputs call
`crash_point("step")` between their write steps (after each file, before and after each
rename). Normally it does nothing. Two environment variables, read at each call, make the
crash-safety tests (tests/test_crash_safety.py) able to kill a write at each of its steps:

    SIAMESE_TEXT_CRASH_LOG=FILE   append "step#n" to FILE at each call (n counts the calls of
                                  that step in this process, from 1): the list of kill points
    SIAMESE_TEXT_CRASH_AT=STEP    exit at once with status 99 (os._exit: no cleanup, no flush,
                                  like SIGKILL) at the call "STEP#n", or at every call of "STEP"
"""

from __future__ import annotations

import os
from collections import Counter

CRASH_AT, CRASH_LOG = "SIAMESE_TEXT_CRASH_AT", "SIAMESE_TEXT_CRASH_LOG"
CRASH_STATUS = 99
_calls: Counter[str] = Counter()


def crash_point(step: str) -> None:
    """A write step named `step` ("dedup.renamed", ...) is done; see the module's docstring."""
    target, log = os.environ.get(CRASH_AT), os.environ.get(CRASH_LOG)
    if not target and not log:
        return
    _calls[step] += 1
    point = f"{step}#{_calls[step]}"
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(point + "\n")
    if target in (step, point):
        os._exit(CRASH_STATUS)
