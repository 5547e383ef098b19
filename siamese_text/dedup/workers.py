"""Encoding on several CPU cores: worker processes, each running the encoder on one thread.

Processes rather than threads: a BiLSTM forward pass on one thread per process scales with the
cores, while torch's and faiss's thread pools, sharing a busy machine, mostly wait for each
other. Workers are started with "spawn" (safe whatever the parent did with torch before); a
SiameseModel reaches them as a saved model folder, any other encoder by pickling, and an
encoder that can be neither runs in the calling process.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

_ENCODER = None  # the encoder of this worker process
_BATCH = 256


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
    """`workers`, or for 0 the CPUs this process may run on (its affinity, not the machine's count)."""
    if workers > 0:
        return workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def encode(encoder, texts: list[str], batch_size: int) -> np.ndarray:
    """encoder.encode(texts), passing batch_size to encoders that take one. -> (N, D)"""
    try:
        return encoder.encode(texts, batch_size=batch_size)
    except TypeError:  # a plain encoder without batch_size
        return encoder.encode(texts)


def encode_chunks(encoder, chunks: Iterable[list[str]], batch_size: int = 256,
                  workers: int = 1) -> Iterator[np.ndarray]:
    """Vectors of each chunk of texts, in order; with workers > 1, chunks are encoded in that
    many processes at once."""
    if workers <= 1:
        for chunk in chunks:
            yield encode(encoder, chunk, batch_size)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    chunks = list(chunks)
    with tempfile.TemporaryDirectory(prefix="siamese-workers-") as tmp:
        payload = _payload(encoder, Path(tmp))
        done = 0
        if payload is not None:
            pool = ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"), _init_worker,
                                       (payload, batch_size))
            try:
                for vecs in pool.map(_encode_in_worker, chunks):
                    done += 1
                    yield vecs
            except BrokenProcessPool:
                pass  # workers could not start (say, a __main__ that cannot be re-imported)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)  # on an error, drop the queued chunks
        for chunk in chunks[done:]:
            yield encode(encoder, chunk, batch_size)


def _payload(encoder, folder: Path):
    """How the encoder travels to a worker: ("folder", path) or ("pickle", bytes); None if it can't."""
    from siamese_text.model.siamese import SiameseModel

    if isinstance(encoder, SiameseModel):
        try:
            encoder.save(folder / "model")
            return ("folder", str(folder / "model"))
        except Exception:  # noqa: BLE001 - e.g. a quantized copy, which refuses to be saved
            pass
    try:
        return ("pickle", pickle.dumps(encoder))
    except Exception:  # noqa: BLE001 - anything unpicklable just stays in this process
        return None


def _init_worker(payload, batch_size: int) -> None:
    global _ENCODER, _BATCH
    kind, data = payload
    if kind == "folder":
        from siamese_text.model.siamese import SiameseModel

        _ENCODER = SiameseModel.load(data)
    else:
        _ENCODER = pickle.loads(data)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    _BATCH = batch_size


def _encode_in_worker(texts: list[str]) -> np.ndarray:
    return np.asarray(encode(_ENCODER, texts, _BATCH), dtype=np.float32)
