"""Fuzzing with Hypothesis: the CLI and the public API fed generated text and bytes.

Property of every command: exit 0 with valid output, or exit 1 with exactly one stderr line
starting "error: "; never a traceback; the input file's bytes never change. The profile in
conftest.py keeps this deterministic and small; `--hypothesis-profile long` runs many more.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, strategies as st
from typer.testing import CliRunner

from siamese_text.cli import app
from siamese_text.errors import SiameseTextError

try:
    runner = CliRunner(mix_stderr=False)
except TypeError:  # click >= 8.2 always keeps stderr apart
    runner = CliRunner()

# Text a user may paste: control characters, zero-width and bidi marks, emoji, combining marks.
SPECIAL = ["\u200b", "\u200c", "\u200d", "\ufeff", "\u202e", "\u202d", "\u2066", "\u2069", "\u0301", "\u0308",
           "\U0001f600", "\U0001f469\u200d\U0001f4bb", "\x00", "\x07", "\x1b", "\t", "\x0b", "\x0c", "\u2028",
           "\u0085", "e\u0301", "\ufffd"]
texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(SPECIAL) | st.text(max_size=5), max_size=12).map("".join),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=500, max_size=3000),  # one very long token
    st.sampled_from(["x" * 5000, "\u0301" * 300, "a\u0301" * 400, "\U0001f600" * 500]),
)
# Lines of a file: bytes as they come, with every line ending and none at the end.
line_bytes = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=30).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.lists(st.sampled_from(["a", "b c", "how do i learn python", "\t", "\t\t", "x\ty", "x\ty\t1", "x\ty\t0",
                              "\x00", "é", "\ufeff"]), max_size=5).map(lambda xs: "\t".join(xs).encode()),
    st.sampled_from([b"\xff\xfe", b"\xef\xbb\xbf", b"\xc3", b"\xed\xa0\x80", b"\x00\x00"]),
)
file_bytes = st.one_of(
    st.binary(max_size=200),
    st.tuples(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]),
              st.lists(st.tuples(line_bytes, st.sampled_from([b"\n", b"\r\n", b"\r", b""])), max_size=8))
    .map(lambda t: t[0] + b"".join(line + end for line, end in t[1])),
)


def check_outcome(result, allowed=(0, 1)) -> None:
    """Exit 0, or exit 1 with exactly one "error: " line on stderr; never a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in allowed, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    if result.exit_code == 1:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def probability_of(stdout: str) -> float:
    return float(stdout.split()[1])


@given(texts, texts)
@example("\x00", "\x00")
@example("\u200b\u202e", "\U0001f600\u0301")
@example("a" * 10000, "a")
def test_score_two_texts(a, b):
    result = runner.invoke(app, ["score", "--", a, b])
    check_outcome(result)
    if result.exit_code == 0:
        p = probability_of(result.stdout)
        assert 0.0 <= p <= 1.0


@given(texts, texts)
def test_score_json(a, b):
    result = runner.invoke(app, ["score", "--json", "--", a, b])
    check_outcome(result)
    if result.exit_code == 0:
        p = json.loads(result.stdout)["probability"]
        assert math.isfinite(p) and 0.0 <= p <= 1.0


def run_on_file(data: bytes, args_for) -> tuple:
    """Write `data` to a fresh file, run the command `args_for(file, tmp)` and check the file is unchanged."""
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "input.txt"
        file.write_bytes(data)
        result = runner.invoke(app, args_for(file, Path(tmp)))
        assert file.read_bytes() == data, "the command wrote to its input"
        kept_file = Path(tmp) / "out" / "input.txt"
        kept = kept_file.read_bytes() if kept_file.exists() else None
        npy = Path(tmp) / "vectors.npy"
        vectors = np.load(npy) if npy.exists() else None
        search = None
        if result.exit_code == 0 and (Path(tmp) / "index").is_dir():
            search = runner.invoke(app, ["search", str(Path(tmp) / "index"), "how do i learn python", "-k", "3"])
        return result, kept, vectors, search


@given(file_bytes)
@example(b"a\tb\n")
@example(b"\xef\xbb\xbfa\tb\r\nc\td\re\tf")
@example(b"\x00\t\x00\n")
def test_score_pairs_file(data):
    result, _, _, _ = run_on_file(data, lambda f, tmp: ["score", "--pairs", str(f)])
    check_outcome(result)
    if result.exit_code == 0:
        for row in result.stdout.splitlines():
            p = float(row.split("\t")[0])
            assert 0.0 <= p <= 1.0


@given(file_bytes)
@example(b"")
@example(b"\n\n")
@example(b"a\rb\r\nc")
def test_embed_file(data):
    result, _, vectors, _ = run_on_file(data, lambda f, tmp: ["embed", str(f), "--out", str(tmp / "vectors.npy")])
    check_outcome(result)
    if result.exit_code == 0:
        assert vectors is not None and vectors.ndim == 2 and np.isfinite(vectors).all()


def split_lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=False)


@given(file_bytes)
@example(b"same\nsame\nsame")
@example(b"a\r\na\rb\n\xff\n\xff")
def test_dedup_file(data):
    result, kept, _, _ = run_on_file(data, lambda f, tmp: ["dedup", str(f), "--out", str(tmp / "out"),
                                                          "--workers", "1", "--no-progress"])
    check_outcome(result)
    if result.exit_code == 0:
        assert kept is not None
        source, out = iter(split_lines(data)), split_lines(kept)
        assert all(any(line == s for s in source) for line in out), "kept lines are not a subsequence of the input"


@given(file_bytes)
@example(b"how do i learn python\nhow do i bake bread")
@example(b"\x00\n\r\n\t")
def test_index_then_search(data):
    result, _, _, search = run_on_file(data, lambda f, tmp: ["index", str(f), "--out", str(tmp / "index"),
                                                            "--no-progress"])
    check_outcome(result)
    if search is not None:
        check_outcome(search)


@given(file_bytes)
@example(b"a\tb\t1\nc\td\t0\n")
@example(b"text_a\ttext_b\tlabel\r\nx\ty\t1")
def test_evaluate_file(data):
    result, _, _, _ = run_on_file(data, lambda f, tmp: ["evaluate", str(f)])
    check_outcome(result)


# The Python API on generated strings: a valid result, or SiameseTextError / TypeError / ValueError.
API_ERRORS = (SiameseTextError, TypeError, ValueError)


@pytest.fixture(scope="module")
def model():
    from siamese_text.model.siamese import SiameseModel

    return SiameseModel.load()


@given(st.lists(texts, min_size=1, max_size=4))
@example(["", "\x00", "\ud800"])
def test_api_encode(model, batch):
    try:
        vectors = model.encode(batch)
    except API_ERRORS:
        return
    vectors = np.asarray(vectors)
    assert vectors.shape[0] == len(batch) and np.isfinite(vectors).all()


@given(texts, texts)
@example("\ud800", "a")
@example("", "")
def test_api_similarity(model, a, b):
    try:
        p = model.similarity(a, b)
    except API_ERRORS:
        return
    assert 0.0 <= float(p) <= 1.0


@given(texts, st.lists(texts, max_size=5), st.integers(min_value=-2, max_value=8))
def test_api_most_similar(model, query, candidates, k):
    try:
        hits = model.most_similar(query, candidates, k=k)
    except API_ERRORS:
        return
    assert len(hits) <= min(max(k, 0), len(candidates))
    for hit in hits:
        assert 0.0 <= hit.probability <= 1.0 and candidates[hit.index] == hit.text
