"""Ray for one run: connecting to a cluster or starting a local instance, and Ray's errors as one line.

A task's error reaches the driver wrapped by Ray (RayTaskError, Ray Data's UserCodeException) with
the user's traceback in its text; `failure` finds the error behind the wrappers and raises it as
one of this package's errors: the very kind when a stage raised one of ours (a bad record read in
a task is the same `InputFileError` the local engine raises), else a `WorkerError`.
"""

from __future__ import annotations

import contextlib
import logging
import re

from siamese_text.dedup.workers import WorkerError, available_cpus
from siamese_text.errors import ArgumentError
from siamese_text.extras import require


def _ray():
    """ray and ray.data, or MissingExtra naming `pip install 'siamese-text[ray]'`."""
    ray = require("ray", "ray")
    require("ray.data", "ray")
    return ray


SPLITS_PER_CPU = 4  # a shuffle cuts its input into up to this many groups of blocks per CPU, one split task each


def cluster_cpus(ray) -> int:
    """The CPUs of the cluster this process is connected to (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def shuffle(ray, blocks: list, parts: int, split, split_args: tuple, join, join_args: tuple) -> list:
    """A hash shuffle by tasks: `split(*split_args, *group_blocks)` in one task per group of
    `blocks` (object refs, a list the caller gives up: each block is freed once its split is done)
    returns one piece per part (the piece itself for one part); `join(*join_args, *pieces)` in one
    task per part gets that part's piece from every split. -> the join tasks' refs, one per part.

    Ray Data's groupby would sort every row across parts (a sample, a range partition, a merge)
    for the same groups: at a million vectors four times as long, with seven times the spill
    (benchmarks/cell_shuffle.py). A piece is freed once its part's join is done."""
    import numpy as np

    splitter = ray.remote(num_cpus=1)(split).options(num_returns=parts)
    groups = np.array_split(np.arange(len(blocks)), max(1, min(len(blocks), SPLITS_PER_CPU * cluster_cpus(ray))))
    pieces = []
    for group in (g for g in groups if len(g)):
        out = splitter.remote(*split_args, *[blocks[i] for i in group.tolist()])
        pieces.append([out] if parts == 1 else out)
    del blocks[:]
    joiner = ray.remote(num_cpus=1)(join)
    return [joiner.remote(*join_args, *[p[part] for p in pieces]) for part in range(parts)]


def cut_by(keys, parts: int) -> list:
    """Row indices of each part 0..parts-1 for rows keyed `keys` (ints), each in row order."""
    import numpy as np

    order = np.argsort(keys, kind="stable")
    cuts = np.searchsorted(keys[order], np.arange(parts + 1)).tolist()
    return [order[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


SETTINGS = ("enable_progress_bars", "print_on_execution_start", "shuffle_strategy")  # put back after a run


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None, progress: bool = False):
    """Ray for one run: this process's connection when it has one, else the cluster at `address`,
    else a new local instance on `num_cpus` CPUs (disconnected or shut down at the end). Quiet: no
    dashboard, no worker logs on this terminal, Ray Data's progress bars only with `progress`.

    Raises:
        ArgumentError: Ray could not be started or reached (one line saying why).
    """
    ray = _ray()
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    started = False
    if not ray.is_initialized():
        quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
        try:
            if address:
                _reachable(address)
                ray.init(address=address, **quiet)
            else:
                ray.init(num_cpus=num_cpus or available_cpus(), **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise ArgumentError(f"cannot connect to {where}: {_first_line(exc)}") from None
        started = True
    context = ray.data.DataContext.get_current()
    before = {name: getattr(context, name) for name in SETTINGS if hasattr(context, name)}
    context.enable_progress_bars = progress
    context.print_on_execution_start = False
    # a sort-based groupby: on a few CPUs it starts far fewer processes than the hash shuffle
    strategies = getattr(ray.data.context, "ShuffleStrategy", None)  # Ray >= 2.4x; older ones sort anyway
    if strategies is not None:
        context.shuffle_strategy = strategies.SORT_SHUFFLE_PULL_BASED
    try:
        yield ray
    finally:
        for name, value in before.items():
            setattr(context, name, value)
        if started:
            ray.shutdown()


def _reachable(address: str, seconds: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nobody listens at (Ray itself retries for minutes)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # "auto", "ray://...": Ray's own resolution
    import socket

    try:
        socket.create_connection((host, int(port)), timeout=seconds).close()
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {address} ({exc.strerror or exc})") from None


def _ray_errors(ray) -> tuple[type, ...]:
    """What a failed run raises: a task's or actor's error, or a Ray Data wrapped user error."""
    from ray.data.exceptions import UserCodeException

    return ray.exceptions.RayError, UserCodeException


_ERROR_LINE = re.compile(r"([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (.+)")


def _first_line(exc: BaseException) -> str:
    """The error behind Ray's wrappers, one line: a task's error carries the user's traceback in
    its text ("ValueError: ..."), so the first such line that is not Ray's own is the cause."""
    texts, seen = [], set()
    while isinstance(exc, BaseException) and id(exc) not in seen:
        seen.add(id(exc))
        texts.append(re.sub(r"\x1b\[[0-9;]*m", "", str(exc)))
        exc = getattr(exc, "cause", None) or exc.__cause__
    for text in texts:
        for line in text.splitlines():
            found = _ERROR_LINE.fullmatch(line.strip())
            if found and not found.group(1).startswith("ray."):
                return f"{found.group(1).rsplit('.', 1)[-1]}: {found.group(2)}"[:200]
    lines = [line.strip() for line in texts[-1].splitlines() if line.strip()] if texts else []
    return (lines[0] if lines else "unknown error")[:200]


def failure(exc: BaseException) -> Exception:
    """The error to raise for a failed Ray run: ours by kind when a task raised one of ours
    (`InputFileError: shard.jsonl:3: ...`), else a WorkerError, one line either way."""
    from siamese_text import errors

    line = _first_line(exc)
    name, _, message = line.partition(": ")
    kind = getattr(errors, name, None)
    if isinstance(kind, type) and issubclass(kind, errors.SiameseTextError) and message:
        return kind(message)
    if type(exc).__name__ == "OutOfDiskError" or "disk is full" in line.lower():
        line = (f"{line.rstrip('.')}: Ray spills objects to disk when its object store is full; free space "
                "under /tmp/ray (where killed Ray runs can leave spilled objects) or start the cluster with "
                "`ray start --head --object-spilling-directory DIR` on a larger disk")
    return WorkerError(f"the Ray engine failed: {line}")
