"""Metrics on small cases worked out by hand; `evaluate --json/--report` through the CLI."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from safetensors.numpy import load_file

from conftest import TOY_PAIRS, make_tiny_model
from siamese_text.cli import app
from siamese_text.corpora.formats import load_corpus
from siamese_text.corpora.labelled import PairSource
from siamese_text.errors import SiameseTextError
from siamese_text.evaluation.metrics import (Scored, binary_metrics, brier_score, decision_metrics, evaluate_pairs,
                                   expected_calibration_error, graded_metrics, json_ready, log_loss,
                                   reliability)
from siamese_text.evaluation.run import evaluate_and_save, evaluate_file
from siamese_text.model.siamese import SiameseModel

Y = [0, 0, 1, 1]
P = [0.1, 0.4, 0.35, 0.8]
runner = CliRunner()


def test_decisions_at_a_threshold_by_hand():
    # prediction at 0.5: [0, 0, 0, 1] -> tp 1, fp 0, fn 1, tn 2
    m = decision_metrics(Y, P, 0.5)
    assert m == pytest.approx({"accuracy": 0.75, "precision": 1.0, "recall": 0.5, "f1": 2 / 3})
    # everything called a duplicate: precision = share of positives, recall 1
    assert decision_metrics(Y, P, 0.0) == pytest.approx({"accuracy": 0.5, "precision": 0.5, "recall": 1.0,
                                                         "f1": 2 / 3})
    # nothing called a duplicate: precision and F1 are 0, not a division error
    assert decision_metrics(Y, P, 0.99)["f1"] == 0.0


def test_ranking_and_calibration_metrics_by_hand():
    m = binary_metrics(Y, P, threshold=0.5)
    assert m["n"] == 4 and m["positives"] == 2 and m["threshold"] == 0.5
    assert m["roc_auc"] == pytest.approx(0.75)  # 3 of the 4 (positive, negative) pairs are ordered right
    assert m["average_precision"] == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    assert m["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4)
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    # one pair per bin, so ECE is the mean |p - y|
    assert m["ece"] == pytest.approx((0.1 + 0.4 + 0.65 + 0.2) / 4)
    # best threshold: cutting after the top pair (0.8 | 0.4) gets 3 of 4 right
    assert m["best_threshold"] == pytest.approx(0.6) and m["best_accuracy"] == 0.75
    assert m["best_precision"] == 1.0 and m["best_recall"] == 0.5


def test_perfect_and_constant_predictions():
    perfect = binary_metrics([0, 1, 0, 1], [0.0, 1.0, 0.0, 1.0], 0.5)
    assert perfect["accuracy"] == perfect["roc_auc"] == perfect["f1"] == 1.0
    assert perfect["brier"] == 0.0 and perfect["ece"] == 0.0 and perfect["log_loss"] < 1e-12
    one_class = binary_metrics([1, 1, 1], [0.2, 0.5, 0.9], 0.5)
    assert math.isnan(one_class["roc_auc"]) and json_ready(one_class)["roc_auc"] is None


def test_reliability_bins():
    r = reliability([0, 1, 1, 0, 1], [0.05, 0.15, 0.12, 0.95, 1.0], bins=10)
    assert r["count"].tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]  # 1.0 falls in the last bin
    assert r["positive_rate"][1] == 1.0 and r["positive_rate"][9] == 0.5
    assert r["mean_probability"][9] == pytest.approx(0.975) and math.isnan(r["mean_probability"][5])
    assert expected_calibration_error([0, 1, 1, 0, 1], [0.05, 0.15, 0.12, 0.95, 1.0]) == pytest.approx(
        (1 * 0.05 + 2 * abs(0.135 - 1.0) + 2 * abs(0.975 - 0.5)) / 5)


def test_log_loss_and_brier_are_finite_at_the_extremes():
    assert math.isfinite(log_loss([1, 0], [0.0, 1.0]))
    assert brier_score([1, 0], [0.0, 1.0]) == 1.0


def test_graded_correlations_by_hand():
    g = graded_metrics([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.5])
    assert g["spearman"] == pytest.approx(1.0)
    assert g["pearson"] == pytest.approx(6.5 / math.sqrt(5 * 8.75))
    assert math.isnan(graded_metrics([1, 1, 1], [0.1, 0.2, 0.3])["pearson"])


# ----- the CLI -------------------------------------------------------------------------------

@pytest.fixture
def model_dir(tmp_path):
    return make_tiny_model().save(tmp_path / "model")


@pytest.fixture
def toy(tmp_path):
    path = tmp_path / "toy.tsv"
    path.write_text("text_a\ttext_b\tlabel\n" + "".join(
        f"{a}\t{b}\t{y}\n" for a, b, y in [("how do i learn python ?", "how do i learn python", 1),
                                             ("i bake bread", "i do not bake bread", 0),
                                             ("cats", "cats ?", 1), ("python", "bread", 0),
                                             ("learn python", "learn to bake", 0), ("not cats", "no cats", 1)]),
        encoding="utf-8")
    return path


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_evaluate_json_has_the_promised_keys(model_dir, toy):
    result = run("evaluate", toy, "--model", model_dir, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for key in ("accuracy", "f1", "roc_auc", "threshold", "n", "precision", "recall", "best_threshold",
                "average_precision", "log_loss", "brier", "ece"):
        assert key in out
    assert out["n"] == 6 and out["positives"] == 3 and 0.0 <= out["accuracy"] <= 1.0


def test_evaluate_graded_corpus_reports_correlations(model_dir, tmp_path):
    path = tmp_path / "sts.csv"
    rows = [("a", "b", "c", "1", "4.5", "how do i learn python ?", "how to learn python"),
            ("a", "b", "c", "2", "0.2", "i bake bread", "cats"),
            ("a", "b", "c", "3", "2.5", "not cats", "cats"),
            ("a", "b", "c", "4", "4.0", "learn python", "python learn")]
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    out = json.loads(run("evaluate", path, "--format", "stsb", "--model", model_dir, "--json").stdout)
    assert {"pearson", "spearman"} <= set(out) and out["binarized_at"] == 4.0 and out["positives"] == 2


def test_evaluate_report_writes_png_plots(model_dir, toy, tmp_path):
    folder = tmp_path / "report"
    result = run("evaluate", toy, "--model", model_dir, "--report", folder)
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["energy_histogram.png", "precision_recall.png", "reliability.png", "roc.png"]
    for name in names:
        data = (folder / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    # a second run does not write into a folder that already holds files
    again = run("evaluate", toy, "--model", model_dir, "--report", folder)
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert run("evaluate", toy, "--model", model_dir, "--report", folder, "--overwrite").exit_code == 0


def test_report_without_matplotlib_is_a_clear_error(monkeypatch):
    from siamese_text.evaluation.plots import write_report

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    scored = Scored(np.array([0, 1]), np.array([0.2, 0.8]), np.array([0.5, 0.1]), 0.5)
    with pytest.raises(SiameseTextError, match=r"pip install 'siamese-text\[report\]'"):
        write_report(scored, "unused")


def test_evaluate_file_is_what_the_command_prints(model_dir, toy):
    model = SiameseModel.load(model_dir)
    result = evaluate_file(model, PairSource(toy))
    assert result.pairs == 6 and result.skipped_lines == [] and result.plots == []
    assert result.metrics == json_ready(evaluate_pairs(model, load_corpus(toy)))
    assert json.loads(run("evaluate", toy, "--model", model_dir, "--json").stdout) == pytest.approx(result.metrics)


def test_evaluate_file_keeps_graded_scores_and_refuses_a_full_report_folder(model_dir, tmp_path):
    path = tmp_path / "sts.tsv"
    path.write_text("".join(f"g\tf\t2012\t{i}\t{s}\t{a}\t{b}\n" for i, (s, a, b) in enumerate(
        [("4.5", "how do i learn python", "learn python"), ("0.5", "cats", "bread"), ("", "", "skipped"),
         ("3.0", "not cats", "cats")])), encoding="utf-8")
    model = SiameseModel.load(model_dir)
    out = evaluate_file(model, PairSource(path, "stsb", binarize=3.0))
    assert out.pairs == 3 and out.skipped_lines == [3]
    assert out.metrics["binarized_at"] == 3.0 and out.metrics["positives"] == 2 and "spearman" in out.metrics
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SiameseTextError, match="pass --overwrite"):
        evaluate_file(model, PairSource(path, "stsb"), report=tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("fp16", [False, True])
def test_evaluate_and_save_records_provenance_and_the_test_metrics(tmp_path, fp16):
    model = make_tiny_model()
    split = {"seed": 0, "train": 9, "valid": 3, "test": 4}
    test = evaluate_and_save(model, tmp_path / "m", TOY_PAIRS[:4], split, "siamese-text train x.tsv", fp16=fp16)
    saved = SiameseModel.load(tmp_path / "m")
    assert saved.meta["command"] == "siamese-text train x.tsv" and saved.meta["split"] == split
    assert test["n"] == 4 and saved.meta["test"] == pytest.approx(test, nan_ok=True)
    dtypes = {str(v.dtype) for v in load_file(str(tmp_path / "m" / "model.safetensors")).values()}
    assert dtypes == {"float16" if fp16 else "float32"}
    assert evaluate_and_save(make_tiny_model(), tmp_path / "n", [], split, "c") is None
    assert "test" not in SiameseModel.load(tmp_path / "n").meta


@pytest.mark.parametrize("content, needle", [
    (b"a\tb\t1\nc\td\tyes\n", "bad.tsv:2: label must be 0 or 1"),
    (b"", "bad.tsv: the file is empty"),
    (b"a\tb\t1\n\xff\tb\t0\n", "bad.tsv:2: not valid UTF-8"),
    (b"a\tb\n", "bad.tsv:1: expected at least 3"),
])
def test_evaluate_malformed_file_is_one_line(model_dir, tmp_path, content, needle):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    result = run("evaluate", path, "--model", model_dir)
    assert result.exit_code == 1
    text = result.output.strip()
    assert text.startswith("error: ") and "\n" not in text and needle in text, text


@pytest.mark.slow
def test_evaluate_sick_split_on_real_file_when_present():
    from conftest import shared_file

    path = shared_file("sick", "SICK.txt")
    result = run("evaluate", path, "--format", "sick-entailment", "--split", "TRIAL", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["n"] == 495 and 0.5 < out["roc_auc"] <= 1.0


def test_accuracy_benchmark_fits_the_threshold_on_the_fit_split_only(monkeypatch):
    import importlib.util
    from pathlib import Path

    from siamese_text.corpora.pairs import Pair

    spec = importlib.util.spec_from_file_location(
        "accuracy_bench", Path(__file__).resolve().parents[1] / "benchmarks" / "accuracy.py")
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "accuracy_bench", bench)  # dataclasses look their module up there
    spec.loader.exec_module(bench)
    # similarity = the number written in text a; fit split wants a cut at 0.5, test split at 0.8
    fit = [Pair("0.2", "x", 0), Pair("0.4", "x", 0), Pair("0.6", "x", 1), Pair("0.9", "x", 1)]
    test = [Pair("0.6", "x", 0), Pair("0.7", "x", 0), Pair("0.85", "x", 1), Pair("0.95", "x", 1)]
    task = bench.Task("toy", fit, test, corpus=[])
    row = bench.scores(lambda t, a, b: np.array([float(x) for x in a]), task)
    assert row["threshold"] == pytest.approx(0.5)  # from the fit split, not 0.775 from the test split
    assert row["accuracy"] == 0.5 and row["roc_auc"] == 1.0 and row["genuine"] == 0.5
