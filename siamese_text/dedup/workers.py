"""Encoding on several CPU cores: worker processes, each running the encoder on one thread.

Processes rather than threads: a BiLSTM forward pass on one thread per process scales with the
cores, while torch's and faiss's thread pools, sharing a busy machine, mostly wait for each
other. Workers are started with "spawn" (safe whatever the parent did with torch before); the
encoder reaches them pickled once (a SiameseModel on its own backend, one thread: ONNX Runtime
with one session, or NumPy; torch's float backend as its NumPy copy), and an encoder that cannot
be pickled runs in the calling process.

Workers fail loudly and die with their parent:

- a worker watches the process that started it (Linux: PR_SET_PDEATHSIG; everywhere: a thread
  polling its parent's PID every second) and exits as soon as that process is gone, so a killed
  `dedup` leaves no orphaned worker behind;
- an exception in a worker reaches the caller as one line naming the chunk
  (`WorkerError: encoding worker failed on chunk 3 (texts 768-1023): ValueError: ...`);
- a pool whose processes die (BrokenProcessPool) gets one retry of the remaining chunks in a new
  pool, then a WorkerError saying so: never a silent fallback.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from siamese_text.errors import SiameseTextError

_ENCODER = None  # the encoder of this worker process
_BATCH = 256
_TAKES_BATCH = False  # whether _ENCODER.encode takes batch_size
USE_PDEATHSIG = True  # Linux: the kernel kills a worker when its parent dies (off: polling only)
PARENT_POLL_SECONDS = 1.0


class WorkerError(SiameseTextError):
    """An encoding worker process failed: its exception, or the pool's processes died (twice)."""


@contextlib.contextmanager
def threads(n: int):
    """Run BLAS, faiss (and torch, when it is loaded) on n threads inside the block; n = 0 leaves
    them alone. On a busy machine one thread is often much faster than several that wait for each
    other. Every count is restored afterwards."""
    if n <= 0:
        yield
        return
    import faiss
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")  # never imported here: only a torch backend brings it
    before_torch, before_faiss = (torch.get_num_threads() if torch else 0), faiss.omp_get_max_threads()
    if torch:
        torch.set_num_threads(n)
    faiss.omp_set_num_threads(n)
    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
    finally:
        if torch:
            torch.set_num_threads(before_torch)
        faiss.omp_set_num_threads(before_faiss)


def available_cpus(workers: int = 0) -> int:
    """`workers`, or for 0 the CPUs this process may use: its CPU affinity (not the machine's
    count), capped by a container's CPU quota (cgroup cpu.max / cpu.cfs_quota_us) when one is set."""
    if workers > 0:
        return workers
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, quota)
    return max(1, cpus)


def _cgroup_cpu_quota() -> int | None:
    """CPUs allowed by the cgroup's CPU quota, rounded up (None: no quota, or not Linux)."""
    for quota_file, period_file in (("/sys/fs/cgroup/cpu.max", None),  # cgroup v2: "QUOTA PERIOD"
                                    ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
                                    ("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us",
                                     "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us")):
        try:
            with open(quota_file, encoding="ascii") as fh:
                fields = fh.read().split()
            if period_file is not None:
                with open(period_file, encoding="ascii") as fh:
                    fields = fields[:1] + fh.read().split()[:1]
            quota, period = fields[0], int(fields[1])
            if quota in ("max", "-1") or int(quota) <= 0 or period <= 0:
                return None
            return max(1, -(-int(quota) // period))
        except (OSError, ValueError, IndexError):
            continue
    return None


def takes_batch_size(encoder) -> bool:
    """Whether `encoder.encode` accepts a batch_size keyword (read from its signature, once)."""
    try:
        parameters = inspect.signature(encoder.encode).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin): call it plainly
        return False
    return "batch_size" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def encode(encoder, texts: list[str], batch_size: int, takes_batch: bool | None = None) -> np.ndarray:
    """encoder.encode(texts), passing batch_size to encoders whose signature takes one. -> (N, D)

    Raises:
        ValueError: the encoder returned a number of rows other than len(texts).
    """
    if takes_batch is None:
        takes_batch = takes_batch_size(encoder)
    vectors = encoder.encode(texts, batch_size=batch_size) if takes_batch else encoder.encode(texts)
    if len(vectors) != len(texts):
        raise ValueError(f"the encoder returned {len(vectors)} vectors for {len(texts)} texts")
    return vectors


def encode_chunks(encoder, chunks: Iterable[list[str]], batch_size: int = 256,
                  workers: int = 1) -> Iterator[np.ndarray]:
    """Vectors of each chunk of texts, in order; with workers > 1, chunks are encoded in that
    many processes at once (never more than there are chunks).

    Raises:
        WorkerError: a worker's exception (one line naming the chunk and its texts), or worker
            processes that died again after one retry in a new pool.
    """
    takes_batch = takes_batch_size(encoder)
    if workers <= 1:
        for chunk in chunks:
            yield encode(encoder, chunk, batch_size, takes_batch)
        return
    chunks = list(chunks)
    payload = _payload(encoder) if chunks else None
    if payload is None:  # an encoder that cannot travel to another process
        for chunk in chunks:
            yield encode(encoder, chunk, batch_size, takes_batch)
        return
    from concurrent.futures.process import BrokenProcessPool

    starts = np.concatenate([[0], np.cumsum([len(c) for c in chunks])]).astype(int).tolist()
    done = 0
    for attempt in (1, 2):
        try:
            for vectors in _pool_run(payload, chunks, done, min(workers, len(chunks) - done), batch_size,
                                     takes_batch, starts):
                done += 1
                yield vectors
            return
        except BrokenProcessPool as exc:
            if attempt == 2:
                raise WorkerError(
                    f"encoding worker processes died, again after a retry in a new pool ({done} of "
                    f"{len(chunks)} chunks done): {_first_line(exc)}; a script that starts them needs "
                    f"`if __name__ == \"__main__\":`, or run with workers=1 (--workers 1)") from exc


def _pool_run(payload: bytes, chunks: Sequence[list[str]], first: int, workers: int, batch_size: int,
              takes_batch: bool, starts: list[int]) -> Iterator[np.ndarray]:
    """Vectors of chunks[first:], in order, from a new pool of `workers` processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"), _init_worker,
                               (payload, batch_size, takes_batch, os.getpid(), USE_PDEATHSIG))
    try:
        futures = [pool.submit(_encode_in_worker, chunk) for chunk in chunks[first:]]
        for number, future in enumerate(futures, start=first):
            try:
                vectors = future.result()
            except BrokenProcessPool:
                raise
            except Exception as exc:  # raised by the encoder in the worker
                raise WorkerError(f"encoding worker failed on chunk {number} (texts {starts[number]}-"
                                  f"{starts[number + 1] - 1}): {type(exc).__name__}: {_first_line(exc)}") from exc
            yield vectors
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on an error, drop the queued chunks


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, at most 200 characters ("" when it has none)."""
    return (str(exc).splitlines() or [""])[0][:200]


def _payload(encoder) -> bytes | None:
    """The encoder pickled for the workers (a SiameseModel on its backend and one thread), or
    None when it cannot travel: unpicklable, or a class defined in a `__main__` without a file
    (`python -c`, a notebook), which a spawned worker cannot import."""
    from siamese_text.model.siamese import SiameseModel

    if isinstance(encoder, SiameseModel):  # its own backend (ONNX Runtime by default), on one thread;
        # torch's float backend travels as the NumPy path (the same vectors, without importing torch)
        encoder = encoder.with_backend("numpy", threads=1) if encoder.backend == "torch" else encoder.on_threads(1)
    module = sys.modules.get(type(encoder).__module__)
    if type(encoder).__module__ == "__main__" and getattr(module, "__file__", None) is None:
        return None
    try:
        return pickle.dumps(encoder, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):  # e.g. a lock, a local class, a lambda
        return None


def _init_worker(payload: bytes, batch_size: int, takes_batch: bool, parent: int, pdeathsig: bool) -> None:
    global _ENCODER, _BATCH, _TAKES_BATCH
    _watch_parent(parent, pdeathsig)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    _ENCODER = pickle.loads(payload)
    _BATCH, _TAKES_BATCH = batch_size, takes_batch


def _watch_parent(parent: int, pdeathsig: bool) -> None:
    """Exit this worker as soon as process `parent`, which started it, is gone."""
    if pdeathsig and sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the polling below still ends it
            pass
    if os.getppid() != parent:  # already gone while this worker was starting
        os._exit(1)
    threading.Thread(target=_poll_parent, args=(parent,), name="siamese-text parent watch", daemon=True).start()


def _poll_parent(parent: int) -> None:
    while os.getppid() == parent:  # an orphan is re-parented (to init or a subreaper)
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _encode_in_worker(texts: list[str]) -> np.ndarray:
    return np.asarray(encode(_ENCODER, texts, _BATCH, _TAKES_BATCH), dtype=np.float32)
