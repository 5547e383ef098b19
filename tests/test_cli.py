"""Every core command through typer's CliRunner, including the one-line errors."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from siamese_text.cli import app

from conftest import TOY_PAIRS, make_tiny_model

runner = CliRunner()
Q = "How do I learn Python?"


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def one_line_error(result, *needles):
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    text = result.output.strip()
    assert text.startswith("error: ") and "\n" not in text and "Traceback" not in text, text
    for needle in needles:
        assert needle in text, text


def test_score_json_orders_paraphrase_above_unrelated():
    same = json.loads(run("score", Q, "What is the best way to learn Python?", "--json").stdout)
    other = json.loads(run("score", Q, "How do I bake bread at home?", "--json").stdout)
    for res in (same, other):
        assert set(res) >= {"probability", "duplicate", "energy", "threshold"}
        assert 0.0 <= res["probability"] <= 1.0
        assert res["duplicate"] == (res["probability"] >= res["threshold"])
    assert same["probability"] > other["probability"]
    assert same["energy"] < other["energy"]


def test_score_plain_text():
    result = run("score", Q, "What is the best way to learn Python?")
    assert result.exit_code == 0 and "probability" in result.stdout and "energy" in result.stdout


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny"
    make_tiny_model().save(path)
    return path


def test_score_pairs_streams_one_line_per_pair(tmp_path, tiny_dir):
    f = tmp_path / "pairs.tsv"
    f.write_text("".join(f"{p.a}\t{p.b}\t{int(p.label)}\n" for p in TOY_PAIRS))
    result = run("score", "--pairs", f, "--model", tiny_dir, "--batch-size", "5")
    assert result.exit_code == 0
    rows = [line.split("\t") for line in result.stdout.strip().split("\n")]
    assert len(rows) == len(TOY_PAIRS) and all(len(r) == 4 for r in rows)
    assert [int(r[3]) for r in rows] == [int(p.label) for p in TOY_PAIRS]
    js = run("score", "--pairs", f, "--model", tiny_dir, "--json")
    objs = [json.loads(line) for line in js.stdout.strip().split("\n")]
    assert len(objs) == len(TOY_PAIRS) and all("label" in o for o in objs)


def test_score_pairs_without_labels_from_stdin(tiny_dir):
    result = run("score", "--pairs", "-", "--model", tiny_dir, input="a b\tc d\nx\ty\n")
    assert result.exit_code == 0
    assert [len(line.split("\t")) for line in result.stdout.strip().split("\n")] == [3, 3]


def test_score_rejects_empty_text():
    one_line_error(run("score", "", "something"), "text A is empty")
    one_line_error(run("score", "something", "   "), "text B is empty")


def test_score_rejects_a_megabyte_line(tmp_path, tiny_dir):
    f = tmp_path / "huge.tsv"
    f.write_text("short\t" + "x" * 1_000_000 + "\n")
    one_line_error(run("score", "--pairs", f, "--model", tiny_dir), "huge.tsv", "text B")


def test_score_rejects_invalid_utf8(tmp_path, tiny_dir):
    f = tmp_path / "bad.tsv"
    f.write_bytes(b"fine\tfine too\n\xff\xfe\tbroken\n")
    one_line_error(run("score", "--pairs", f, "--model", tiny_dir), "bad.tsv:2", "UTF-8")


def test_missing_model_folder(tmp_path):
    one_line_error(run("score", "a", "b", "--model", tmp_path / "nope"), "nope", "not found")


def test_corrupted_model_folder(tmp_path, tiny_dir):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_dir, broken)
    (broken / "model.safetensors").write_bytes(b"garbage")
    one_line_error(run("info", "--model", broken), "model.safetensors")


def test_score_needs_two_texts_or_pairs():
    one_line_error(run("score", "only one"), "two texts")


def test_embed_writes_npy_and_never_overwrites(tmp_path, tiny_dir):
    src = tmp_path / "lines.txt"
    src.write_text("first line\n\nthird line\n")
    out = tmp_path / "vec.npy"
    assert run("embed", src, "--out", out, "--model", tiny_dir).exit_code == 0
    vecs = np.load(out)
    assert vecs.shape == (3, make_tiny_model().dim)
    from siamese_text.model.siamese import SiameseModel

    torch_vecs = SiameseModel.load(tiny_dir).encode(["first line", "", "third line"])
    np.testing.assert_allclose(vecs, torch_vecs, atol=1e-4)  # the NumPy path writes the torch model's vectors
    one_line_error(run("embed", src, "--out", out, "--model", tiny_dir), "already exists")
    one_line_error(run("embed", src, "--out", src, "--model", tiny_dir, "--overwrite"), "over the input")
    assert src.read_text() == "first line\n\nthird line\n"


def test_embed_invalid_utf8(tmp_path, tiny_dir):
    src = tmp_path / "bad.txt"
    src.write_bytes(b"ok\n\xc3\x28\n")
    one_line_error(run("embed", src, "--out", tmp_path / "v.npy", "--model", tiny_dir), "bad.txt:2")
    assert not (tmp_path / "v.npy").exists()


def test_info_shows_the_card():
    result = run("info")
    assert result.exit_code == 0
    assert "trained on" in result.stdout and "threshold" in result.stdout
    card = json.loads(run("info", "--json").stdout)
    assert card["encoder"]["vocab_size"] > 2 and "calibration" in card


def test_train_then_evaluate(tmp_path):
    data = tmp_path / "toy.tsv"
    data.write_text("".join(f"{p.a}\t{p.b}\t{int(p.label)}\n" for p in TOY_PAIRS * 3))
    out = tmp_path / "model"
    args = ["train", data, "--out", out, "--valid", data, "--epochs", "2", "--embedding-dim", "8",
            "--hidden-size", "8", "--subword-buckets", "32", "--no-progress"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert (out / "config.json").is_file()
    one_line_error(run(*args), "not empty")  # an existing model is not overwritten silently
    metrics = json.loads(run("evaluate", data, "--model", out, "--json").stdout)
    assert metrics["n"] == len(TOY_PAIRS) * 3 and 0.0 <= metrics["accuracy"] <= 1.0


def test_train_rejects_bad_labels(tmp_path):
    data = tmp_path / "bad.tsv"
    data.write_text("a\tb\tyes\n")
    one_line_error(run("train", data, "--out", tmp_path / "m"), "bad.tsv:1", "label")


def test_help_lists_commands():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("score", "embed", "info", "train", "evaluate"):
        assert command in result.stdout


def test_score_leaves_the_training_commands_unloaded(tiny_dir):
    """train and distill import torch; `score` must not wait for them (cli/__init__.py loads them lazily)."""
    import subprocess
    import sys

    code = ("import sys\nfrom siamese_text.cli import app\n"
            f"sys.argv = ['siamese-text', 'score', '--json', 'learn python', 'how do i learn python', "
            f"'--model', {str(tiny_dir)!r}]\n"
            "try:\n    app(prog_name='siamese-text')\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print(sorted(m for m in ('siamese_text.cli.training', 'siamese_text.training', 'torch') "
            "if m in sys.modules), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["threshold"] == 0.5
    assert done.stderr.strip() == "[]"
    import typer

    group = typer.main.get_command(app)
    assert group.list_commands(None) == ["score", "embed", "info", "train", "evaluate", "dedup", "index", "search",
                                         "distill"]
    assert group.get_command(None, "distill").params  # loaded on demand, with its options


def _broken_score_pair(*args, **kwargs):
    raise RuntimeError("a bug deep in the library\nwith a second line")


def test_an_unexpected_exception_is_one_line_naming_a_bug_and_exit_2(monkeypatch, tiny_dir):
    import siamese_text.cli.inference as inference

    monkeypatch.delenv("SIAMESE_TEXT_DEBUG", raising=False)
    monkeypatch.setattr(inference, "score_pair", _broken_score_pair)
    result = run("score", "a", "b", "--model", tiny_dir)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == ("error: internal error (RuntimeError: a bug deep in the library); this is a bug in "
                             "siamese-text: rerun with --debug (or SIAMESE_TEXT_DEBUG=1) for the traceback\n")


def test_the_debug_variable_lets_the_traceback_through(monkeypatch, tiny_dir):
    import siamese_text.cli.inference as inference

    monkeypatch.setenv("SIAMESE_TEXT_DEBUG", "1")
    monkeypatch.setattr(inference, "score_pair", _broken_score_pair)
    result = run("score", "a", "b", "--model", tiny_dir)
    assert isinstance(result.exception, RuntimeError) and "a bug deep" in str(result.exception)
    assert result.exit_code == 1 and "internal error" not in result.output  # CliRunner's code for an exception


def test_user_mistakes_stay_exit_1_and_the_commands_own_exits_pass(monkeypatch, tmp_path):
    monkeypatch.delenv("SIAMESE_TEXT_DEBUG", raising=False)
    assert run("score", "a", "b", "--model", tmp_path / "nope").exit_code == 1  # a SiameseTextError
    assert run("score", "only one").exit_code == 2 and "two texts" in run("score", "only one").stderr  # typer.Exit


def _raise(exc):
    def broken(*args, **kwargs):
        raise exc
    return broken


@pytest.mark.parametrize("exc, named", [(KeyError("num_layers"), "KeyError: 'num_layers'"),
                                        (TypeError("int() argument"), "TypeError: int() argument"),
                                        (AssertionError(), "AssertionError")])
def test_any_bug_is_one_line_with_exit_2(monkeypatch, tiny_dir, exc, named):
    import siamese_text.cli.inference as inference

    monkeypatch.delenv("SIAMESE_TEXT_DEBUG", raising=False)
    monkeypatch.setattr(inference, "score_pair", _raise(exc))
    result = run("score", "a", "b", "--model", tiny_dir)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and f"internal error ({named}); this is a bug in siamese-text" in \
        result.stderr and "--debug" in result.stderr


def test_the_debug_option_raises_the_original_exception(monkeypatch, tiny_dir):
    import siamese_text.cli.inference as inference

    monkeypatch.delenv("SIAMESE_TEXT_DEBUG", raising=False)
    monkeypatch.setattr(inference, "score_pair", _raise(KeyError("num_layers")))
    result = run("--debug", "score", "a", "b", "--model", tiny_dir)
    assert type(result.exception) is KeyError and result.exception.args == ("num_layers",)
    assert "internal error" not in result.output
    assert run("score", "a", "b", "--model", tiny_dir).exit_code == 2  # --debug lasts one invocation


def test_a_bug_outside_a_commands_own_guard_is_caught_at_the_edge(monkeypatch, tiny_dir):
    import contextlib

    import siamese_text.cli.inference as inference

    monkeypatch.delenv("SIAMESE_TEXT_DEBUG", raising=False)
    monkeypatch.setattr(inference, "user_errors", contextlib.nullcontext)  # as if a command forgot it
    monkeypatch.setattr(inference, "score_pair", _raise(RuntimeError("torchrun failed")))
    result = run("score", "a", "b", "--model", tiny_dir)
    assert result.exit_code == 2 and result.stderr.startswith("error: internal error (RuntimeError: torchrun failed)")
    assert result.stderr.count("\n") == 1


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, tiny_dir):
    import siamese_text.cli.inference as inference

    monkeypatch.setattr(inference, "score_pair", _raise(KeyboardInterrupt()))
    result = run("score", "a", "b", "--model", tiny_dir)
    assert result.exit_code == 130 and result.stderr == "error: interrupted\n"


def test_usage_errors_stay_typers(tiny_dir):
    result = run("score", "a", "b", "--model", tiny_dir, "--no-such-option")
    assert result.exit_code == 2 and "No such option" in result.stderr and "internal error" not in result.stderr


def test_the_installed_entry_prints_one_line_or_with_debug_the_traceback(tmp_path):
    """The real process: what a user sees in the terminal, with and without --debug."""
    import os
    import subprocess
    import sys

    code = ("import sys\nimport siamese_text.cli.inference as inference\n"
            "def broken(*args, **kwargs):\n    raise RuntimeError('a bug deep in the library')\n"
            "inference.score_pair = broken\n"
            "from siamese_text.cli import app\napp(prog_name='siamese-text')\n")
    env = {k: v for k, v in os.environ.items() if k != "SIAMESE_TEXT_DEBUG"}
    plain = subprocess.run([sys.executable, "-c", code, "score", "a", "b"], capture_output=True, text=True, env=env)
    assert plain.returncode == 2 and plain.stdout == ""
    assert plain.stderr.startswith("error: internal error (RuntimeError: a bug deep in the library); this is a bug")
    assert plain.stderr.count("\n") == 1
    debug = subprocess.run([sys.executable, "-c", code, "--debug", "score", "a", "b"], capture_output=True,
                           text=True, env=env)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.rstrip().endswith("RuntimeError: a bug deep in the library")
