"""`siamese-text train` (checkpoints, --resume, --embeddings) and `siamese-text distill` via CliRunner,
and the recipes they call (training/recipe.py)."""

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from siamese_text.cli import app
from siamese_text.corpora.labelled import PairSource
from siamese_text.corpora.splits import SplitConfig, read_parts
from siamese_text.errors import SiameseTextError
from siamese_text.model.folder import EncoderConfig
from siamese_text.model.siamese import SiameseModel
from siamese_text.training.distill import DistillConfig
from siamese_text.training.recipe import FINE_TUNE, checkpoints_beside, distil_file, train_file
from siamese_text.training.trainer import TrainConfig, Trainer

from conftest import TOY_PAIRS
from test_distill import BagTeacher

runner = CliRunner()
TINY = ["--embedding-dim", "8", "--hidden-size", "8", "--subword-buckets", "64", "--batch-size", "4",
        "--no-progress", "--valid-fraction", "0.34"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def toy_tsv(tmp_path):
    path = tmp_path / "toy.tsv"
    path.write_text("".join(f"{p.a}\t{p.b}\t{p.label}\n" for p in TOY_PAIRS * 2), encoding="utf-8")
    return path


def test_train_checkpoints_and_resume_extends_a_run(tmp_path, toy_tsv):
    out = tmp_path / "m"
    first = run("train", toy_tsv, "--out", out, "--epochs", "2", *TINY)
    assert first.exit_code == 0, first.output
    assert "epoch 2: loss" in first.output and "validation ROC-AUC" in first.output
    assert (tmp_path / "m.checkpoints" / "epoch-0002" / "state.json").is_file()
    more = run("train", toy_tsv, "--out", out, "--epochs", "3", "--resume", "--overwrite", *TINY)
    assert more.exit_code == 0, more.output
    assert "epoch 3: loss" in more.output and "epoch 1:" not in more.output  # only the new epoch ran
    assert len(SiameseModel.load(out).meta["history"]) == 3


def test_train_resume_without_checkpoint_and_bad_vectors_are_one_line_errors(tmp_path, toy_tsv):
    res = run("train", toy_tsv, "--out", tmp_path / "m", "--resume", *TINY)
    assert res.exit_code == 1 and res.output.strip().startswith("error: ") and "no checkpoint" in res.output
    vectors = tmp_path / "glove.txt"
    vectors.write_text("how 1 2 3\npython 1 2\n", encoding="utf-8")
    res = run("train", toy_tsv, "--out", tmp_path / "m", "--embeddings", vectors, *TINY)
    assert res.exit_code == 1
    line = res.output.strip()
    assert line.startswith("error: ") and "\n" not in line and f"{vectors}:2:" in line


def test_train_with_word_vectors(tmp_path, toy_tsv):
    vectors = tmp_path / "w2v.vec"
    vectors.write_text("2 6\nhow 1 2 3 4 5 6\npython 6 5 4 3 2 1\n", encoding="utf-8")
    res = run("train", toy_tsv, "--out", tmp_path / "m", "--embeddings", vectors, "--epochs", "1", *TINY)
    assert res.exit_code == 0, res.output
    assert SiameseModel.load(tmp_path / "m").encoder_config.embedding_dim == 6


@pytest.fixture
def teacher(monkeypatch) -> BagTeacher:
    """A bag-of-words teacher that `distill` loads whatever path it is given; it records its calls."""
    bag = BagTeacher()
    monkeypatch.setattr("siamese_text.training.distill.load_teacher", lambda path: bag)
    return bag


def test_distill_with_a_fake_teacher(tmp_path, toy_tsv, teacher):
    texts = tmp_path / "texts.txt"
    texts.write_text("How do I learn Rust?\nWill it snow today?\n", encoding="utf-8")
    cache = tmp_path / "teacher.npy"
    args = ["distill", toy_tsv, "--out", tmp_path / "s", "--texts", texts, "--teacher", tmp_path,
            "--cache", cache, "--distill-epochs", "2", "--epochs", "1", *TINY]
    res = run(*args)
    assert res.exit_code == 0, res.output
    assert "distil epoch 2: loss" in res.output and "saved" in res.output
    model = SiameseModel.load(tmp_path / "s")
    assert model.meta["distill"]["epochs"] == 2 and "command" in model.meta
    assert "How do I learn Rust?" in json.loads(cache.with_name("teacher.npy.texts.json").read_text())["texts"]
    calls = len(teacher.calls)
    assert run(*args, "--overwrite").exit_code == 0
    assert len(teacher.calls) == calls  # the second run took every embedding from the cache


def test_train_init_fine_tunes_an_existing_model(tmp_path, toy_tsv):
    assert run("train", toy_tsv, "--out", tmp_path / "a", "--epochs", "1", *TINY).exit_code == 0
    first = SiameseModel.load(tmp_path / "a")
    res = run("train", toy_tsv, "--out", tmp_path / "b", "--epochs", "1", "--init", tmp_path / "a",
              "--hidden-size", "16", *TINY[4:])
    assert res.exit_code == 0, res.output
    second = SiameseModel.load(tmp_path / "b")
    assert second.encoder_config == first.encoder_config and second.vocab.itos == first.vocab.itos
    assert "initialised_from" in second.meta


@pytest.mark.slow
def test_ctrl_c_in_a_real_process_saves_and_exits_with_one_line(tmp_path, toy_tsv):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "m"
    cmd = [sys.executable, "-m", "siamese_text", "train", str(toy_tsv), "--out", str(out), "--epochs", "100000",
           "--patience", "100000", "--threads", "1", *TINY]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    ckpts = tmp_path / "m.checkpoints"
    deadline = time.time() + 120
    while not (ckpts.is_dir() and any(ckpts.iterdir())) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "checkpoint saved in" in lines[0] and "--resume" in lines[0], err
    assert "Traceback" not in err and not out.exists()
    # the saved checkpoint is found; with --epochs 1 nothing is left to train, so it only calibrates and saves
    res = run("train", toy_tsv, "--out", out, "--epochs", "1", "--resume", *TINY)
    assert res.exit_code == 0 and "saved" in res.output, res.output
    assert SiameseModel.load(out).meta["history"]


def test_train_reads_the_corpora_formats(tmp_path):
    # an STS-B layout: genre, file, year, id, score, sentence1, sentence2; scores >= 4 count as "same"
    rows = [("main-captions", "MSRvid", "2012test", f"{i:04d}", "4.6" if p.label else "0.8", p.a, p.b)
            for i, p in enumerate(TOY_PAIRS * 2)]
    data = tmp_path / "sts.csv"
    data.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    res = run("train", data, "--format", "stsb", "--out", tmp_path / "m", "--epochs", "1", *TINY)
    assert res.exit_code == 0, res.output
    assert "(stsb): " in SiameseModel.load(tmp_path / "m").meta["trained_on"]
    bad = tmp_path / "bad.csv"
    bad.write_text("a\tb\n", encoding="utf-8")
    res = run("train", bad, "--format", "stsb", "--out", tmp_path / "m2", *TINY)
    assert res.exit_code == 1 and res.output.strip().startswith("error: ") and str(bad) in res.output


def test_distill_from_word_vectors_with_an_extended_vocabulary(tmp_path, toy_tsv, teacher):
    vectors = tmp_path / "words.txt"
    vectors.write_text("3 4\nhow 1 2 3 4\nlearn 4 3 2 1\nzeppelin 0.5 0.5 0.5 0.5\n", encoding="utf-8")
    args = ["distill", toy_tsv, "--out", tmp_path / "s", "--teacher", tmp_path, "--distill-epochs", "1",
            "--epochs", "1", "--embeddings", vectors, "--extend-vocab", "--word-dropout", "0.2", *TINY]
    res = run(*args)
    assert res.exit_code == 0, res.output
    model = SiameseModel.load(tmp_path / "s")
    assert model.encoder_config.embedding_dim == 4 and "zeppelin" in model.vocab
    assert model.meta["distill"]["extend_vocab"] and model.meta["distill"]["word_dropout"] == 0.2
    assert model.meta["train"]["word_dropout"] == 0.2  # fine-tuning used it too
    bad = tmp_path / "bad.txt"
    bad.write_text("how 1 2 3 4\nlearn 1 2\n", encoding="utf-8")
    args[args.index(vectors)] = bad
    res = run(*args, "--overwrite")
    assert res.exit_code != 0 and "bad.txt:2" in res.output and "Traceback" not in res.output


# ----- the recipes and the defaults -----------------------------------------------------------

ENCODER = dict(embedding_dim=8, hidden_size=8, subword_buckets=64)


def test_the_command_and_the_library_with_their_defaults_train_the_same_model(tmp_path, toy_tsv):
    # only what the toy data needs is given: fewer epochs, and a validation part with both labels
    res = run("train", toy_tsv, "--out", tmp_path / "m", "--epochs", "1", "--valid-fraction", "0.34", "--no-progress")
    assert res.exit_code == 0, res.output
    parts = read_parts(PairSource(toy_tsv), SplitConfig(valid_fraction=0.34))
    library = Trainer(TrainConfig(epochs=1), progress=False).fit(parts.train, parts.valid)
    command = SiameseModel.load(tmp_path / "m")
    assert command.encoder_config == library.encoder_config == EncoderConfig(vocab_size=len(library.vocab))
    assert command.meta["train"] == library.meta["train"] and command.vocab.itos == library.vocab.itos
    assert command.weights.keys() == library.weights.keys()
    for name, weight in library.weights.items():
        np.testing.assert_array_equal(command.weights[name], weight, err_msg=name)
    assert command.threshold == pytest.approx(library.threshold)


def test_every_option_default_is_the_librarys():
    group = typer.main.get_command(app)
    defaults = {name: {p.name: p.default for p in group.get_command(None, name).params}
                for name in ("train", "distill")}
    train, distill = defaults["train"], defaults["distill"]
    for field in ("loss", "energy", "margin", "epochs", "batch_size", "lr", "patience", "max_vocab", "seed",
                  "threads", "freeze_embeddings", "word_dropout", "average"):
        assert train[field] == getattr(TrainConfig, field), field
    for option, field in (("embedding_dim", "embedding_dim"), ("hidden_size", "hidden_size"), ("layers", "num_layers"),
                          ("dropout", "dropout"), ("subword_buckets", "subword_buckets"), ("pooling", "pooling")):
        assert train[option] == getattr(EncoderConfig, field) == distill.get(option, getattr(EncoderConfig, field))
    split = SplitConfig()
    for d in (train, distill):
        assert (d["valid_fraction"], d["test_fraction"], d["split_seed"]) == (split.valid_fraction,
                                                                             split.test_fraction, split.seed)
    for option, field in (("distill_epochs", "epochs"), ("distill_lr", "lr"), ("embedding_weight", "embedding_weight"),
                          ("matrix_weight", "matrix_weight"), ("pair_weight", "pair_weight"),
                          ("batch_size", "batch_size"), ("max_vocab", "max_vocab"), ("min_freq", "min_freq"),
                          ("seed", "seed"), ("threads", "threads"), ("word_dropout", "word_dropout"),
                          ("extend_vocab", "extend_vocab"), ("freeze_embeddings", "freeze_embeddings")):
        assert distill[option] == getattr(DistillConfig, field), option
    for option in ("epochs", "lr", "margin", "patience", "average"):
        assert distill[option] == getattr(FINE_TUNE, option), option
    assert distill["output_dim"] == EncoderConfig.output_dim


def test_train_file_saves_with_provenance_and_checkpoints_beside_the_model(tmp_path, toy_tsv):
    out = tmp_path / "m"
    outcome = train_file(PairSource(toy_tsv), out, TrainConfig(epochs=1, batch_size=4), ENCODER,
                         SplitConfig(valid_fraction=0.3, test_fraction=0.3), command="siamese-text train toy.tsv",
                         progress=False)
    assert outcome.saved and outcome.test is not None and outcome.test["n"] == len(outcome.parts.test) > 0
    saved = SiameseModel.load(out)
    assert saved.meta["command"] == "siamese-text train toy.tsv" and saved.meta["split"] == outcome.parts.sizes()
    assert saved.meta["trained_on"] == f"toy.tsv (tsv): {len(outcome.parts.train)} training pairs"
    assert checkpoints_beside(out) == tmp_path / "m.checkpoints" and (tmp_path / "m.checkpoints").is_dir()
    with pytest.raises(SiameseTextError, match="not empty"):
        train_file(PairSource(toy_tsv), out, TrainConfig(epochs=1), ENCODER, progress=False)
    again = train_file(PairSource(toy_tsv), out, TrainConfig(epochs=1, batch_size=4), split=SplitConfig(0.34),
                       init=out, overwrite=True, checkpoint_dir=tmp_path / "elsewhere", progress=False)
    assert again.model.meta["initialised_from"] == "siamese-text train toy.tsv"
    assert (tmp_path / "elsewhere").is_dir()


def test_distil_file_distils_then_calibrates_or_fine_tunes(tmp_path, toy_tsv, teacher):
    texts = tmp_path / "texts.txt"
    texts.write_text("How do I learn Rust?\n\nWill it snow today?\n", encoding="utf-8")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("Is it cold?\tIs it freezing?\nlonely line\n", encoding="utf-8")
    (tmp_path / "teacher" / "model").mkdir(parents=True)
    outcome = distil_file(PairSource(toy_tsv), tmp_path / "s", texts=texts, text_pairs=pairs,
                          teacher=tmp_path / "teacher" / "model", distill_config=DistillConfig(epochs=1, batch_size=4),
                          calibrate_only=True, encoder=ENCODER, split=SplitConfig(valid_fraction=0.34),
                          progress=False)
    encoded = {t for call in teacher.calls for t in call}
    assert {"How do I learn Rust?", "Is it cold?", "Is it freezing?", TOY_PAIRS[0].a} <= encoded
    assert "lonely line" not in encoded and "" not in encoded
    model = SiameseModel.load(tmp_path / "s")
    assert model.meta["teacher"] == "teacher"  # a folder named "model" is named by its parent
    assert model.meta["distill"]["epochs"] == 1 and model.meta["train"]["epochs"] == FINE_TUNE.epochs
    assert model.meta["history"] == [] and outcome.test is None  # only calibrated
    tuned = distil_file(PairSource(toy_tsv), tmp_path / "t", teacher=tmp_path,
                        distill_config=DistillConfig(epochs=1, batch_size=4), fine_tune=TrainConfig(epochs=1),
                        encoder=ENCODER, split=SplitConfig(valid_fraction=0.34), progress=False)
    assert len(tuned.model.meta["history"]) == 1 and tuned.model.meta["teacher"] == tmp_path.name
