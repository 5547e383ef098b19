"""How `SiameseModel.encode` cuts many texts into batches and spreads them over threads.

Texts are taken shortest first by word count (spaces: known before tokenizing, and cheap), in
chunks of `chunk` texts; a chunk is featurized at once (tokens, ids, n-grams of unknown words)
and its texts sorted by token count into batches, so that a batch pads little. The batches of a
text depend only on the texts given, never on the threads, so vectors do not either.

On N threads each thread takes whichever job is due: featurizing the next chunk (Python work
that holds the GIL; one thread at a time does it) or running a ready batch through the encoder
(ONNX Runtime and NumPy's kernels release the GIL). So one thread tokenizes while the others run
the network, and the GIL-held part overlaps the native part instead of preceding it. An encoder
that splits its work (`inputs`, then `network`: the ONNX backend) has each batch's inputs (padding,
token vectors) built in the featurizing job too, so a thread running the network holds the GIL
only to start and end a run.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from siamese_text.text.features import Features, pad_batch

Batch = tuple[list[int], dict]  # the texts' positions in the output, and the encoder's keyword arguments


class BatchPlan:
    """The chunks of one `encode` call and the batches made from them, for one or more threads.

    Args:
        encoder: the tower, (**pad_batch arrays) -> (B, D) vectors; may run on several threads.
        featurize: texts -> their Features (only used when `features` is None).
        texts, features: the texts, or their Features when the caller has them.
        out: the (N, D) array the vectors go to.
        batch_size: texts per forward pass; chunk: texts featurized together.
        use_subwords: whether the batches carry n-grams.
    """

    def __init__(self, encoder: Callable[..., np.ndarray], featurize: Callable[[list[str]], list[Features]],
                 texts: Sequence[str] | None, features: Sequence[Features] | None, out: np.ndarray,
                 batch_size: int, chunk: int, use_subwords: bool) -> None:
        self.featurize = featurize
        # an encoder in two steps: inputs(**padded) (NumPy, partly under the GIL), then network(**inputs)
        self.inputs = getattr(encoder, "inputs", None)
        self.network = encoder.network if self.inputs is not None else encoder
        self.texts, self.features, self.out = texts, features, out
        self.batch_size, self.use_subwords = batch_size, use_subwords
        count = len(out)
        if features is None:
            words = [t.count(" ") if isinstance(t, str) else 0 for t in texts]
        else:
            words = [len(f) for f in features]
        order = sorted(range(count), key=words.__getitem__)
        self.chunks = deque(order[s : s + chunk] for s in range(0, count, chunk))
        self.per_chunk = -(-chunk // batch_size)
        self.ready: deque[Batch] = deque()
        self._cond = threading.Condition()
        self._featurizing = False
        self._error: BaseException | None = None
        self._stopped = False

    def batches_of(self, idx: list[int]) -> list[Batch]:
        """Featurize the texts at `idx` and cut them, sorted by token count, into batches."""
        feats = self.featurize([self.texts[i] for i in idx]) if self.features is None else \
            [self.features[i] for i in idx]
        local = sorted(range(len(idx)), key=lambda j: len(feats[j]))
        batches = []
        for b in range(0, len(local), self.batch_size):
            part = local[b : b + self.batch_size]
            padded = pad_batch([feats[j] for j in part], self.use_subwords)
            batches.append(([idx[j] for j in part], self.inputs(**padded) if self.inputs else padded))
        return batches

    def run(self, batch: Batch) -> None:
        """Encode one batch into its rows of `out`."""
        rows, inputs = batch
        self.out[rows] = self.network(**inputs)

    def run_all(self) -> None:
        """On this thread alone: each chunk, then its batches."""
        while self.chunks:
            for batch in self.batches_of(self.chunks.popleft()):
                self.run(batch)

    def work(self, threads: int) -> None:
        """Run every chunk and batch on `threads` threads (this one among them); the first error is raised."""
        helpers = [threading.Thread(target=self._worker, args=(threads,), name=f"siamese-encode-{k}", daemon=True)
                   for k in range(threads - 1)]
        with short_switches():
            for helper in helpers:
                helper.start()
            try:
                self._worker(threads)
            finally:
                with self._cond:  # the others stop after their current job (all done, an error, an interrupt)
                    self._stopped = True
                    self._cond.notify_all()
                for helper in helpers:
                    helper.join()
        if self._error is not None:
            raise self._error

    def _next(self, threads: int):
        """The next job ("featurize", chunk) or ("run", batch), or None when all is done."""
        with self._cond:
            while self._error is None and not self._stopped:
                # featurize when no other thread does and few batches wait (bounded memory)
                if self.chunks and not self._featurizing and len(self.ready) < threads * self.per_chunk:
                    self._featurizing = True
                    return "featurize", self.chunks.popleft()
                if self.ready:
                    return "run", self.ready.popleft()
                if not self.chunks and not self._featurizing:
                    return None
                self._cond.wait()
            return None

    def _worker(self, threads: int) -> None:
        while (job := self._next(threads)) is not None:
            kind, item = job
            try:
                if kind == "run":
                    self.run(item)
                else:
                    made = self.batches_of(item)
                    with self._cond:
                        self.ready.extend(made)
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which raises it
                with self._cond:
                    if self._error is None:
                        self._error = exc
                    self._cond.notify_all()
                return
            finally:
                if kind == "featurize":
                    with self._cond:
                        self._featurizing = False
                        self._cond.notify_all()


SWITCH_INTERVAL = 0.0003  # seconds, while threads encode; CPython's default is 0.005
_switch_lock = threading.Lock()
_switch_users = [0, 0.0]  # encode calls now running on several threads, and the interval before the first


@contextlib.contextmanager
def short_switches():
    """CPython's switch interval shortened while threads encode, then put back.

    A thread back from ONNX Runtime (which ran without the GIL) needs the GIL to hand over its
    vectors and take the next batch; while the featurizing thread runs Python it only lets go
    when asked, after the switch interval: 5 ms by default, a quarter of a batch's time in the
    network, lost by the thread that waits. Measured here on two threads (20,000 questions,
    benchmarks/speed.py table 1b): 1.5x one thread at 5 ms, 1.8x at 0.3 ms. Nested and concurrent
    calls share one change; the last to end restores the interval it found.
    """
    with _switch_lock:
        if _switch_users[0] == 0:
            _switch_users[1] = sys.getswitchinterval()
            sys.setswitchinterval(min(SWITCH_INTERVAL, _switch_users[1]))
        _switch_users[0] += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users[0] -= 1
            if _switch_users[0] == 0:
                sys.setswitchinterval(_switch_users[1])
