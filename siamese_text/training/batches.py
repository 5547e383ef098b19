"""Helpers of the training loops: a private random state, length-bucketed batches, progress bars."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Sequence

import numpy as np
import torch


@contextlib.contextmanager
def global_random_state_kept() -> Iterator[None]:
    """Python's, NumPy's and torch's global random states are, on exit, what they were on entry.

    The library's own code never draws from them; this undoes what other code run meanwhile
    does (e.g. `rich`, imported by scikit-learn on first use, draws from Python's generator),
    so a caller's seeded sequence goes on as if nothing had run.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


@contextlib.contextmanager
def private_random_state(seed: int, threads: int = 0) -> Iterator[None]:
    """Run a training loop on a random state of its own, then give the caller's back.

    torch's layers draw from its default generator (weight initialisation, dropout, word
    dropout), which takes no generator argument; so that generator is forked, seeded with
    `seed`, and restored on exit: a run is reproducible for a seed, a checkpoint's
    `torch.get_rng_state()` is the run's own, and the caller's random states are untouched
    (see `global_random_state_kept`). The loops draw Python randomness from their own
    `random.Random(seed)`.

    Args:
        threads: torch's intra-op thread count meanwhile (0 = leave it); restored on exit.
    """
    threads_before = torch.get_num_threads()
    with global_random_state_kept():
        torch.default_generator.manual_seed(seed)  # the CPU generator only: training runs on the CPU
        if threads:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            if torch.get_num_threads() != threads_before:
                torch.set_num_threads(threads_before)


def length_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices whose items have similar lengths (less padding).

    Indices are shuffled, cut into chunks of 50 batches, each chunk sorted by length and cut
    into batches, and the batches shuffled again.
    """
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(idx), chunk):
        part = sorted(idx[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[j : j + batch_size] for j in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def progress_bar(total: int, description: str, enabled: bool, done: int = 0):
    """A tqdm bar over `total` batches (starting at `done`), or None when progress is off."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc=description, leave=False, unit="batch")
