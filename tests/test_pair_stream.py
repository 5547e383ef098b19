"""Library functions behind `score`, `embed` and `index`: evaluation/pair_stream.py, dedup/collection.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from siamese_text.dedup.collection import embed_file, index_file
from siamese_text.errors import SiameseTextError
from siamese_text.evaluation.pair_stream import MAX_TEXT_CHARS, PairScore, PairStream, check_text, score_pair

from conftest import TOY_PAIRS


def pair_file(path, pairs, labels=True):
    path.write_text("".join(f"{p.a}\t{p.b}" + (f"\t{int(p.label)}" if labels else "") + "\n" for p in pairs),
                    encoding="utf-8")
    return path


def test_score_pair_is_the_calibrated_probability_and_the_verdict(tiny_model):
    a, b = TOY_PAIRS[0].a, TOY_PAIRS[0].b
    s = score_pair(tiny_model, a, b)
    assert s.probability == round(tiny_model.similarity(a, b), 6)
    assert s.energy == round(float(tiny_model.energies([a], [b])[0]), 6)
    assert s.threshold == round(tiny_model.threshold, 6) and s.label is None
    assert s.duplicate == (tiny_model.similarity(a, b) >= tiny_model.threshold)
    assert list(s.to_dict()) == ["probability", "duplicate", "energy", "threshold"]
    assert PairScore(0.5, True, 0.1, 0.4, 1).to_dict()["label"] == 1


def test_texts_are_checked_before_scoring(tiny_model):
    with pytest.raises(SiameseTextError, match="^text A is empty$"):
        score_pair(tiny_model, "  ", "b")
    with pytest.raises(SiameseTextError, match=f"^text B is {MAX_TEXT_CHARS + 1:,} characters long"):
        score_pair(tiny_model, "a", "x" * (MAX_TEXT_CHARS + 1))
    check_text("fine", "the query")


@pytest.mark.parametrize("batch_size", [1, 5, 512])
def test_a_stream_gives_one_score_per_pair_in_order_whatever_the_batch(tmp_path, tiny_model, batch_size):
    path = pair_file(tmp_path / "p.tsv", TOY_PAIRS)
    stream = PairStream(tiny_model, path, batch_size=batch_size)
    scores = list(stream)
    assert [s.label for s in scores] == [int(p.label) for p in TOY_PAIRS]
    assert [s.probability for s in scores] == [score_pair(tiny_model, p.a, p.b).probability for p in TOY_PAIRS]
    assert stream.pairs == stream.labelled == len(TOY_PAIRS)
    assert stream.correct == sum(s.duplicate == bool(s.label) for s in scores)
    assert stream.accuracy == stream.correct / len(TOY_PAIRS)


def test_a_stream_without_labels_and_in_the_bimpm_layout(tmp_path, tiny_model):
    stream = PairStream(tiny_model, pair_file(tmp_path / "u.tsv", TOY_PAIRS[:3], labels=False))
    assert [s.label for s in stream] == [None] * 3 and stream.labelled == 0 and np.isnan(stream.accuracy)
    bimpm = tmp_path / "b.tsv"
    bimpm.write_text("1\thow do i -LRB- learn -RRB- python\thow do i learn python\t7\n", encoding="utf-8")
    (s,) = PairStream(tiny_model, bimpm, "qqp-bimpm")
    assert s.label == 1 and s.probability == score_pair(tiny_model, "how do i ( learn ) python",
                                                        "how do i learn python").probability


def test_a_stream_names_the_pair_that_is_too_long_and_refuses_an_empty_file(tmp_path, tiny_model):
    path = tmp_path / "long.tsv"
    path.write_text("a\tb\n" + "c\t" + "x" * (MAX_TEXT_CHARS + 1) + "\n", encoding="utf-8")
    stream = iter(PairStream(tiny_model, path, batch_size=1))
    assert next(stream).label is None  # the first pair is scored before the second is read
    with pytest.raises(SiameseTextError, match=r"long\.tsv: pair 2: text B is"):
        next(stream)
    (tmp_path / "empty.tsv").write_text("\n", encoding="utf-8")
    with pytest.raises(SiameseTextError, match="no pairs in the file"):
        list(PairStream(tiny_model, tmp_path / "empty.tsv"))


def test_embed_file_writes_one_row_per_line_atomically(tmp_path, tiny_model):
    src = tmp_path / "lines.txt"
    src.write_bytes(b"\xef\xbb\xbffirst line\r\n\nthird line")
    out = tmp_path / "v.npy"
    assert embed_file(src, out, tiny_model) == (3, tiny_model.dim)
    np.testing.assert_array_equal(np.load(out), tiny_model.encode(["first line", "", "third line"]))
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
    with pytest.raises(SiameseTextError, match="already exists"):
        embed_file(src, out, tiny_model)
    with pytest.raises(SiameseTextError, match="over the input"):
        embed_file(src, src, tiny_model, overwrite=True)
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xc3\x28\n")
    with pytest.raises(SiameseTextError, match=r"bad\.txt:2: not valid UTF-8"):
        embed_file(tmp_path / "bad.txt", tmp_path / "w.npy", tiny_model)
    assert not (tmp_path / "w.npy").exists()


def test_index_file_indexes_distinct_non_blank_lines_under_their_first_line(tmp_path, tiny_model):
    src = tmp_path / "c.txt"
    src.write_text("how do i learn python\n\nbake bread\nhow do i learn python\ncats\n", encoding="utf-8")
    built = index_file(src, tmp_path / "idx", tiny_model)
    assert built.lines == 4 and len(built.index) == 3 and built.index.lines == [1, 3, 5]
    assert json.loads((tmp_path / "idx" / "index.json").read_text())["count"] == 3
    assert built.index.search("bake bread", 1)[0].line == 3
    with pytest.raises(SiameseTextError, match="already exists"):
        index_file(src, tmp_path / "idx", tiny_model)
    assert len(index_file(src, tmp_path / "idx", tiny_model, overwrite=True).index) == 3
    (tmp_path / "blank.txt").write_text("\n \n", encoding="utf-8")
    with pytest.raises(SiameseTextError, match="no non-blank lines"):
        index_file(tmp_path / "blank.txt", tmp_path / "idx2", tiny_model)
