import numpy as np
import pytest

from siamese_text.model.calibration import Calibration, best_threshold, fit_calibration
from siamese_text.errors import SiameseTextError
from siamese_text.corpora.pairs import Pair, group_ids, read_pairs, split_pairs
from siamese_text.text.tokenizer import normalize

from conftest import shared_file


def test_read_tsv_with_header_and_quotes(tmp_path):
    f = tmp_path / "p.tsv"
    f.write_text('text_a\ttext_b\tlabel\nHe said "hi\tHe said hi\t1\r\nA\tB\t0\n', encoding="utf-8")
    pairs = read_pairs(f)
    assert pairs == [Pair('He said "hi', "He said hi", 1), Pair("A", "B", 0)]


@pytest.mark.parametrize("content, message", [
    ("a\tb\t2\n", "label must be 0 or 1"),
    ("only one field\n", "got 1 field"),
    ("", "no pairs"),
])
def test_malformed_files_name_file_and_line(tmp_path, content, message):
    f = tmp_path / "bad.tsv"
    f.write_text(content)
    with pytest.raises(SiameseTextError, match=message) as info:
        read_pairs(f)
    assert "bad.tsv" in str(info.value) and "\n" not in str(info.value)


def test_invalid_utf8_names_the_line(tmp_path):
    f = tmp_path / "bad.tsv"
    f.write_bytes(b"a\tb\t1\nc\xff\td\t0\n")
    with pytest.raises(SiameseTextError, match=r"bad.tsv:2: not valid UTF-8"):
        read_pairs(f)
    assert read_pairs(f, errors="replace")[1].a == "c\ufffd"


def test_missing_file(tmp_path):
    with pytest.raises(SiameseTextError, match="no such file"):
        read_pairs(tmp_path / "none.tsv")


def test_groups_follow_shared_texts():
    pairs = [Pair("a", "b", 1), Pair("c", "d", 0), Pair("B", "e", 1), Pair("f", "g", 0)]
    g = group_ids(pairs)
    assert g[0] == g[2] and len({g[0], g[1], g[3]}) == 3  # "b" and "B" normalise alike


def test_split_is_deterministic_and_leak_free():
    pairs = [Pair(f"q{i % 37}", f"q{(i * 7) % 101 + 40}", i % 2) for i in range(300)]
    parts = split_pairs(pairs, [0.6, 0.2, 0.2], seed=3)
    assert parts == split_pairs(pairs, [0.6, 0.2, 0.2], seed=3)
    assert sum(map(len, parts)) == len(pairs)
    texts = [{normalize(t) for p in part for t in (p.a, p.b)} for part in parts]
    assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])


def test_qqp_split_has_no_question_in_two_parts():
    pairs = read_pairs(shared_file("qqp", "bimpm", "dev.tsv"), "qqp-bimpm")
    assert len(pairs) == 10_000 and sum(p.label for p in pairs) == 5_000
    train, valid, test = split_pairs(pairs, [0.65, 0.15, 0.2], seed=0)
    assert (len(train), len(valid), len(test)) == (6500, 1500, 2000)
    seen = {normalize(t) for p in train for t in (p.a, p.b)}
    assert not any(normalize(t) in seen for p in valid + test for t in (p.a, p.b))


def test_best_threshold_by_hand():
    probs = [0.9, 0.8, 0.4, 0.3, 0.2]
    labels = [1, 1, 0, 1, 0]
    thr, acc = best_threshold(probs, labels)
    assert acc == pytest.approx(0.8)  # cut after 0.8, or after 0.3: 4 of 5 right either way
    assert ((np.array(probs) >= thr) == np.array(labels)).mean() == pytest.approx(acc)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_is_decreasing_in_energy_and_round_trips(method):
    rng = np.random.default_rng(0)
    energy = np.concatenate([rng.normal(0.2, 0.1, 200), rng.normal(0.6, 0.1, 200)])
    labels = np.array([1] * 200 + [0] * 200)
    cal = fit_calibration(energy, labels, method)
    p = cal(np.array([0.0, 0.2, 0.4, 0.6, 1.0]))
    assert np.all(np.diff(p) <= 1e-12) and p[0] > 0.9 and p[-1] < 0.1
    assert np.allclose(Calibration.from_dict(cal.to_dict())(energy), cal(energy))


def test_calibration_needs_both_labels():
    with pytest.raises(ValueError):
        fit_calibration([0.1, 0.2], [1, 1])
