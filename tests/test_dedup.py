"""Near-duplicate removal: keep-first without chaining on hand-set vectors, files, report, CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from siamese_text.cli import app
from siamese_text.dedup.stages import DedupConfig, dedup
from siamese_text.dedup.search import find_duplicates
from siamese_text.errors import SiameseTextError
from siamese_text.dedup.index import IndexConfig
from siamese_text.dedup import files as records
from siamese_text.dedup.files import dedup_files

from conftest import make_tiny_model

runner = CliRunner()


class FakeEncoder:
    """encode(texts) -> the hand-set vector of each text (any object with `encode` is an encoder)."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen.extend(texts)
        return np.array([self.table[t] for t in texts], dtype=np.float32)


def unit(deg: float) -> list[float]:
    r = np.deg2rad(deg)
    return [float(np.cos(r)), float(np.sin(r)), 0.0]


# A ~ B (30 degrees apart, cos 0.87) and B ~ C, but A and C are 60 degrees apart (cos 0.5).
CHAIN = {"A": unit(0), "B": unit(30), "C": unit(60), "D": [0.0, 0.0, 1.0]}


def reference(vectors: np.ndarray, threshold: float) -> list[int]:
    """Keep-first by brute force: drop i when some earlier KEPT j has cosine >= threshold."""
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    kept: list[int] = []
    dup = []
    for i in range(len(v)):
        sims = [float(v[i] @ v[j]) for j in kept]
        if sims and max(sims) >= threshold:
            dup.append(kept[int(np.argmax(sims))])
        else:
            kept.append(i)
            dup.append(-1)
    return dup


def test_keep_first_without_chaining():
    res = dedup(["A", "B", "C"], FakeEncoder(CHAIN), threshold=0.8)
    assert res.kept == [0, 2]  # C resembles only B, which is removed: C stays
    (removed,) = res.removed
    assert (removed.index, removed.duplicate_of, removed.exact) == (1, 0, False)
    assert removed.score == pytest.approx(np.cos(np.deg2rad(30)), abs=1e-5)


def test_the_first_of_a_group_decides():
    res = dedup(["B", "A", "C", "D"], FakeEncoder(CHAIN), threshold=0.8)
    assert res.kept == [0, 3]
    assert [(r.index, r.duplicate_of) for r in res.removed] == [(1, 0), (2, 0)]


def test_exact_duplicates_blank_lines_and_repeats_of_removed_texts():
    texts = ["A", "", "Hello  World", "hello world", "   ", "B", "A", "b", ""]
    enc = FakeEncoder({**CHAIN, "Hello  World": [0.0, 1.0, 1.0]})
    res = dedup(texts, enc, threshold=0.8)
    assert res.kept == [0, 1, 2, 4, 8]  # blank texts are kept, never compared
    got = {r.index: (r.duplicate_of, r.exact, round(r.score, 3)) for r in res.removed}
    assert got[3] == (2, True, 1.0)  # same text after normalisation
    assert got[5] == (0, False, 0.866)
    assert got[6] == (0, True, 1.0)
    assert got[7] == (0, False, 0.866)  # a copy of removed B points at the KEPT text, not at B
    assert sorted(enc.seen) == ["A", "B", "Hello  World"]  # only distinct texts are embedded
    assert (res.n_exact, res.n_near) == (2, 2)


def test_all_identical_all_unique_and_empty():
    enc = FakeEncoder({"x": [1.0, 0.0], **{f"u{i}": np.eye(8)[i].tolist() for i in range(8)}})
    assert dedup(["x"] * 50, enc, threshold=0.9).kept == [0]
    assert dedup([f"u{i}" for i in range(8)], enc, threshold=0.5).kept == list(range(8))
    res = dedup([], enc, threshold=0.5)
    assert res.kept == [] and res.removed == []


@pytest.mark.parametrize("exact_limit", [10_000, 0])  # flat search, and IVF over every cell
def test_matches_brute_force_keep_first_on_clusters(exact_limit):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 16))
    vecs = np.repeat(centres, 25, axis=0) + rng.normal(scale=0.35, size=(1000, 16))
    vecs = vecs[rng.permutation(1000)]
    table = {f"t{i}": v.tolist() for i, v in enumerate(vecs)}
    texts = list(table)
    config = DedupConfig(k=4, index=IndexConfig(exact_limit=exact_limit, nprobe=10_000))
    res = dedup(texts, FakeEncoder(table), threshold=0.9, config=config)
    expected = reference(vecs, 0.9)
    assert res.kept == [i for i, d in enumerate(expected) if d < 0]
    assert 100 < len(res.removed) < 990  # the threshold really splits the data
    for r in res.removed:
        assert r.duplicate_of < r.index and res.duplicate_of[r.duplicate_of] == -1
        assert r.score >= 0.9


def test_worker_processes_give_the_same_result():
    rng = np.random.default_rng(2)
    table = {f"w{i}": v.tolist() for i, v in enumerate(np.repeat(rng.normal(size=(30, 6)), 4, 0)
                                                      + rng.normal(scale=0.2, size=(120, 6)))}
    one = dedup(list(table), FakeEncoder(table), threshold=0.9)
    remote = FakeEncoder(table)
    two = dedup(list(table), remote, threshold=0.9, config=DedupConfig(workers=2, min_parallel=0, chunk_size=16))
    assert remote.seen == []  # every chunk was encoded by a copy in a worker process
    np.testing.assert_array_equal(one.duplicate_of, two.duplicate_of)
    assert 0 < len(one.removed) < 110


def test_large_group_beyond_k_neighbours():
    rng = np.random.default_rng(1)
    vecs = np.ones((60, 8)) + rng.normal(scale=0.01, size=(60, 8))  # 60 near-identical texts
    table = {f"g{i}": v.tolist() for i, v in enumerate(vecs)}
    res = dedup(list(table), FakeEncoder(table), threshold=0.99, config=DedupConfig(k=2, max_k=64))
    assert res.kept == [0]
    assert {r.duplicate_of for r in res.removed} == {0}


def test_plain_encoder_needs_a_threshold_and_thresholds_are_checked():
    with pytest.raises(SiameseTextError, match="explicit threshold"):
        dedup(["A"], FakeEncoder(CHAIN))
    with pytest.raises(SiameseTextError, match="threshold must lie"):
        dedup(["A"], make_tiny_model(), threshold=1.5)
    with pytest.raises(TypeError):
        dedup("A B", FakeEncoder(CHAIN), threshold=0.5)


def test_find_duplicates_against_an_existing_set():
    matches = find_duplicates(["C", "a", "D", " ", "B"], ["A", "D"], FakeEncoder(CHAIN), threshold=0.8)
    assert matches[0] is None and matches[3] is None
    assert (matches[1].corpus, matches[1].exact, matches[1].score) == (0, True, 1.0)
    assert (matches[2].corpus, matches[2].exact) == (1, True)
    assert (matches[4].corpus, matches[4].exact) == (0, False)


@pytest.mark.slow
def test_bundled_model_removes_repeats_and_keeps_different_questions():
    texts = ["How do I learn Python?", "What is the capital of France?", "How do I learn Python ?",
             "how do i learn python?", "How do I bake bread at home?", "", "What is the capital of France?"]
    res = dedup(texts)
    assert 0 in res.kept and 1 in res.kept and 4 in res.kept and 5 in res.kept
    got = {r.index: r for r in res.removed}
    assert got[3].exact and got[3].duplicate_of == 0
    assert got[6].exact and got[6].duplicate_of == 1
    assert not got[2].exact and got[2].duplicate_of == 0 and got[2].score >= res.threshold
    for r in res.removed:
        assert res.duplicate_of[r.duplicate_of] == -1 and r.duplicate_of < r.index


# ----- files --------------------------------------------------------------------------------

FILE_TABLE = {**CHAIN, "caf\u00e9": [0.0, 1.0, 1.0], "far away": [0.0, -1.0, 0.0]}


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_outputs_are_the_kept_lines_byte_for_byte_and_inputs_stay(tmp_path):
    one = write(tmp_path / "one.txt", b"\xef\xbb\xbfA\r\nB\r\n\r\ncaf\xc3\xa9\nA\nC")
    two = write(tmp_path / "two.txt", b"B\nfar away\n  \nCAF\xc3\x89\n")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (one, two)}
    out, report = tmp_path / "out", tmp_path / "removed.jsonl"
    s = dedup_files([one, two], out, report, FakeEncoder(FILE_TABLE), threshold=0.8)
    assert (out / "one.txt").read_bytes() == b"\xef\xbb\xbfA\r\n\r\ncaf\xc3\xa9\nC"
    assert (out / "two.txt").read_bytes() == b"far away\n  \n"
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (one, two)} == before
    assert (s.records, s.blank, s.exact_removed, s.near_removed, s.kept, s.files_written) == (10, 2, 2, 2, 6, 2)
    rows = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [(r["file"], r["line"], r["exact"]) for r in rows] == [
        (str(one), 2, False), (str(one), 5, True), (str(two), 1, False), (str(two), 4, True)]
    lines = {str(p): p.read_bytes().decode("utf-8-sig").replace("\r", "").split("\n") for p in (one, two)}
    for r in rows:  # every report line points at a record that is kept, with its text
        kept = r["duplicate_of"]
        assert lines[kept["file"]][kept["line"] - 1] == kept["text"]
        assert lines[r["file"]][r["line"] - 1] == r["text"]
        kept_out = (out / os.path.basename(kept["file"])).read_bytes().decode("utf-8-sig")
        assert kept["text"] in kept_out.replace("\r", "").split("\n")
    assert rows[2]["duplicate_of"] == {"file": str(one), "line": 1, "text": "A"}


def test_refuses_to_write_over_an_input_or_an_existing_output(tmp_path):
    src = write(tmp_path / "a.txt", b"A\nA\n")
    with pytest.raises(SiameseTextError, match="refusing to write over an input"):
        dedup_files([src], tmp_path, None, FakeEncoder(CHAIN), threshold=0.8)
    with pytest.raises(SiameseTextError, match="refusing to write over an input"):
        dedup_files([src], tmp_path / "out", src, FakeEncoder(CHAIN), threshold=0.8)
    assert src.read_bytes() == b"A\nA\n"
    (tmp_path / "out").mkdir()
    write(tmp_path / "out" / "a.txt", b"old")
    with pytest.raises(SiameseTextError, match="already exists"):
        dedup_files([src], tmp_path / "out", None, FakeEncoder(CHAIN), threshold=0.8)
    dedup_files([src], tmp_path / "out", None, FakeEncoder(CHAIN), threshold=0.8, overwrite=True)
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"A\n"


def test_interrupted_run_leaves_no_output(tmp_path, monkeypatch):
    one = write(tmp_path / "one.txt", b"A\nD\nB\n")
    two = write(tmp_path / "two.txt", b"C\nD\n")
    calls = []

    def failing_write(fh, raw):
        calls.append(raw)
        if len(calls) == 3:
            raise KeyboardInterrupt
        fh.write(raw)

    monkeypatch.setattr(records, "_write_kept", failing_write)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        dedup_files([one, two], out, tmp_path / "r.jsonl", FakeEncoder(CHAIN), threshold=0.8)
    assert list(out.iterdir()) == [] and not (tmp_path / "r.jsonl").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.txt", "out", "two.txt"]


def test_failed_rename_takes_back_the_renamed_outputs(tmp_path, monkeypatch):
    one, two = write(tmp_path / "one.txt", b"A\n"), write(tmp_path / "two.txt", b"B\nD\n")
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(records.os, "replace", flaky_replace)
    with pytest.raises(OSError):
        dedup_files([one, two], tmp_path / "out", None, FakeEncoder(CHAIN), threshold=0.8)
    assert list((tmp_path / "out").iterdir()) == []


def test_invalid_utf8_strict_names_file_and_line_replace_keeps_bytes(tmp_path):
    bad = write(tmp_path / "bad.txt", b"A\nB\xff\nA\n")
    with pytest.raises(SiameseTextError, match=r"bad.txt:2: not valid UTF-8"):
        dedup_files([bad], tmp_path / "out", None, FakeEncoder(CHAIN), threshold=0.8)
    assert not (tmp_path / "out" / "bad.txt").exists()
    enc = FakeEncoder({**CHAIN, "B\ufffd": [0.0, 0.0, 1.0]})
    dedup_files([bad], tmp_path / "out", None, enc, threshold=0.8, errors="replace")
    assert (tmp_path / "out" / "bad.txt").read_bytes() == b"A\nB\xff\n"


def test_empty_file_unit_file_and_a_10_mb_line(tmp_path):
    empty = write(tmp_path / "empty.txt", b"")
    s = dedup_files([empty], tmp_path / "o1", None, FakeEncoder(CHAIN), threshold=0.8)
    assert (tmp_path / "o1" / "empty.txt").read_bytes() == b"" and s.records == 0

    docs = [write(tmp_path / f"d{i}.txt", data) for i, data in enumerate([b"A", b"B\n", b"A", b""])]
    report = tmp_path / "docs.jsonl"
    s = dedup_files(docs, tmp_path / "o2", report, FakeEncoder({**CHAIN, "B\n": unit(30)}), threshold=0.8,
                    unit="file")
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["d0.txt", "d3.txt"]
    rows = [json.loads(x) for x in report.read_text().splitlines()]
    assert [(r["file"], r["line"], r["exact"], r["duplicate_of"]["file"]) for r in rows] == [
        (str(docs[1]), None, False, str(docs[0])), (str(docs[2]), None, True, str(docs[0]))]

    big = "A" + " filler" * 1_500_000  # 10.5 MB on one line; only its start is embedded
    other = big[:-1] + "!"
    enc = FakeEncoder({big[:20_000]: unit(0), "B": unit(90)})
    src = write(tmp_path / "big.txt", (big + "\nB\n" + big + "\n" + other + "\n").encode())
    s = dedup_files([src], tmp_path / "o3", None, enc, threshold=0.8)
    assert (tmp_path / "o3" / "big.txt").read_bytes() == (big + "\nB\n").encode()
    assert max(map(len, enc.seen)) == 20_000 and (s.exact_removed, s.near_removed) == (1, 1)


# ----- command line ---------------------------------------------------------------------------

@pytest.fixture
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny"
    make_tiny_model().save(path)
    return path


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def one_line_error(result, *needles):
    assert result.exit_code != 0
    text = result.output.strip()
    assert text.startswith("error: ") and "\n" not in text and "Traceback" not in text, text
    for needle in needles:
        assert needle in text, text


def test_cli_dedup_writes_outputs_report_and_summary(tmp_path, model_dir):
    src = write(tmp_path / "in.txt", b"how do I learn python?\nHow do I  learn Python?\n\nbake bread\n")
    res = run("dedup", src, "--out", tmp_path / "out", "--report", tmp_path / "r.jsonl", "--model", model_dir,
              "--threshold", "1.0")
    assert res.exit_code == 0, res.output
    assert "4 records read (1 blank)" in res.output and "removed 1 exact" in res.output
    assert (tmp_path / "out" / "in.txt").read_bytes() == b"how do I learn python?\n\nbake bread\n"
    (row,) = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert row["line"] == 2 and row["exact"] and row["duplicate_of"]["line"] == 1


def test_cli_dry_run_and_stdin(tmp_path, model_dir):
    res = run("dedup", "-", "--dry-run", "--report", tmp_path / "r.jsonl", "--model", model_dir,
              "--threshold", "1.0", input="x y\nX  Y\n")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "r.jsonl").read_text())["file"] == "<stdin>"
    res = run("dedup", "-", "--out", tmp_path / "o", "--model", model_dir, input="x y\nX  Y\n")
    assert res.exit_code == 0 and (tmp_path / "o" / "stdin.txt").read_bytes() == b"x y\n"


def test_cli_one_line_errors(tmp_path, model_dir):
    bad = write(tmp_path / "bad.txt", b"fine\n\xc3\x28\n")
    one_line_error(run("dedup", bad, "--out", tmp_path / "o", "--model", model_dir), "bad.txt:2: not valid UTF-8")
    one_line_error(run("dedup", tmp_path / "missing.txt", "--out", tmp_path / "o", "--model", model_dir),
                   "missing.txt: no such file")
    one_line_error(run("dedup", bad, "--out", tmp_path, "--model", model_dir), "refusing to write over an input")
    one_line_error(run("dedup", bad, "--model", model_dir), "--out")
    one_line_error(run("dedup", bad, "--out", tmp_path / "o", "--model", tmp_path / "nomodel"), "not found")
    assert bad.read_bytes() == b"fine\n\xc3\x28\n"
