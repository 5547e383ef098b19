"""A fork server for tests/test_crash_safety.py: runs writes in child processes and kills them.

    python tests/crash_harness.py [torch]

reads one JSON request a line on stdin and answers one JSON line on stdout. Each request forks a
child process that runs one write, with the request's environment added (the crash hook
SIAMESE_TEXT_CRASH_AT / _LOG of siamese_text/model/crash_points.py), and optionally SIGKILLs it
after `kill_after` seconds. Forking from a process that has already imported the package makes a
run take milliseconds rather than an interpreter's start-up, so many kill points fit in a short
test; each run is still a process of its own, killed exactly as a user's would be.

Requests: {"run": "cli", "argv": [...], "stdin": FILE | null, "cwd": DIR}  (`siamese-text ARGV`)
          {"run": "model", "path": DIR, "version": 0 | 1, "loop": bool}      (SiameseModel.save)
          {"run": "checkpoint", "root": DIR, "version": 0 | 1, "loop": bool, "start": N}
                                       (save_checkpoint(root, f"epoch-{N:04d}") with keep=1;
                                        a loop goes on with N + 1, N + 2, ..., versions alternating)
  plus "env": {...}, "kill_after": seconds | null, "log": FILE (the child's stdout and stderr),
  "no_exchange": true (folders swapped by two renames, as where renameat2 is missing).
Answer:   {"exit": status | null, "killed": bool, "seconds": float}
"""

from __future__ import annotations

import faulthandler
import io
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from siamese_text.model.calibration import Calibration
from siamese_text.model.folder import EncoderConfig, expected_shapes
from siamese_text.model.numpy_encoder import NumpyEncoder
from siamese_text.model.siamese import SiameseModel
from siamese_text.text.vocab import Vocab

VOCAB = ["<pad>", "<unk>", "how", "do", "i", "learn", "python", "?", "bake", "bread", "not", "cats"]


def model(version: int) -> SiameseModel:
    """Two small models (version 0 and 1) with different random weights, no torch needed."""
    config = EncoderConfig(vocab_size=len(VOCAB), embedding_dim=16, hidden_size=8, pooling="mean",
                           subword_buckets=4096, dropout=0.0)
    rng = np.random.default_rng(100 + version)
    weights = {k: rng.normal(scale=0.3, size=s).astype(np.float32) for k, s in expected_shapes(config).items()}
    return SiameseModel(NumpyEncoder(config, weights), Vocab(VOCAB), "cosine",
                        Calibration(method="platt", a=-4.0, b=2.0, fitted_on="hand-set for tests"))


def checkpoint(version: int):
    """Two small training checkpoints (version 0 and 1)."""
    import torch

    from siamese_text.training.checkpoint import Checkpoint

    g = torch.Generator().manual_seed(200 + version)
    weights = {"a": torch.randn(64, 64, generator=g), "b": torch.randn(4096, generator=g)}
    optimizer = {"state": {0: {"step": 3, "exp_avg": torch.randn(64, 64, generator=g)}},
                 "param_groups": [{"lr": 0.01, "params": [0]}]}
    return Checkpoint(weights, {k: v * 2 for k, v in weights.items()}, optimizer,
                      torch.arange(16, dtype=torch.uint8), Vocab(VOCAB), {"epoch": version, "history": []})


def child(request: dict, models: dict, checkpoints: dict) -> int:
    """The write of `request`, in the forked process; its exit status."""
    # tqdm's write lock is a multiprocessing semaphore, which forked children share with the
    # server and with each other (a sibling SIGKILLed while holding it leaves every later child
    # waiting for ever), plus a thread lock the fork copies as it was. Separate processes (as
    # users run them) each have their own; so does each child here.
    import tqdm.std

    if hasattr(tqdm.std.TqdmDefaultWriteLock, "mp_lock"):
        del tqdm.std.TqdmDefaultWriteLock.mp_lock
    tqdm.std.TqdmDefaultWriteLock.th_lock = tqdm.std.TRLock()
    lock = tqdm.std.TqdmDefaultWriteLock()
    # every bar class that has taken a lock of its own (tqdm.auto's class did, in warm_up) gets the new one
    classes, found = [tqdm.std.tqdm], []
    while classes:
        cls = classes.pop()
        found.append(cls)
        classes.extend(cls.__subclasses__())
    for cls in found:
        if cls is tqdm.std.tqdm or "_lock" in vars(cls):
            cls.set_lock(lock)
    signal.alarm(300)  # a write that hangs ends (SIGALRM) and fails its test instead of stalling the suite
    os.chdir(request.get("cwd") or ".")
    os.environ.update(request.get("env") or {})
    stdin = os.open(request.get("stdin") or os.devnull, os.O_RDONLY)
    log = os.open(request.get("log") or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(stdin, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    faulthandler.dump_traceback_later(240, exit=True)  # before the alarm: where every thread of a hung write waits
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "rb", closefd=False)))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "wb", closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "wb", closefd=False), write_through=True)
    if request.get("no_exchange"):  # the two-rename swap of systems without renameat2
        from siamese_text.model import folder

        folder._renameat2 = lambda: None
    kind = request["run"]
    if kind == "cli":
        from siamese_text.cli import app

        try:
            app(args=request["argv"], prog_name="siamese-text")
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return 0
    version = request["version"]
    if kind == "model":
        while True:
            models[version].save(request["path"])
            if not request.get("loop"):
                return 0
            version = 1 - version
    if kind == "checkpoint":
        from siamese_text.training.checkpoint import save_checkpoint

        number = request["start"]
        while True:
            save_checkpoint(request["root"], f"epoch-{number:04d}", checkpoints[version], keep=1)
            if not request.get("loop"):
                return 0
            version, number = 1 - version, number + 1
    raise ValueError(f"unknown run {kind!r}")


def warm_up(model: SiameseModel) -> None:
    """Run `index` and `dedup` once here, so that the children start with every module they use
    loaded (a child then takes milliseconds, and random kills land in its writes, not its imports)."""
    import contextlib
    import tempfile

    from siamese_text.cli import app

    here = os.getcwd()
    with tempfile.TemporaryDirectory(dir=here) as tmp, open(os.devnull, "w") as devnull, \
            contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
        os.chdir(tmp)
        try:
            model.save("model")
            Path("a.txt").write_text("how do i learn python ?\nbake bread\nbake bread\n", encoding="utf-8")
            for argv in (["index", "a.txt", "--out", "idx"], ["dedup", "a.txt", "--out", "out", "--report", "r.jsonl"]):
                try:
                    app(args=[*argv, "--model", "model", "--no-progress"], prog_name="siamese-text")
                except SystemExit as exc:
                    if exc.code:
                        raise
        finally:
            os.chdir(here)


def serve() -> None:
    models = {v: model(v) for v in (0, 1)}
    checkpoints = {v: checkpoint(v) for v in (0, 1)} if "torch" in sys.argv[1:] else {}
    import faiss  # noqa: F401 - loaded once here rather than in every child
    import tqdm.auto

    tqdm.auto.tqdm.monitor_interval = 0  # no monitor thread in the server: a fork copies no thread's locks mid-use

    warm_up(models[0])
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            try:
                status = child(request, models, checkpoints)
            except BaseException:  # noqa: BLE001 - reported through the exit status and the log
                traceback.print_exc()
                status = 70
            os._exit(status)
        if request.get("kill_after") is not None:
            time.sleep(request["kill_after"])
            os.kill(pid, signal.SIGKILL)  # a child that has already exited (not yet reaped) is not touched
        _, status = os.waitpid(pid, 0)
        exit_code = os.waitstatus_to_exitcode(status)
        print(json.dumps({"exit": exit_code if exit_code >= 0 else None, "killed": exit_code == -signal.SIGKILL,
                          "seconds": time.monotonic() - started}), flush=True)


if __name__ == "__main__":
    serve()
