"""Data-parallel training with two processes launched by torchrun (gloo on CPU)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

WORKER = textwrap.dedent("""
    import json, sys
    import torch
    from safetensors.torch import save_file
    sys.path.insert(0, {tests!r})
    from conftest import TOY_PAIRS
    from siamese_text.training.distributed import Distributed
    from siamese_text.training.trainer import Trainer, TrainConfig

    torch.set_num_threads(1)
    out = sys.argv[1]
    dist = Distributed.from_environment()
    cfg = TrainConfig(epochs=3, batch_size=2, lr=0.02, patience=100, seed=5, freeze_embeddings={freeze!r})
    trainer = Trainer(cfg, dict(embedding_dim=8, hidden_size=8, subword_buckets=64), progress=False,
                      checkpoint_dir=out + "/ckpt")
    model = trainer.fit(TOY_PAIRS, TOY_PAIRS)
    save_file({{k: torch.from_numpy(v).contiguous() for k, v in model.weights.items()}}, f"{{out}}/rank{{dist.rank}}.safetensors")
    with open(f"{{out}}/rank{{dist.rank}}.json", "w") as fh:
        json.dump({{"world": dist.world_size, "history": trainer.history_}}, fh)
""")


@pytest.mark.slow
@pytest.mark.parametrize("freeze", [False, True])
def test_two_processes_end_with_identical_weights(tmp_path, freeze):
    from safetensors.torch import load_file

    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(tests=str(Path(__file__).parent), freeze=freeze))
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    import json

    infos = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [i["world"] for i in infos] == [2, 2]
    w0, w1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # training happened: weights moved away from the seeded initialisation, and rank 0 checkpointed
    torch.manual_seed(5)
    from siamese_text.model.torch_encoder import Encoder, EncoderConfig

    fresh = Encoder(EncoderConfig(vocab_size=w0["embedding.weight"].shape[0], embedding_dim=8, hidden_size=8,
                                  subword_buckets=64)).state_dict()
    assert not torch.equal(fresh["lstm.weight_hh_l0"], w0["lstm.weight_hh_l0"])
    assert torch.equal(fresh["embedding.weight"], w0["embedding.weight"]) == freeze  # frozen: never moved
    assert (tmp_path / "ckpt" / "epoch-0003" / "state.json").is_file()
    # each process saw half of the batches: 12 pairs, batch 2 -> 6 batches -> 3 per process
    assert [i["history"][0]["batches"] for i in infos] == [3, 3]


# A worker for the interruption tests: argv = out, checkpoint dir, "resume" or "fresh". Each
# optimizer step sleeps a little (only here), so that a signal sent after the first epoch's
# checkpoint lands in the middle of training; it changes no number.
INTERRUPTIBLE = textwrap.dedent("""
    import json, os, sys, time
    import torch
    from safetensors.torch import save_file
    sys.path.insert(0, {tests!r})
    from conftest import TOY_PAIRS
    from siamese_text.training.distributed import Distributed
    from siamese_text.training.trainer import Trainer, TrainConfig, TrainingInterrupted

    torch.set_num_threads(1)
    out, ckpt, mode = sys.argv[1:4]
    step = torch.optim.Adam.step
    def slow_step(self, *args, **kwargs):
        time.sleep(float(os.environ.get("STEP_SLEEP", "0")))
        return step(self, *args, **kwargs)
    torch.optim.Adam.step = slow_step
    dist = Distributed.from_environment()
    with open(f"{{out}}/rank{{dist.rank}}.pid", "w") as fh:
        fh.write(str(os.getpid()))
    cfg = TrainConfig(epochs=6, batch_size=2, lr=0.02, patience=100, seed=5)
    trainer = Trainer(cfg, dict(embedding_dim=8, hidden_size=8, subword_buckets=64, dropout=0.3), progress=False,
                      checkpoint_dir=ckpt, resume=mode == "resume")
    try:
        model = trainer.fit(TOY_PAIRS, TOY_PAIRS)
    except TrainingInterrupted as exc:
        with open(f"{{out}}/rank{{dist.rank}}.interrupted", "w") as fh:
            fh.write(str(exc))
        sys.exit(130)
    save_file({{k: torch.from_numpy(v).contiguous() for k, v in model.weights.items()}}, f"{{out}}/rank{{dist.rank}}.safetensors")
    with open(f"{{out}}/rank{{dist.rank}}.json", "w") as fh:
        json.dump([h["loss"] for h in trainer.history_], fh)
""")


def _torchrun(tmp_path: Path, out: Path, ckpt: Path, mode: str, step_sleep: float = 0.0) -> subprocess.Popen:
    script = tmp_path / "interruptible.py"
    script.write_text(INTERRUPTIBLE.format(tests=str(Path(__file__).parent)))
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1", STEP_SLEEP=str(step_sleep))
    # its own session and process group, as a job started from a terminal: Ctrl-C there is a
    # SIGINT to the whole group
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             str(script), str(out), str(ckpt), mode], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _finish(run: subprocess.Popen) -> tuple[int, str]:
    try:
        output, _ = run.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        raise
    return run.returncode, output


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Rank 0's final weights and losses of a torchrun run that nobody interrupts."""
    from safetensors.torch import load_file

    tmp = tmp_path_factory.mktemp("straight")
    code, output = _finish(_torchrun(tmp, tmp / "out", tmp / "ckpt", "fresh"))
    assert code == 0, output[-3000:]
    return load_file(str(tmp / "out" / "rank0.safetensors")), json.loads((tmp / "out" / "rank0.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c-to-the-group", "sigterm-to-rank-1"])
def test_an_interrupted_torchrun_saves_one_checkpoint_and_resumes_to_the_same_weights(tmp_path, uninterrupted, how):
    from safetensors.torch import load_file

    from siamese_text.training.checkpoint import complete_checkpoints

    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    run = _torchrun(tmp_path, out, ckpt, "fresh", step_sleep=0.15)
    deadline = time.monotonic() + 120
    while not (ckpt / "epoch-0001" / "state.json").is_file():  # the first epoch is done: training is under way
        assert run.poll() is None and time.monotonic() < deadline, "training ended before it could be interrupted"
        time.sleep(0.05)
    if how == "ctrl-c-to-the-group":
        os.killpg(run.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: torchrun's agent forwards it
    else:
        os.kill(int((out / "rank1.pid").read_text()), signal.SIGTERM)  # one rank only, as a scheduler might
    code, output = _finish(run)
    assert code != 0, output[-3000:]
    messages = [(out / f"rank{r}.interrupted").read_text() for r in (0, 1)]  # every rank stopped as interrupted
    saved = complete_checkpoints(ckpt)
    assert len(saved) == 1 and "-step-" in saved[0].name, [p.name for p in saved]  # one mid-epoch checkpoint
    for message in messages:
        assert message.startswith("interrupted in epoch ") and f"checkpoint saved in {saved[0]}" in message
    assert messages[0] == messages[1]  # the same step on both ranks
    assert not list(out.glob("rank*.safetensors"))  # nobody went on to finish

    code, output = _finish(_torchrun(tmp_path, out, ckpt, "resume"))
    assert code == 0, output[-3000:]
    weights, losses = uninterrupted
    resumed = load_file(str(out / "rank0.safetensors"))
    assert resumed.keys() == weights.keys()
    for k in weights:
        assert torch.equal(resumed[k], weights[k]), k
    assert json.loads((out / "rank0.json").read_text()) == losses
    assert torch.equal(load_file(str(out / "rank1.safetensors"))["lstm.weight_hh_l0"], weights["lstm.weight_hh_l0"])


def test_under_torchrun_a_repeated_signal_waits_for_the_step_boundary():
    """escalate=False (torchrun): SIGINT and SIGTERM, even twice, only ask to stop; and the
    handlers from before come back."""
    from siamese_text.training.interrupt import CtrlC

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with CtrlC(signals=(signal.SIGINT, signal.SIGTERM), escalate=False) as stop:
        signal.raise_signal(signal.SIGTERM)
        assert stop.pressed
        signal.raise_signal(signal.SIGINT)  # the agent's forwarded copy of the same Ctrl-C: no KeyboardInterrupt
        signal.raise_signal(signal.SIGTERM)
        assert stop.pressed
    assert {s: signal.getsignal(s) for s in before} == before
