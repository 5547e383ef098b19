"""encode's batching (model/batching.py): every text lands in its own row whatever the threads, a
batch pads little, one thread featurizes at a time, and an error on any thread reaches the caller."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from siamese_text.model.batching import BatchPlan
from siamese_text.text.features import Features


def _featurize(texts):
    """One id per word (its length), so a text's vector can be checked: [words, sum of lengths]."""
    return [Features(tuple(len(w) for w in t.split()), ()) for t in texts]


class Recorder:
    """An encoder returning [tokens, sum of ids] per row, noting the batches' widths and threads."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.widths, self.threads, self.fail_on = [], set(), fail_on
        self.lock = threading.Lock()

    def __call__(self, ids, lengths, **_):
        with self.lock:
            self.widths.append((ids.shape[1], int(lengths.sum())))
            self.threads.add(threading.current_thread().name)
        if self.fail_on is not None and self.fail_on in lengths:
            raise ValueError(f"a row of {self.fail_on} tokens")
        return np.stack([lengths, ids.sum(1)], axis=1).astype(np.float32)


TEXTS = [" ".join("w" * (1 + (i * j) % 7) for j in range(1 + (i * 37) % 23)) for i in range(700)]
EXPECTED = np.array([[len(t.split()), sum(map(len, t.split()))] for t in TEXTS], dtype=np.float32)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_every_text_gets_its_own_row_and_batches_pad_little(threads):
    encoder = Recorder()
    out = np.zeros((len(TEXTS), 2), dtype=np.float32)
    plan = BatchPlan(encoder, _featurize, TEXTS, None, out, batch_size=32, chunk=128, use_subwords=False)
    plan.work(threads) if threads > 1 else plan.run_all()
    np.testing.assert_array_equal(out, EXPECTED)
    padded = sum(width * 32 for width, _ in encoder.widths)
    real = sum(tokens for _, tokens in encoder.widths)
    assert padded < 1.2 * real  # sorted by token count within each chunk
    assert len(encoder.threads) <= threads


def test_the_same_batches_whatever_the_threads():
    seen = []
    for threads in (1, 2):
        encoder = Recorder()
        out = np.zeros((len(TEXTS), 2), dtype=np.float32)
        plan = BatchPlan(encoder, _featurize, TEXTS, None, out, batch_size=32, chunk=128, use_subwords=False)
        plan.work(threads) if threads > 1 else plan.run_all()
        seen.append(sorted(encoder.widths))
    assert seen[0] == seen[1]


def test_features_given_by_the_caller_are_used_as_they_are():
    out = np.zeros((len(TEXTS), 2), dtype=np.float32)
    BatchPlan(Recorder(), None, None, _featurize(TEXTS), out, batch_size=50, chunk=200, use_subwords=False).work(2)
    np.testing.assert_array_equal(out, EXPECTED)


def test_an_error_on_a_helper_thread_reaches_the_caller_and_stops_the_rest():
    encoder = Recorder(fail_on=20)
    out = np.zeros((len(TEXTS), 2), dtype=np.float32)
    with pytest.raises(ValueError, match="a row of 20 tokens"):
        BatchPlan(encoder, _featurize, TEXTS, None, out, batch_size=16, chunk=64, use_subwords=False).work(2)
    assert not any(t.name.startswith("siamese-encode") for t in threading.enumerate())  # all joined

    def bad_featurize(texts):
        raise TypeError("expected a str, got NoneType")

    with pytest.raises(TypeError, match="expected a str"):
        BatchPlan(Recorder(), bad_featurize, TEXTS, None, out, batch_size=16, chunk=64, use_subwords=False).work(3)


def test_a_model_encodes_the_same_on_two_threads(tiny_model):
    texts = [f"how do i learn python {'bake bread ' * (i % 5)}{i}" for i in range(300)]
    one = tiny_model.encode(texts)
    tiny_model.threads = 2
    np.testing.assert_array_equal(tiny_model.encode(texts, batch_size=16), tiny_model.with_backend(
        "numpy", threads=1).encode(texts, batch_size=16))
    assert one.shape == (300, tiny_model.dim)
    with pytest.raises(TypeError, match="expected a str"):
        tiny_model.encode(texts[:200] + [None], batch_size=16)


class TwoSteps(Recorder):
    """An encoder in two steps, as the ONNX backend: inputs(**padded), then network(**inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.prepared_on, self.network_on = set(), set()

    def inputs(self, ids, lengths, **_):
        self.prepared_on.add(threading.current_thread().name)
        return {"ids": ids, "lengths": lengths, "marked": np.ones(1)}

    def network(self, ids, lengths, marked):
        self.network_on.add(threading.current_thread().name)
        assert marked[0] == 1
        return self(ids, lengths)


def test_a_two_step_encoder_gets_its_inputs_built_with_the_features():
    encoder = TwoSteps()
    out = np.zeros((len(TEXTS), 2), dtype=np.float32)
    BatchPlan(encoder, _featurize, TEXTS, None, out, batch_size=32, chunk=128, use_subwords=False).work(2)
    np.testing.assert_array_equal(out, EXPECTED)
    assert encoder.prepared_on and encoder.network_on


def test_threads_shorten_the_switch_interval_and_put_it_back(monkeypatch):
    import sys

    from siamese_text.model import batching

    seen = []

    class Spy(Recorder):
        def __call__(self, ids, lengths, **kw):
            seen.append(sys.getswitchinterval())
            return super().__call__(ids, lengths, **kw)

    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.004)
        out = np.zeros((len(TEXTS), 2), dtype=np.float32)
        BatchPlan(Spy(), _featurize, TEXTS, None, out, batch_size=32, chunk=128, use_subwords=False).work(2)
        assert seen and all(v == pytest.approx(batching.SWITCH_INTERVAL) for v in seen)
        assert sys.getswitchinterval() == pytest.approx(0.004)
        with batching.short_switches():  # nested: the outer interval comes back only at the end
            with batching.short_switches():
                pass
            assert sys.getswitchinterval() == pytest.approx(batching.SWITCH_INTERVAL)
        assert sys.getswitchinterval() == pytest.approx(0.004)
        seen.clear()
        BatchPlan(Spy(), _featurize, TEXTS, None, out, batch_size=32, chunk=128, use_subwords=False).run_all()
        assert seen and all(v == pytest.approx(0.004) for v in seen)  # one thread: left alone
    finally:
        sys.setswitchinterval(before)


BLAS_CHECK = """
import json
import threadpoolctl
from siamese_text.model import numpy_encoder
from siamese_text.model.backends import FEW_TEXTS
from siamese_text.model.siamese import SiameseModel

def blas():
    return max([i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"] or [0])

model = SiameseModel.load(backend="numpy", threads=1)
seen, real = [], numpy_encoder.NumpyEncoder.__call__
def spy(self, *args, **kwargs):
    seen.append(blas())
    return real(self, *args, **kwargs)
numpy_encoder.NumpyEncoder.__call__ = spy
outside = blas()
model.encode(["how do i learn python ?"] * 300)
many, after = list(seen), blas()
seen.clear()
model.encode(["how do i learn python ?"] * FEW_TEXTS)
print(json.dumps({"outside": outside, "many": many, "after": after, "few": seen}))
"""


def test_blas_runs_one_thread_inside_a_numpy_forward_pass_and_few_texts_leave_it_alone():
    # in a process of its own: the BLAS libraries another test loaded (torch's) are not NumPy's
    import json
    import os
    import subprocess
    import sys

    pytest.importorskip("threadpoolctl")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", BLAS_CHECK], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    if seen["outside"] < 2:
        pytest.skip("BLAS has one thread here already: nothing to limit")
    assert seen["many"] and set(seen["many"]) == {1}
    assert seen["after"] == seen["outside"]  # put back afterwards
    assert seen["few"] == [seen["outside"]]
