"""Checkpoints: every epoch, on Ctrl-C, and a resumed run ends with the weights of an uninterrupted one."""

import json
import signal

import numpy as np
import pytest
import torch

from siamese_text.training.checkpoint import latest_checkpoint, load_checkpoint
from siamese_text.training.interrupt import CtrlC
from siamese_text.errors import SiameseTextError
from siamese_text.training.trainer import Trainer, TrainConfig, TrainingInterrupted

from conftest import TOY_PAIRS

SMALL = dict(embedding_dim=8, hidden_size=8, subword_buckets=64, dropout=0.3)  # dropout: RNG state matters
CONFIG = TrainConfig(epochs=4, batch_size=4, lr=0.02, patience=100, seed=3)


def _interrupt_after_epoch(n):
    def on_epoch(record):
        if record["epoch"] == n:
            signal.raise_signal(signal.SIGINT)  # as if the user pressed Ctrl-C during epoch n + 1's first batch
    return on_epoch


def _same_weights(a, b):
    sa, sb = a.weights, b.weights
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


@pytest.mark.parametrize("average", [0.0, 0.9])
def test_resume_after_ctrl_c_gives_the_uninterrupted_weights(tmp_path, average):
    config = TrainConfig(**{**CONFIG.__dict__, "average": average})  # the moving average is saved and resumed too
    before = signal.getsignal(signal.SIGINT)  # Python's handler, or SIG_IGN in a background job / under nohup
    straight = Trainer(config, SMALL, progress=False, checkpoint_dir=tmp_path / "a").fit(TOY_PAIRS, TOY_PAIRS)

    with pytest.raises(TrainingInterrupted, match="interrupted in epoch 2 at batch 1/3; checkpoint saved"):
        Trainer(config, SMALL, progress=False, checkpoint_dir=tmp_path / "b",
                on_epoch=_interrupt_after_epoch(1)).fit(TOY_PAIRS, TOY_PAIRS)
    assert latest_checkpoint(tmp_path / "b").name == "epoch-0001-step-000001"  # mid-epoch
    assert signal.getsignal(signal.SIGINT) is before  # handler restored to what it was

    resumed = Trainer(config, SMALL, progress=False, checkpoint_dir=tmp_path / "b", resume=True).fit(TOY_PAIRS,
                                                                                                      TOY_PAIRS)
    _same_weights(straight, resumed)
    assert [h["loss"] for h in straight.meta["history"]] == [h["loss"] for h in resumed.meta["history"]]
    assert resumed.threshold == straight.threshold


@pytest.mark.parametrize("before", [signal.SIG_IGN, signal.SIG_DFL, signal.default_int_handler])
def test_ctrl_c_is_caught_even_when_ignored_and_the_previous_handler_comes_back(before):
    previous = signal.signal(signal.SIGINT, before)
    try:
        with CtrlC() as ctrl_c:
            signal.raise_signal(signal.SIGINT)  # sent on purpose: caught even if SIGINT was ignored
            assert ctrl_c.pressed
            with pytest.raises(KeyboardInterrupt):  # a second one stops at once
                signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is before
        with CtrlC(enabled=False) as ctrl_c:
            assert signal.getsignal(signal.SIGINT) is before and not ctrl_c.pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def test_resume_from_an_epoch_checkpoint(tmp_path):
    short = TrainConfig(**{**CONFIG.__dict__, "epochs": 2})
    Trainer(short, SMALL, progress=False, checkpoint_dir=tmp_path).fit(TOY_PAIRS, TOY_PAIRS)
    assert latest_checkpoint(tmp_path).name == "epoch-0002"
    resumed = Trainer(CONFIG, SMALL, progress=False, checkpoint_dir=tmp_path, resume=True).fit(TOY_PAIRS, TOY_PAIRS)
    straight = Trainer(CONFIG, SMALL, progress=False).fit(TOY_PAIRS, TOY_PAIRS)
    # epochs may grow on resume; an unfinished (not early-stopped) run continues where it was
    assert len(resumed.meta["history"]) == 4
    _same_weights(straight, resumed)


def test_the_saved_model_is_the_moving_average_of_the_weights(tmp_path):
    config = TrainConfig(**{**CONFIG.__dict__, "epochs": 1, "average": 0.5})
    model = Trainer(config, SMALL, progress=False, checkpoint_dir=tmp_path).fit(TOY_PAIRS, TOY_PAIRS)
    ckpt = load_checkpoint(latest_checkpoint(tmp_path))
    weights = {k: torch.from_numpy(v) for k, v in model.weights.items()}
    assert ckpt.average.keys() == weights.keys()
    for k, v in weights.items():
        assert torch.equal(v, ckpt.average[k]), k  # validated and saved: the average
    assert any(not torch.equal(v, ckpt.weights[k]) for k, v in weights.items())  # not the last step's weights
    assert not (tmp_path / "plain").exists()
    Trainer(CONFIG, SMALL, progress=False, checkpoint_dir=tmp_path / "plain").fit(TOY_PAIRS, TOY_PAIRS)
    assert not (latest_checkpoint(tmp_path / "plain") / "average.safetensors").exists()  # off: nothing kept


def test_checkpoint_folder_holds_no_pickle(tmp_path):
    Trainer(CONFIG, SMALL, progress=False, checkpoint_dir=tmp_path).fit(TOY_PAIRS, TOY_PAIRS)
    folders = [p for p in tmp_path.iterdir()]
    assert [p.name for p in folders] == ["epoch-0004"]  # older ones are pruned
    names = sorted(p.name for p in folders[0].iterdir())
    assert names == ["best.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json",
                     "vocab.txt", "weights.safetensors"]
    state = json.loads((folders[0] / "state.json").read_text())
    assert state["epoch"] == 5 and state["step"] == 0 and len(state["history"]) == 4
    assert not state["finished"]  # only an early stop finishes a run; more --epochs may follow
    ckpt = load_checkpoint(folders[0])
    assert ckpt.optimizer["state"][0]["exp_avg"].shape == ckpt.weights["embedding.weight"].shape


def test_resume_refuses_other_settings_and_missing_checkpoints(tmp_path):
    short = TrainConfig(**{**CONFIG.__dict__, "epochs": 1})
    Trainer(short, SMALL, progress=False, checkpoint_dir=tmp_path).fit(TOY_PAIRS, TOY_PAIRS)
    other = TrainConfig(**{**CONFIG.__dict__, "lr": 0.5})
    with pytest.raises(SiameseTextError, match="lr=0.02, not 0.5"):
        Trainer(other, SMALL, progress=False, checkpoint_dir=tmp_path, resume=True).fit(TOY_PAIRS, TOY_PAIRS)
    with pytest.raises(SiameseTextError, match="other pairs"):
        Trainer(CONFIG, SMALL, progress=False, checkpoint_dir=tmp_path, resume=True).fit(TOY_PAIRS[:-2], TOY_PAIRS)
    with pytest.raises(SiameseTextError, match="no checkpoint to resume from"):
        Trainer(CONFIG, SMALL, progress=False, checkpoint_dir=tmp_path / "empty", resume=True).fit(TOY_PAIRS,
                                                                                                   TOY_PAIRS)


def test_unfinished_save_is_ignored_and_corrupt_file_is_named(tmp_path):
    Trainer(TrainConfig(**{**CONFIG.__dict__, "epochs": 1}), SMALL, progress=False,
            checkpoint_dir=tmp_path).fit(TOY_PAIRS, TOY_PAIRS)
    (tmp_path / "epoch-0009").mkdir()  # a save cut short: no state.json
    assert latest_checkpoint(tmp_path).name == "epoch-0001"
    (tmp_path / "epoch-0001" / "optimizer.safetensors").write_bytes(b"garbage")
    with pytest.raises(SiameseTextError, match="optimizer.safetensors: unreadable checkpoint file"):
        load_checkpoint(tmp_path / "epoch-0001")
