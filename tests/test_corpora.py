"""Corpus readers on small files written here, the toy corpus, and the real files when present."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from siamese_text.corpora.formats import FORMATS, load_corpus, load_triplets, read_corpus
from siamese_text.errors import SiameseTextError
from siamese_text.corpora.mining import duplicate_groups, implied_pairs, mine_triplets
from siamese_text.corpora.pairs import Pair, read_pairs, text_components
from conftest import shared_file

TOY = Path(__file__).resolve().parents[1] / "corpora" / "toy"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# ----- the toy corpus ------------------------------------------------------------------------

def test_toy_corpus_has_41_pairs_with_negations():
    pairs = load_corpus(TOY / "pairs.tsv", "tsv")
    assert len(pairs) == 41 and sum(p.label for p in pairs) == 21
    assert Pair("It is not raining today.", "It is raining today.", 0) in pairs
    assert Pair("He passed the exam.", "He did not fail the exam.", 1) in pairs


def test_toy_triplets_read_as_triplets_and_as_pairs():
    triplets = load_triplets(TOY / "triplets.tsv")
    assert len(triplets) == 8
    assert triplets[0].negative == "The train does not leave at noon."
    pairs = load_corpus(TOY / "triplets.tsv", "triplets")
    assert [p.label for p in pairs[:4]] == [1, 0, 1, 0]
    assert pairs[1] == Pair(triplets[0].anchor, triplets[0].negative, 0)


# ----- each format on a small file -----------------------------------------------------------

def test_quora_tsv_with_csv_quoting_multiline_question_and_empty_question(tmp_path):
    rows = [["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
            ["0", "1", "2", 'What does "duplicate" mean?', "What is a duplicate?", "1"],
            ["1", "3", "4", "A question\nover two lines?", "Another one, with a comma?", "0"],
            ["2", "5", "6", "Where is it?", "", "0"],
            ["3", "7", "8", "Why?", "Why not?", "0"]]
    path = tmp_path / "quora_duplicate_questions.tsv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter="\t", lineterminator="\n").writerows(rows)
    corpus = read_corpus(path, "quora", cache_dir=str(tmp_path / "cache"))
    assert [p.label for p in corpus.pairs] == [1, 0, 0]
    assert corpus.pairs[0].a == 'What does "duplicate" mean?'
    assert corpus.pairs[1].a == "A question\nover two lines?"
    assert corpus.skipped_lines == [5]  # the empty question2 (line 5: the multi-line row used two)


def test_kaggle_csv(tmp_path):
    path = tmp_path / "train.csv"
    write(path, '"id","qid1","qid2","question1","question2","is_duplicate"\n'
                '"0","1","2","How, exactly?","How?","1"\n"1","3","4","Say ""hi""","Hello","0"\n')
    pairs = load_corpus(path, "kaggle")
    assert pairs == [Pair("How, exactly?", "How?", 1), Pair('Say "hi"', "Hello", 0)]


def test_bimpm_partition_undoes_corenlp_escapes_same_as_read_pairs(tmp_path):
    path = write(tmp_path / "dev.tsv", "1\tWhat is -LRB- x -RRB- ?\tWhat is `` x '' ?\t7\n"
                                       "0\tHow do I use -LSB- a -RSB- ?\tWhy does n't it work ?\t9\n")
    pairs = load_corpus(path, "qqp-bimpm")
    assert pairs[0] == Pair("What is ( x ) ?", 'What is " x " ?', 1)
    assert pairs[1] == Pair("How do I use [ a ] ?", "Why does n't it work ?", 0)
    assert read_pairs(path, "qqp-bimpm") == pairs


def test_sick_crlf_split_relatedness_and_mutual_entailment(tmp_path):
    header = ("pair_ID\tsentence_A\tsentence_B\tentailment_label\trelatedness_score\tentailment_AB\t"
              "entailment_BA\tsentence_A_original\tsentence_B_original\tsentence_A_dataset\t"
              "sentence_B_dataset\tSemEval_set")
    rows = ["1\tA man plays\tA man is playing\tENTAILMENT\t4.9\tA_entails_B\tB_entails_A\tx\tx\tFLICKR\tFLICKR\tTRAIN",
            "2\tA man plays\tA man plays a guitar\tNEUTRAL\t3.5\tA_neutral_B\tB_entails_A\tx\tx\tFLICKR\tFLICKR\tTEST",
            "3\tA dog runs\tNo dog runs\tCONTRADICTION\t3.1\tA_contradicts_B\tB_contradicts_A\tx\tx\tSICK\tSICK\tTEST"]
    path = write(tmp_path / "SICK.txt", "\r\n".join([header] + rows) + "\r\n")
    graded = read_corpus(path, "sick-relatedness")
    assert [p.label for p in graded.pairs] == [4.9, 3.5, 3.1] and graded.graded
    assert [p.label for p in load_corpus(path, "sick-relatedness", split="TEST", binarize=3.3)] == [1, 0]
    assert [p.label for p in load_corpus(path, "sick-entailment")] == [1, 0, 0]
    with pytest.raises(SiameseTextError, match="no rows of split 'DEV'"):
        load_corpus(path, "sick-entailment", split="DEV")


def test_stsb_keeps_first_seven_columns_and_bare_quotes(tmp_path):
    path = write(tmp_path / "sts-test.csv",
                 'main-captions\tMSRvid\t2012test\t0001\t5.000\tA "plane" takes off.\tA plane is taking off.\n'
                 "main-news\theadlines\t2016\t0002\t0.8\tOne\tTwo\tsource note\tlicence note\n")
    pairs = load_corpus(path, "stsb")
    assert pairs == [Pair('A "plane" takes off.', "A plane is taking off.", 5.0), Pair("One", "Two", 0.8)]
    assert [p.label for p in load_corpus(path, "stsb", binarize=4.0)] == [1, 0]


def test_mrpc_with_bom_and_no_header_or_with_header(tmp_path):
    body = '1\t1\t2\tHe said "yes".\tHe agreed.\n0\t3\t4\tIt rained.\tIt was sunny.\n'
    plain = write(tmp_path / "a.txt", "\ufeff" + body)
    headed = write(tmp_path / "b.txt", "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n" + body)
    expected = [Pair('He said "yes".', "He agreed.", 1), Pair("It rained.", "It was sunny.", 0)]
    assert load_corpus(plain, "mrpc") == expected
    assert load_corpus(headed, "mrpc") == expected


def test_paws_header_and_crlf(tmp_path):
    path = write(tmp_path / "dev.tsv", "id\tsentence1\tsentence2\tlabel\r\n1\tA B .\tB A .\t0\r\n2\tC .\tC !\t1\r\n")
    assert load_corpus(path, "paws") == [Pair("A B .", "B A .", 0), Pair("C .", "C !", 1)]


def test_generic_csv_tsv_jsonl_with_named_and_guessed_columns(tmp_path):
    csv_file = write(tmp_path / "p.csv", 'left,right,same\n"x, y",z,1\nu,v,0\n')
    assert load_corpus(csv_file, "csv", text_a="left", text_b="right", label="same") == \
        [Pair("x, y", "z", 1), Pair("u", "v", 0)]
    guessed = write(tmp_path / "g.csv", "sentence1,sentence2,label\na,b,1\n")
    assert load_corpus(guessed, "csv") == [Pair("a", "b", 1)]
    tsv = write(tmp_path / "n.tsv", 'id\tq\tr\ty\n1\tsay "x\tsay y\t0\n')
    assert load_corpus(tsv, "tsv", text_a="q", text_b="r", label="y") == [Pair('say "x', "say y", 0)]
    jsonl = write(tmp_path / "p.jsonl", json.dumps({"text_a": "a", "text_b": "b", "label": 1}) + "\n\n"
                  + json.dumps({"text_a": "c", "text_b": "d", "label": False}) + "\n")
    assert load_corpus(jsonl, "jsonl") == [Pair("a", "b", 1), Pair("c", "d", 0)]


def test_unlabelled_tsv_when_labels_are_not_required(tmp_path):
    path = write(tmp_path / "u.tsv", "a\tb\nc\td\n")
    pairs = load_corpus(path, "tsv", require_label=False)
    assert [(p.a, p.b) for p in pairs] == [("a", "b"), ("c", "d")]


# ----- malformed corpora: one line naming the file and line -----------------------------------

@pytest.mark.parametrize("content, fmt, message", [
    (b"a\tb\t1\nc\td\t2\n", "tsv", r"bad\.tsv:2: label must be 0 or 1, got '2'"),
    (b"a\tb\t1\nc\td\n", "tsv", r"bad\.tsv:2: expected at least 3"),
    (b"", "tsv", r"bad\.tsv: the file is empty"),
    (b"\n\n", "paws", r"bad\.tsv: the file is empty"),
    (b"a\tb\t1\nc\t\xff\xfe\t0\n", "tsv", r"bad\.tsv:2: not valid UTF-8"),
    (b"id\tsentence1\tlabel\n1\ta\t1\n", "paws", r"bad\.tsv:1: missing column 'sentence2'"),
    (b"x\tone\ttwo\t1\n", "qqp-bimpm", r"bad\.tsv:1: label must be 0 or 1, got 'x'"),
    (b"g\tf\ty\t1\tnot-a-number\ta\tb\n", "stsb", r"bad\.tsv:1: score must be a number"),
    (b'{"text_a": "a", "text_b": "b", "label": 1}\n{"text_a": \n', "jsonl", r"bad\.tsv:2: not valid JSON"),
    (b"p,q\n1,2\n", "csv", r"bad\.tsv:1: no text_a column"),
    (b'{"text_a": "a", "text_b": "b", "label": 1}\n{"text_a": "c", "label": 0}\n', "jsonl", r"bad\.tsv:2: missing text_b"),
    (b"a\tb\t1\n", "nope", r"unknown corpus format 'nope'"),
])
def test_malformed_files_give_one_line_errors(tmp_path, content, fmt, message):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    with pytest.raises(SiameseTextError, match=message) as info:
        load_corpus(path, fmt)
    assert "\n" not in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(SiameseTextError, match="no such file"):
        load_corpus(tmp_path / "absent.tsv", "tsv")
    with pytest.raises(SiameseTextError, match="is a folder"):
        load_corpus(tmp_path, "tsv")


def test_hub_loader_reads_a_local_folder_laid_out_like_a_hub_repository(tmp_path, monkeypatch):
    """`hub:NAME` goes through datasets.load_dataset; here NAME is a local folder (no network)."""
    repo = tmp_path / "quora-like"
    (repo / "data").mkdir(parents=True)
    rows = [("How do I learn Python?", "What is the best way to learn Python?", 1),
            ("How do I learn Python?", "How do I bake bread?", 0),
            ("Is it going to rain?", "Will it rain today?", 1)]
    for split, chosen in (("train", rows), ("validation", rows[:1])):
        with open(repo / "data" / f"{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "question1", "question2", "is_duplicate"])
            writer.writerows((i, a, b, y) for i, (a, b, y) in enumerate(chosen))
    cache = str(tmp_path / "cache")
    assert load_corpus(f"hub:{repo}", "csv", cache_dir=cache) == [Pair(a, b, y) for a, b, y in rows]
    assert load_corpus(f"hub:{repo}", "csv", split="validation", cache_dir=cache) == [Pair(*rows[0])]
    assert load_corpus(f"hub:{repo}", "csv", text_a="question2", text_b="question1", label="is_duplicate",
                       cache_dir=cache)[0] == Pair(rows[0][1], rows[0][0], 1)
    with pytest.raises(SiameseTextError, match="no text_a column") as info:
        load_corpus(f"hub:{repo}", "csv", text_a="title", cache_dir=cache)
    assert "\n" not in str(info.value)
    with pytest.raises(SiameseTextError, match="could not load") as info:
        load_corpus(f"hub:{repo}", "csv", split="test", cache_dir=cache)
    assert "\n" not in str(info.value)

    from typer.testing import CliRunner

    from siamese_text.cli import app

    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")  # not the user's cache
    result = CliRunner().invoke(app, ["evaluate", f"hub:{repo}", "--format", "csv", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 3


def test_options_that_do_not_apply_are_refused(tmp_path):
    path = write(tmp_path / "p.tsv", "a\tb\t1\n")
    with pytest.raises(SiameseTextError, match="--binarize applies to graded"):
        load_corpus(path, "tsv", binarize=3.0)
    with pytest.raises(SiameseTextError, match="no split column"):
        load_corpus(path, "tsv", split="TEST")
    with pytest.raises(SiameseTextError, match="apply to the tsv, csv and jsonl"):
        load_corpus(path, "paws", text_a="x")


def test_every_format_is_listed_for_the_cli():
    import typing

    from siamese_text.cli.corpus_options import FormatOption
    from siamese_text.corpora.formats import CorpusFormat

    assert typing.get_args(FormatOption)[0] is CorpusFormat  # the --format option offers exactly these
    assert {f.value for f in CorpusFormat} == set(FORMATS)
    assert {"quora", "kaggle", "qqp-bimpm", "sick-relatedness", "sick-entailment", "stsb", "mrpc", "paws",
            "tsv", "csv", "jsonl", "triplets"} <= set(FORMATS)


# ----- mining ---------------------------------------------------------------------------------

MINED = [Pair("a1", "a2", 1), Pair("a2", "a3", 1), Pair("b1", "b2", 1), Pair("a3", "b1", 0), Pair("c", "a1", 0)]


def test_duplicate_groups_are_components_of_positive_pairs_only():
    assert duplicate_groups(MINED) == [["a1", "a2", "a3"], ["b1", "b2"]]
    positive = text_components(MINED, positive_only=True)
    everything = text_components(MINED)
    assert positive["a1"] == positive["a3"] != positive["b1"] != positive["c"]
    assert everything["a1"] == everything["b2"] == everything["c"]


def test_implied_pairs_follow_from_the_labels():
    mined = set(implied_pairs(MINED, max_per_pair=10))
    assert Pair("a1", "a3", 1) in mined  # a1 ~ a2 ~ a3
    assert Pair("a1", "b2", 0) in mined  # a3 !~ b1, so every a !~ every b
    assert Pair("c", "a3", 0) in mined  # c !~ a1 ~ a3
    listed = {(p.a, p.b) for p in MINED}
    assert not any((p.a, p.b) in listed or (p.b, p.a) in listed for p in mined)
    assert all(p.label == 0 for p in mined if {p.a[0], p.b[0]} != {"a"} and {p.a[0], p.b[0]} != {"b"})


def test_mined_triplets_stay_in_group_and_prefer_hard_negatives():
    groups = {t: i for i, g in enumerate(duplicate_groups(MINED)) for t in g}
    triplets = mine_triplets(MINED, seed=1)
    assert len(triplets) == 5
    for t in triplets:
        assert groups[t.anchor] == groups[t.positive] and t.anchor != t.positive
        assert groups.get(t.negative) != groups[t.anchor]
    assert {t.negative for t in triplets if t.anchor == "b1"} <= {"a3"}  # the labelled impostor
    assert mine_triplets(MINED, seed=1) == triplets  # deterministic


def test_mine_triplets_prefers_labelled_impostors():
    """(Was a test of a second, pair-by-pair miner; the group-aware one is the only one now.)"""
    pairs = [Pair("a", "b", 1), Pair("a", "c", 0), Pair("d", "e", 1)]
    triplets = mine_triplets(pairs, seed=0)
    assert triplets[0].anchor == "a" and triplets[0].positive == "b" and triplets[0].negative == "c"
    assert all(t.negative not in (t.anchor, t.positive) for t in triplets)
    # one triplet per member of each duplicate group; the labelled impostor serves the whole group
    assert [(t.anchor, t.positive) for t in triplets] == [("a", "b"), ("b", "a"), ("d", "e"), ("e", "d")]
    assert triplets[1].negative == "c"
    assert all(t.negative in ("a", "b", "c") for t in triplets[2:])  # no impostor: a text of another group


def test_train_with_triplet_loss_uses_the_group_aware_miner():
    import siamese_text.training.trainer as trainer

    assert trainer.mine_triplets is mine_triplets


# ----- the real files (skipped when ../shared/data is absent) ---------------------------------

@pytest.mark.parametrize("parts, fmt, options, rows, positives", [
    (("qqp", "bimpm", "dev.tsv"), "qqp-bimpm", {}, 10_000, 5_000),
    (("sick", "SICK.txt"), "sick-relatedness", {}, 9_840, None),
    (("sick", "SICK.txt"), "sick-entailment", {"split": "TRAIN"}, 4_439, None),
    (("sick", "SICK.txt"), "sick-entailment", {"split": "TRIAL"}, 495, None),
    (("sick", "SICK.txt"), "sick-entailment", {"split": "TEST"}, 4_906, None),
    (("stsb", "sts-train.csv"), "stsb", {}, 5_749, None),
    (("stsb", "sts-dev.csv"), "stsb", {}, 1_500, None),
    (("stsb", "sts-test.csv"), "stsb", {}, 1_379, None),
    (("mrpc", "msr_paraphrase_train.txt"), "mrpc", {}, 4_076, 2_753),
    (("mrpc", "msr_paraphrase_test.txt"), "mrpc", {}, 1_725, 1_147),
    (("paws_wiki", "dev.tsv"), "paws", {}, 8_000, 3_539),
    (("paws_wiki", "test.tsv"), "paws", {}, 8_000, 3_536),
])
def test_real_corpora_row_counts_match_the_data_readme(parts, fmt, options, rows, positives):
    corpus = read_corpus(shared_file(*parts), fmt, **options)
    assert len(corpus.pairs) == rows and corpus.skipped_lines == []
    if positives is not None:
        assert sum(p.label for p in corpus.pairs) == positives


def test_real_sick_and_stsb_label_statistics():
    sick = load_corpus(shared_file("sick", "SICK.txt"), "sick-relatedness")
    assert min(p.label for p in sick) == 1.0 and max(p.label for p in sick) == 5.0
    assert round(sum(p.label for p in sick) / len(sick), 3) == 3.526
    train = load_corpus(shared_file("stsb", "sts-train.csv"), "stsb")
    assert round(sum(p.label for p in train) / len(train), 3) == 2.701
    assert all(0.0 <= p.label <= 5.0 for p in train)


def test_real_bimpm_has_no_corenlp_escapes_left():
    pairs = load_corpus(shared_file("qqp", "bimpm", "dev.tsv"), "qqp-bimpm")
    assert not any("-LRB-" in p.a or "``" in p.b for p in pairs)
    assert any("(" in p.a for p in pairs)


@pytest.mark.slow
def test_a_full_size_quora_file_loads(tmp_path):
    """404,290 rows, like quora_duplicate_questions.tsv, written in its layout and read back whole."""
    path = tmp_path / "quora_duplicate_questions.tsv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "qid1", "qid2", "question1", "question2", "is_duplicate"])
        for i in range(404_290):
            q2 = "Spread over\ntwo lines?" if i == 7 else f'Is "topic" {i % 997} hard?'
            writer.writerow([i, 2 * i + 1, 2 * i + 2, f"How do I learn topic {i}?", q2, int(i % 3 == 0)])
    pairs = load_corpus(path, "quora")
    assert len(pairs) == 404_290
    assert sum(p.label for p in pairs) == len(range(0, 404_290, 3))
    assert pairs[7].b == "Spread over\ntwo lines?" and pairs[8].b == 'Is "topic" 8 hard?'
