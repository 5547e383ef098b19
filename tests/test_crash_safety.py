"""Crash safety, proved by killing: `dedup --overwrite`, `index --overwrite`, `SiameseModel.save`
and checkpoint saving, SIGKILLed at random moments and stopped at each of their write steps.

After every kill: each output is byte for byte the complete old version or the complete new one
(a model, index or checkpoint folder as a whole: never files of two runs), the inputs are
unchanged, and nothing but complete outputs stands under a final name. The next normal run
writes the new version and leaves no temporary file behind. The writes run in child processes of
a fork server (tests/crash_harness.py), killed with SIGKILL after a seeded random delay, or made
to exit at an exact write step by the test hook SIAMESE_TEXT_CRASH_AT (model/crash_points.py),
whose every step, listed by SIAMESE_TEXT_CRASH_LOG, is tried once.

`python -m pytest tests/test_crash_safety.py -s` prints the number of kill points per write.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from statistics import median

import numpy as np
import pytest

from siamese_text.dedup import files
from siamese_text.dedup.files import WORK_PREFIX, dedup_files
from siamese_text.errors import SiameseTextError
from siamese_text.model.crash_points import CRASH_AT, CRASH_LOG, CRASH_STATUS

killing = pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill harness forks (POSIX only)")

HARNESS = Path(__file__).with_name("crash_harness.py")
RANDOM_KILLS = 20  # per write, on top of one kill at each write step
SEED = 20240613


class Harness:
    """The fork server: `run(**request)` forks one write and answers how it ended."""

    def __init__(self, cwd: Path, torch: bool = False) -> None:
        env = {k: v for k, v in os.environ.items() if k not in (CRASH_AT, CRASH_LOG)}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.log = cwd / "harness.log"
        self.proc = subprocess.Popen([sys.executable, str(HARNESS)] + (["torch"] if torch else []),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
        self._answer()

    def run(self, **request) -> dict:
        request.setdefault("log", str(self.log))
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def normal(self, **request) -> None:
        answer = self.run(**request)
        assert answer["exit"] == 0, f"a normal run failed: {answer}; log: {self.tail()}"

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""

    def _answer(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the harness stopped (status {self.proc.poll()})")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path)
    yield h
    h.close()


def snapshot(folder: Path) -> dict[str, bytes] | None:
    """relative path -> bytes of every file under `folder` (None if it is missing)."""
    if not folder.is_dir():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden(*folders: Path) -> list[str]:
    """Temporary (dot) entries directly under `folders`."""
    return sorted(str(p) for f in folders if f.is_dir() for p in f.iterdir() if p.name.startswith("."))


class Subject:
    """One write under test: how to run it for version 0 or 1, and what it leaves."""

    name = ""
    places: tuple[Path, ...] = ()  # where its temporary files may appear

    def request(self, version: int) -> dict:
        raise NotImplementedError

    def state(self) -> dict:
        """output name -> content (bytes, a folder snapshot, or None when missing)."""
        raise NotImplementedError

    def finals(self) -> set[str]:
        """The non-temporary entries that may stand in `places`."""
        raise NotImplementedError


def check_killed(subject: Subject, old: dict, new: dict, point: str, harness: Harness, inputs: dict,
                 tried: int, recoverable_ok: bool = False) -> None:
    """Every output old or new, whole; inputs unchanged; only final names in sight."""
    where = f"{subject.name}, kill point {point} ({tried} tried so far)"
    now = subject.state()
    for name, content in now.items():
        if content in (old[name], new[name]):
            continue
        if recoverable_ok and content is None:  # two-rename swap: killed between the renames
            parked = [p for place in subject.places for p in place.glob(f".{Path(name).name}.old-*")]
            assert [snapshot(p) for p in parked] == [old[name]], f"{where}: {name} is missing and not parked"
            continue
        raise AssertionError(f"{where}: {name} is neither the old nor the new version "
                             f"({_describe(content, old[name], new[name])})")
    for place in subject.places:
        extra = {p.name for p in place.iterdir() if not p.name.startswith(".")} - subject.finals()
        assert not extra, f"{where}: unexpected entries under final names in {place}: {sorted(extra)}"
    assert snapshot_inputs(subject) == inputs, f"{where}: an input changed"


def _describe(content, old, new) -> str:
    if content is None or isinstance(content, bytes):
        return f"{len(content) if content is not None else 'missing'} bytes"
    differ = sorted(k for k in set(content) | set(old or {}) | set(new or {})
                    if content.get(k) not in ((old or {}).get(k), (new or {}).get(k)))
    return f"files {sorted(content)}, differing from both: {differ}"


def snapshot_inputs(subject: Subject) -> dict:
    return {str(p): snapshot(p) for p in getattr(subject, "inputs", ())}


def exercise(subject: Subject, harness: Harness, steps_request: dict | None = None, loop: bool = False,
             recoverable_ok: bool = False, random_kills: int = RANDOM_KILLS) -> tuple[int, int]:
    """Kill `subject`'s write at each of its write steps, then at `random_kills` random moments.

    Returns:
        (write steps tried, random kills that landed before the write ended)
    """
    inputs = snapshot_inputs(subject)
    harness.normal(**subject.request(0))
    ref0 = subject.state()
    harness.normal(**subject.request(1))
    ref1 = subject.state()
    refs = {0: ref0, 1: ref1}
    for name in ref0:
        assert ref0[name] is not None and ref0[name] != ref1[name], f"{subject.name}: {name} must differ"
    harness.normal(**subject.request(0))
    assert subject.state() == ref0, f"{subject.name}: not deterministic"

    # every write step, found by a logged run over the old version, then one kill at each
    log = harness.log.with_name(f"{subject.name}-points.txt")
    log.unlink(missing_ok=True)
    harness.normal(**subject.request(1), env={CRASH_LOG: str(log)}, **(steps_request or {}))
    points = log.read_text(encoding="utf-8").split()
    assert points, f"{subject.name}: no write step reached the crash hook"
    for tried, point in enumerate(points, start=1):
        harness.normal(**subject.request(0))
        answer = harness.run(**subject.request(1), env={CRASH_AT: point}, **(steps_request or {}))
        assert answer["exit"] == CRASH_STATUS, f"{subject.name}: {point} was not reached: {answer}; {harness.tail()}"
        check_killed(subject, ref0, ref1, point, harness, inputs, tried, recoverable_ok)
        harness.normal(**subject.request(1))
        assert subject.state() == ref1, f"{subject.name}: the run after {point} did not write the new version"
        assert hidden(*subject.places) == [], f"{subject.name}: the run after {point} left {hidden(*subject.places)}"

    # random moments, the delays spread over a normal run's length (a loop: over two saves)
    rng = random.Random(f"{SEED}-{subject.name}")
    seconds = []
    for v in (0, 1, 0):
        seconds.append(harness.run(**subject.request(v))["seconds"])
    span = median(seconds) * (2 if loop else 1.1)
    current, landed = 0, 0
    for kill in range(1, random_kills + 1):
        new = 1 - current
        delay = rng.uniform(0.0, span)
        answer = harness.run(**subject.request(new), kill_after=delay, **({"loop": True} if loop else {}))
        landed += answer["killed"]
        old_state, new_state = (refs[current], refs[new]) if not loop else (refs[0], refs[1])
        check_killed(subject, old_state, new_state, f"random #{kill} at {delay * 1000:.0f} ms", harness, inputs,
                     len(points) + kill)
        harness.normal(**subject.request(new))
        assert subject.state() == refs[new] and hidden(*subject.places) == [], \
            f"{subject.name}: the run after random kill #{kill} left {hidden(*subject.places)}"
        current = new
    print(f"\n{subject.name}: {len(points)} write steps and {random_kills} random kills "
          f"({landed} landed before the write ended)")
    return len(points), landed


# ----- the writes ----------------------------------------------------------------------------------

LINES = ["how do i learn python ?", "how do i learn python?", "bake bread", "not cats", "python python",
         "i learn to bake bread", "", "cats ?", "do i bake bread ?", "how do i bake bread"]


def _corpus(version: int, n: int, salt: str) -> bytes:
    rng = random.Random(f"{salt}-{version}")
    return "".join(f"{rng.choice(LINES)} {rng.choice(LINES)} {i % 17}\n" for i in range(n)).encode()


class DedupFiles(Subject):
    """`siamese-text dedup in{v}/x.txt - --out out --report report.jsonl --overwrite` (stdin: in{v}/y.txt)."""

    name = "dedup"

    def __init__(self, root: Path, model: Path) -> None:
        self.root, self.model = root, model
        for v in (0, 1):
            (root / f"in{v}").mkdir(parents=True)
            (root / f"in{v}" / "x.txt").write_bytes(_corpus(v, 300, "x"))
            (root / f"in{v}" / "y.txt").write_bytes(_corpus(v, 200, "y"))
        self.inputs = (root / "in0", root / "in1")
        self.places = (root, root / "out")

    def request(self, version: int) -> dict:
        return {"run": "cli", "cwd": str(self.root), "stdin": str(self.root / f"in{version}" / "y.txt"),
                "argv": ["dedup", f"in{version}/x.txt", "-", "--out", "out", "--report", "report.jsonl",
                         "--overwrite", "--model", str(self.model), "--no-progress", "--workers", "1"]}

    def state(self) -> dict:
        files = ("out/x.txt", "out/stdin.txt", "report.jsonl")
        return {f: (self.root / f).read_bytes() if (self.root / f).exists() else None for f in files}

    def finals(self) -> set[str]:
        return {"in0", "in1", "out", "report.jsonl", "x.txt", "stdin.txt"}


class IndexFolder(Subject):
    """`siamese-text index in/{v}.txt --out idx --overwrite`."""

    name = "index"

    def __init__(self, root: Path, model: Path, name: str = "index") -> None:
        self.root, self.model, self.name = root, model, name
        (root / "in").mkdir(parents=True)
        for v in (0, 1):
            (root / "in" / f"{v}.txt").write_bytes(_corpus(v, 300, "index"))
        self.inputs = (root / "in",)
        self.places = (root,)

    def request(self, version: int) -> dict:
        return {"run": "cli", "cwd": str(self.root),
                "argv": ["index", f"in/{version}.txt", "--out", "idx", "--overwrite", "--model", str(self.model),
                         "--no-progress"]}

    def state(self) -> dict:
        return {"idx": snapshot(self.root / "idx")}

    def finals(self) -> set[str]:
        return {"in", "idx"}


class ModelFolder(Subject):
    """SiameseModel.save(m), once or in a loop alternating two models."""

    name = "model save"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True)
        self.places = (root,)

    def request(self, version: int) -> dict:
        return {"run": "model", "path": str(self.root / "m"), "version": version}

    def state(self) -> dict:
        return {"m": snapshot(self.root / "m")}

    def finals(self) -> set[str]:
        return {"m"}


@pytest.mark.slow
@killing
def test_dedup_overwrite_killed_anywhere_leaves_old_or_new_outputs(tmp_path, harness):
    harness.normal(run="model", path=str(tmp_path / "model"), version=0)
    subject = DedupFiles(tmp_path / "dedup", tmp_path / "model")
    steps, _ = exercise(subject, harness)
    assert steps >= 12  # 3 outputs: written, kept aside, renamed, old copy removed


@pytest.mark.slow
@killing
def test_index_overwrite_killed_anywhere_leaves_the_old_or_the_new_folder(tmp_path, harness):
    harness.normal(run="model", path=str(tmp_path / "model"), version=0)
    steps, _ = exercise(IndexFolder(tmp_path / "index", tmp_path / "model"), harness)
    assert steps >= 5  # 3 files, the exchange, the old folder removed
    # where folders cannot be exchanged in one rename: killed between the two renames, the old
    # folder is parked aside whole, and the next run puts it back before replacing it
    fallback = IndexFolder(tmp_path / "index-two-renames", tmp_path / "model", "index (two renames)")
    steps, _ = exercise(fallback, harness, {"no_exchange": True}, recoverable_ok=True, random_kills=0)
    assert steps >= 6


@pytest.mark.slow
@killing
def test_model_save_killed_anywhere_leaves_one_whole_model(tmp_path, harness):
    steps, _ = exercise(ModelFolder(tmp_path / "models"), harness, loop=True)
    assert steps >= 5


@pytest.mark.slow
@killing
def test_checkpoint_save_killed_anywhere_leaves_whole_checkpoints(tmp_path):
    from siamese_text.training.checkpoint import latest_checkpoint, load_checkpoint

    h = Harness(tmp_path, torch=True)
    try:
        root, refs_root = tmp_path / "ck", tmp_path / "refs"
        refs = {}
        for v in (0, 1):
            h.normal(run="checkpoint", root=str(refs_root / str(v)), version=v, start=v)
            refs[v] = snapshot(refs_root / str(v) / f"epoch-{v:04d}")
        assert refs[0] != refs[1]

        def check(point: str, tried: int, newest: int) -> None:
            where = f"checkpoint save, kill point {point} ({tried} tried so far)"
            folders = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
            assert folders, f"{where}: no checkpoint left"
            for name in folders:
                assert snapshot(root / name) == refs[int(name[-4:]) % 2], f"{where}: {name} is not whole"
            latest = latest_checkpoint(root)
            assert latest is not None and int(latest.name[-4:]) >= newest, f"{where}: lost the newest checkpoint"
            assert load_checkpoint(latest).state["epoch"] == int(latest.name[-4:]) % 2

        def reset(number: int) -> None:
            shutil.rmtree(root, ignore_errors=True)
            h.normal(run="checkpoint", root=str(root), version=number % 2, start=number)

        log = tmp_path / "checkpoint-points.txt"
        reset(0)
        h.normal(run="checkpoint", root=str(root), version=1, start=1, env={CRASH_LOG: str(log)})
        points = log.read_text(encoding="utf-8").split()
        assert len(points) >= 8, points  # 5 files, the state, the swap, the pruning of the older one
        for tried, point in enumerate(points, start=1):
            reset(0)
            answer = h.run(run="checkpoint", root=str(root), version=1, start=1, env={CRASH_AT: point})
            assert answer["exit"] == CRASH_STATUS, f"{point} was not reached: {answer}; {h.tail()}"
            check(point, tried, 0)
            h.normal(run="checkpoint", root=str(root), version=1, start=1)
            assert snapshot(root) == {f"epoch-0001/{k}": v for k, v in refs[1].items()}, \
                f"the save after {point} left {sorted(p.name for p in root.iterdir())}"

        rng = random.Random(f"{SEED}-checkpoint")
        reset(0)
        span = 2 * median(h.run(run="checkpoint", root=str(tmp_path / "timing"), version=v, start=v)["seconds"]
                          for v in (0, 1, 0))
        number, landed = 0, 0
        for kill in range(1, RANDOM_KILLS + 1):
            delay = rng.uniform(0.0, span)
            answer = h.run(run="checkpoint", root=str(root), version=(number + 1) % 2, start=number + 1,
                           loop=True, kill_after=delay)
            landed += answer["killed"]
            check(f"random #{kill} at {delay * 1000:.0f} ms", len(points) + kill, number)
            number = int(latest_checkpoint(root).name[-4:]) + 1
            h.normal(run="checkpoint", root=str(root), version=number % 2, start=number)
            assert [p.name for p in root.iterdir()] == [f"epoch-{number:04d}"], \
                f"the save after random kill #{kill} left {sorted(p.name for p in root.iterdir())}"
        print(f"\ncheckpoint save: {len(points)} write steps and {RANDOM_KILLS} random kills "
              f"({landed} landed before the write ended)")
    finally:
        h.close()


# ----- the same guarantees, in this process ---------------------------------------------------------

class FirstLetter:
    """An encoder for which texts with the same first letter are duplicates (cosine 1)."""

    def encode(self, texts):
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, ord(t[0]) % 8 if t else 0] = 1.0
        return out


def _dedup(tmp_path: Path, inputs, **kwargs):
    return dedup_files(inputs, tmp_path / "out", tmp_path / "report.jsonl", FirstLetter(), threshold=0.99, **kwargs)


class _Stdin:
    def __init__(self, data: bytes) -> None:
        import io

        self.buffer = io.BytesIO(data)


def test_a_failed_rename_puts_back_every_output_it_had_replaced(tmp_path, monkeypatch):
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_bytes(b"apple\navocado\n")
    two.write_bytes(b"banana\nberry\n")
    (tmp_path / "out").mkdir()
    old = {tmp_path / "out" / "one.txt": b"old one", tmp_path / "out" / "two.txt": b"old two",
           tmp_path / "report.jsonl": b"old report"}
    for path, data in old.items():
        path.write_bytes(data)
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # the report, after both outputs were replaced
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk full"):
        _dedup(tmp_path, [one, two], overwrite=True)
    monkeypatch.undo()
    assert {path: path.read_bytes() for path in old} == old
    assert hidden(tmp_path, tmp_path / "out") == []
    _dedup(tmp_path, [one, two], overwrite=True)
    assert (tmp_path / "out" / "one.txt").read_bytes() == b"apple\n"


def test_without_hard_links_outputs_are_still_replaced_and_put_back(tmp_path, monkeypatch):
    one = tmp_path / "one.txt"
    one.write_bytes(b"apple\navocado\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "one.txt").write_bytes(b"old one")

    def no_link(*args, **kwargs):
        raise OSError("hard links not supported")

    monkeypatch.setattr(files.os, "link", no_link)
    _dedup(tmp_path, [one], overwrite=True)
    assert (tmp_path / "out" / "one.txt").read_bytes() == b"apple\n"
    assert hidden(tmp_path, tmp_path / "out") == []


def test_a_killed_runs_leftovers_are_cleaned_and_a_parked_output_put_back(tmp_path, monkeypatch):
    src = tmp_path / "one.txt"
    src.write_bytes(b"apple\navocado\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".one.txt.tmp-0badc0de").write_bytes(b"half a new output")
    (out / ".stdin.txt.old-0badc0de").write_bytes(b"old stdin output")  # killed between two renames
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    stale_work = out / f"{WORK_PREFIX}{int(gone.stdout)}-0badc0de"
    stale_work.mkdir()
    (stale_work / "stdin").write_bytes(b"a spool")
    (out / "one.txt").write_bytes(b"old one")
    monkeypatch.setattr(sys, "stdin", _Stdin(b"cherry\ncoconut\n"))
    with pytest.raises(SiameseTextError, match="one.txt: already exists"):
        _dedup(tmp_path, [src, "-"])
    assert (out / "stdin.txt").read_bytes() == b"old stdin output"  # put back, so it is not lost
    assert hidden(out) == []
    monkeypatch.setattr(sys, "stdin", _Stdin(b"cherry\ncoconut\n"))
    _dedup(tmp_path, [src, "-"], overwrite=True)
    assert (out / "stdin.txt").read_bytes() == b"cherry\n" and hidden(tmp_path, out) == []


def test_the_stdin_spool_lives_beside_the_outputs_and_goes_with_the_run(tmp_path, monkeypatch):
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(system_tmp))
    spools = []
    real_open_sources = files.open_sources

    def recording_open_sources(paths, spool_dir):
        spools.append(spool_dir)
        return real_open_sources(paths, spool_dir)

    monkeypatch.setattr(files, "open_sources", recording_open_sources)
    monkeypatch.setattr(sys, "stdin", _Stdin(b"cherry\ncoconut\n"))
    _dedup(tmp_path, ["-"])
    assert spools[0].parent == tmp_path / "out" and spools[0].name.startswith(WORK_PREFIX)
    assert not spools[0].exists() and list(system_tmp.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["stdin.txt"]


def test_a_failed_index_save_keeps_the_old_index(tmp_path, monkeypatch):
    from siamese_text.dedup.index import VectorIndex
    from siamese_text.dedup.search import TextIndex

    folder = tmp_path / "idx"
    TextIndex.build(["apple", "banana"], FirstLetter(), threshold=0.99).save(folder)
    before = snapshot(folder)
    new = TextIndex.build(["cherry", "date", "elderberry"], FirstLetter(), threshold=0.99)

    def full_disk(self, path):
        raise OSError("disk full")

    monkeypatch.setattr(VectorIndex, "save", full_disk)
    with pytest.raises(OSError, match="disk full"):
        new.save(folder, overwrite=True)
    assert snapshot(folder) == before and hidden(tmp_path) == []
    monkeypatch.undo()
    new.save(folder, overwrite=True)
    assert snapshot(folder) != before and len(TextIndex.load(folder, FirstLetter())) == 3
    assert hidden(tmp_path) == []
