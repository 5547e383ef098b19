"""One reader routing for `train` and `evaluate` (corpora/labelled.py) and split routing (corpora/splits.py)."""

from __future__ import annotations

import pytest

from siamese_text.corpora.labelled import PairSource, read_labelled
from siamese_text.corpora.pairs import Pair, normalize
from siamese_text.corpora.splits import Parts, SplitConfig, read_parts, split_parts
from siamese_text.errors import SiameseTextError

from conftest import TOY_PAIRS


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def sts_file(path, rows):
    """An STS-B layout: genre, file, year, id, score, sentence1, sentence2."""
    return write(path, "".join(f"g\tf\t2012\t{i:04d}\t{score}\t{a}\t{b}\n" for i, (score, a, b) in enumerate(rows)))


def test_a_source_checks_its_options_once_for_both_commands():
    assert PairSource("x.tsv").fmt == "tsv" and not PairSource("x.tsv").graded
    with pytest.raises(SiameseTextError, match="unknown corpus format 'tab'"):
        PairSource("x.tsv", "tab")
    with pytest.raises(SiameseTextError, match="--binarize applies to graded corpora"):
        PairSource("x.tsv", "tsv", binarize=3.0)
    assert PairSource("s.csv", "stsb").cut == 4.0 and PairSource("s.csv", "stsb", binarize=2.5).cut == 2.5
    assert PairSource("x.tsv").cut is None
    other = PairSource("a/train.csv", "csv", text_a="q1", text_b="q2", label="y").at("b/valid.csv")
    assert (other.path, other.fmt, other.text_a, other.text_b, other.label) == ("b/valid.csv", "csv", "q1", "q2", "y")
    assert other.name == "valid.csv"


def test_graded_scores_are_cut_for_training_and_kept_for_evaluation(tmp_path):
    path = sts_file(tmp_path / "sts.tsv", [("4.6", "a cat", "a kitten"), ("0.8", "a cat", "the sea"),
                                           ("4.0", "hello", "hi")])
    assert [p.label for p in read_labelled(PairSource(path, "stsb")).pairs] == [1, 0, 1]
    assert [p.label for p in read_labelled(PairSource(path, "stsb", binarize=4.5)).pairs] == [1, 0, 0]
    assert [p.label for p in read_labelled(PairSource(path, "stsb"), keep_scores=True).pairs] == [4.6, 0.8, 4.0]


def test_named_columns_and_skipped_lines_are_read_the_same_way(tmp_path):
    path = write(tmp_path / "p.csv", "label,question1,question2\n1,How are you?,How do you do?\n0,,empty\n"
                                     "0,Is it hot?,Is it cold?\n")
    corpus = read_labelled(PairSource(path, "csv", text_a="question2", text_b="question1"))
    assert corpus.pairs == [Pair("How do you do?", "How are you?", 1), Pair("Is it cold?", "Is it hot?", 0)]
    assert corpus.skipped_lines == [3]
    bad = write(tmp_path / "bad.tsv", "a\tb\tyes\n")
    with pytest.raises(SiameseTextError, match=r"bad\.tsv:1: label must be 0 or 1"):
        read_labelled(PairSource(bad))


@pytest.mark.parametrize("fractions", [(0.15, 0.0), (0.2, 0.2), (0.3, 0.1)])
def test_one_file_is_cut_into_three_parts_that_share_no_text(fractions):
    pairs = TOY_PAIRS * 2 + [Pair(f"question {i}", f"question {i} again", i % 2) for i in range(40)]
    parts = split_parts(pairs, SplitConfig(*fractions, seed=3))
    assert sorted(map(repr, parts.train + parts.valid + parts.test)) == sorted(map(repr, pairs))
    texts = [{normalize(t) for p in part for t in (p.a, p.b)} for part in (parts.train, parts.valid, parts.test)]
    assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    assert len(parts.valid) >= fractions[0] * len(pairs) - 12 and (len(parts.test) > 0) == (fractions[1] > 0)
    assert parts.sizes() == {"seed": 3, "train": len(parts.train), "valid": len(parts.valid),
                             "test": len(parts.test)}
    assert split_parts(pairs, SplitConfig(*fractions, seed=3)) == parts  # the seed decides


def test_a_validation_file_leaves_the_data_for_training_and_test():
    valid = [Pair("v1", "v2", 1), Pair("v3", "v4", 0)]
    parts = split_parts(TOY_PAIRS, SplitConfig(valid_fraction=0.5), valid)
    assert parts == Parts(list(TOY_PAIRS), valid, [], 0)
    with_test = split_parts(TOY_PAIRS, SplitConfig(test_fraction=0.25, seed=1), valid)
    assert with_test.valid == valid and len(with_test.train) + len(with_test.test) == len(TOY_PAIRS)
    assert with_test.test


@pytest.mark.parametrize("valid, test", [(0.5, 0.5), (-0.1, 0.0), (0.2, 1.0)])
def test_fractions_that_leave_nothing_to_train_on_are_refused(valid, test):
    with pytest.raises(SiameseTextError, match="fractions"):
        SplitConfig(valid, test)


def test_read_parts_reads_a_validation_file_with_the_same_options(tmp_path):
    data = write(tmp_path / "d.csv", "y,q1,q2\n" + "".join(f"{int(p.label)},{p.a},{p.b}\n" for p in TOY_PAIRS))
    valid = write(tmp_path / "v.csv", "y,q1,q2\n1,Hi there,Hello there\n0,Hi there,Bye now\n")
    source = PairSource(data, "csv", text_a="q1", text_b="q2", label="y")
    parts = read_parts(source, SplitConfig(test_fraction=0.25), valid=valid)
    assert parts.valid == [Pair("Hi there", "Hello there", 1), Pair("Hi there", "Bye now", 0)]
    assert len(parts.train) + len(parts.test) == len(TOY_PAIRS) and parts.test and parts.skipped_lines == []
    three = read_parts(source, SplitConfig(valid_fraction=0.25))
    assert len(three.train) + len(three.valid) == len(TOY_PAIRS) and three.valid and not three.test
