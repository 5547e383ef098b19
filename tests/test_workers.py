"""Encoding worker processes: they die with their parent, fail loudly naming the chunk, retry a
broken pool once and then say so, and default to the CPUs this process may use."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from siamese_text.dedup import workers
from siamese_text.dedup.stages import DedupConfig, dedup
from siamese_text.dedup.workers import WorkerError, available_cpus, encode_chunks

from conftest import make_tiny_model
from worker_encoders import Dying, Failing

PACKAGE = Path(workers.__file__).resolve().parents[1]


def test_a_failing_encoder_gives_one_line_naming_the_chunk():
    chunks = [[f"t{i:03d}" for i in range(s, s + 4)] for s in range(0, 12, 4)]
    chunks[1][3] = "bad!!"
    with pytest.raises(WorkerError) as caught:
        list(encode_chunks(Failing(), chunks, workers=2))
    assert str(caught.value) == "encoding worker failed on chunk 1 (texts 4-7): ValueError: cannot encode 'bad!!'"

    texts = [f"t{i:04d}" for i in range(600)]  # one length: chunks keep the input order
    texts[300] = "bad!!"
    with pytest.raises(WorkerError, match=r"^encoding worker failed on chunk 1 \(texts 256-511\): ValueError"):
        dedup(texts, Failing(), threshold=0.9, config=DedupConfig(workers=2, min_parallel=0))


def test_a_broken_pool_is_retried_once_then_the_error_says_so(tmp_path):
    chunks = [[f"text {i}"] * 3 for i in range(6)]
    marker = tmp_path / "died-once"
    got = list(encode_chunks(Dying(str(marker)), chunks, workers=2))  # a worker dies; the retry finishes
    assert marker.exists()
    np.testing.assert_array_equal(np.concatenate(got), [[6.0, 1.0]] * 18)
    with pytest.raises(WorkerError, match=r"^encoding worker processes died, again after a retry in a new pool "
                                          r"\(0 of 6 chunks done\)"):
        list(encode_chunks(Dying(), chunks, workers=2))


def test_batch_size_goes_to_encoders_whose_signature_takes_it_and_a_type_error_is_not_retried():
    seen = []

    class WithBatch:
        def encode(self, texts, batch_size=None):
            seen.append(batch_size)
            return np.zeros((len(texts), 2), dtype=np.float32)

    class Plain:
        def encode(self, texts):
            seen.append("plain")
            return np.zeros((len(texts), 2), dtype=np.float32)

    class Buggy:
        def encode(self, texts, batch_size=32):
            seen.append("buggy")
            raise TypeError("a bug inside encode")

    list(encode_chunks(WithBatch(), [["a"], ["b"]], batch_size=7))
    list(encode_chunks(Plain(), [["a"]], batch_size=7))
    with pytest.raises(TypeError, match="a bug inside encode"):
        list(encode_chunks(Buggy(), [["a"]], batch_size=7))
    assert seen == [7, 7, "plain", "buggy"]  # the bug is raised, never retried without batch_size


def test_a_model_in_workers_gives_the_vectors_of_this_process():
    model = make_tiny_model()
    chunks = [["how do i learn python ?", "bake bread"], ["not cats", ""], ["python python python"]]
    here = np.concatenate(list(encode_chunks(model, chunks, workers=1)))
    there = np.concatenate(list(encode_chunks(model, chunks, workers=2)))
    np.testing.assert_allclose(there, here, rtol=1e-5, atol=1e-6)


def test_the_default_worker_count_is_the_cpus_this_process_may_use():
    assert available_cpus(3) == 3
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this system")
    assert 1 <= available_cpus() <= len(os.sched_getaffinity(0))
    code = ("import os; from siamese_text.dedup.workers import available_cpus; "
            "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); print(available_cpus(0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "1"  # one CPU allowed, whatever the machine has


def test_no_module_counts_the_machines_cpus_for_workers():
    """os.cpu_count() is the machine's count; only available_cpus may fall back to it."""
    found = []
    for file in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "cpu_count":
                found.append(f"{file.relative_to(PACKAGE)}:{node.lineno}")
    assert found == ["dedup/workers.py:" + str(_line_of("os.cpu_count() or 1"))]


def _line_of(snippet: str) -> int:
    lines = Path(workers.__file__).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if snippet in line)


# ----- a worker dies with its parent ---------------------------------------------------------------

PARENT_SCRIPT = textwrap.dedent('''
    import os, sys, time
    import numpy as np
    from siamese_text.dedup import workers

    class Stuck:
        """Records its worker's PID, then blocks as a long encode would."""

        def __init__(self, folder):
            self.folder = folder

        def encode(self, texts):
            open(os.path.join(self.folder, str(os.getpid())), "w").close()
            time.sleep(300)
            return np.zeros((len(texts), 2), dtype=np.float32)

    if __name__ == "__main__":
        workers.USE_PDEATHSIG = sys.argv[2] == "1"
        for _ in workers.encode_chunks(Stuck(sys.argv[1]), [["a"], ["b"], ["c"]], workers=2):
            pass
''')


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (when the process started), None once it has exited (or is a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("pdeathsig", ["1", "0"], ids=["prctl", "polling-only"])
def test_workers_exit_when_their_parent_is_killed(tmp_path, pdeathsig):
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT, encoding="utf-8")
    pids = tmp_path / "pids"
    pids.mkdir()
    started: dict[int, str | None] = {}
    with open(tmp_path / "stderr.txt", "wb") as err:  # a file: the workers inherit it, a pipe would stay open
        parent = subprocess.Popen([sys.executable, str(script), str(pids), pdeathsig], stderr=err)
    try:
        deadline = time.monotonic() + 120  # two spawned interpreters importing NumPy on a busy machine
        while len(list(pids.iterdir())) < 2 and parent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        started = {int(p.name): _start_time(int(p.name)) for p in pids.iterdir()}
        assert len(started) == 2 and all(started.values()), \
            f"workers did not start: {started}, parent status {parent.poll()}"
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 15  # the workers poll once a second
        alive = started
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = {pid: t for pid, t in started.items() if _start_time(pid) == t}
        assert not alive, (f"workers {sorted(alive)} outlived their killed parent by 15 s (stderr: "
                           f"{(tmp_path / 'stderr.txt').read_text(errors='replace')[-500:]!r})")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=30)
        for pid, t in started.items():  # never leave one behind, whatever failed
            if t is not None and _start_time(pid) == t:
                os.kill(pid, signal.SIGKILL)
