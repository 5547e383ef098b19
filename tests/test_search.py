"""Persistent search index: build, save, load, search; the vector index behind it; the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from siamese_text.cli import app
from siamese_text.model.energy import Energy
from siamese_text.errors import SiameseTextError
from siamese_text.dedup.index import IndexConfig, Scoring, VectorIndex
from siamese_text.dedup.search import TextIndex

from conftest import make_tiny_model
from test_dedup import CHAIN, FakeEncoder, one_line_error, unit

runner = CliRunner()


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def brute_energies(q, v, energy):
    if energy == "cosine":
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        vn = v / np.linalg.norm(v, axis=1, keepdims=True)
        return 1 - qn @ vn.T
    p = 2 if energy == "euclidean" else 1
    return (np.abs(q[:, None, :] - v[None, :, :]) ** p).sum(-1) ** (1 / p)


@pytest.mark.parametrize("energy", ["cosine", "euclidean", "manhattan"])
@pytest.mark.parametrize("exact_limit", [10_000, 0])
def test_vector_index_returns_the_true_nearest_neighbours(energy, exact_limit):
    rng = np.random.default_rng(0)
    v, q = rng.normal(size=(800, 12)).astype(np.float32), rng.normal(size=(20, 12)).astype(np.float32)
    scoring = Scoring(Energy(energy), lambda e: -e, threshold=-1e9)
    vp, qp = scoring.prepare(v), scoring.prepare(q)
    index = VectorIndex.build(vp, Energy(energy), IndexConfig(exact_limit=exact_limit, nprobe=10_000))
    assert index.exact == (exact_limit > 0)
    energies, ids = index.search(qp, 5)
    truth = brute_energies(q.astype(np.float64), v.astype(np.float64), energy)
    np.testing.assert_array_equal(ids, np.argsort(truth, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(energies, np.sort(truth, axis=1)[:, :5], rtol=1e-4, atol=1e-4)


def test_ivf_trains_on_its_sample_per_list_without_a_faiss_warning(capfd):
    rng = np.random.default_rng(1)
    v = Scoring(Energy.cosine, lambda e: -e, threshold=-1e9).prepare(rng.normal(size=(3000, 16)))
    small = VectorIndex.build(v, Energy.cosine, IndexConfig(exact_limit=0, nprobe=4, train_per_list=2))
    assert not small.exact and small.index.nlist == 76  # 3000 // 39: 152 training vectors
    _, ids = small.search(v[:50], 1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(50))  # each vector's nearest is itself
    assert "WARNING" not in capfd.readouterr().err  # faiss asks for 39 a list; fewer is deliberate


def test_text_index_round_trip_and_search(tmp_path):
    enc = FakeEncoder({**CHAIN, "a": CHAIN["A"], "far": unit(180)})
    idx = TextIndex.build(["A", "", "B", "a", "far"], enc, threshold=0.8, lines=[10, 11, 12, 13, 14])
    assert idx.texts == ["A", "B", "far"] and idx.lines == [10, 12, 14]  # blank and repeated skipped
    idx.save(tmp_path / "ix")
    loaded = TextIndex.load(tmp_path / "ix", model=enc)
    hits = loaded.search("C", k=2)
    assert [h.text for h in hits] == ["B", "A"]
    assert hits[0].line == 12 and hits[0].duplicate and not hits[1].duplicate
    assert hits[0].score == pytest.approx(np.cos(np.deg2rad(30)), abs=1e-5)
    with pytest.raises(SiameseTextError, match="already exists"):
        idx.save(tmp_path / "ix")
    idx.save(tmp_path / "ix", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ix"]  # no temporary folder left


def test_index_refuses_another_model_and_damaged_folders(tmp_path):
    m = make_tiny_model(seed=0)
    TextIndex.build(["how do i learn python ?", "bake bread"], m).save(tmp_path / "ix")
    assert TextIndex.load(tmp_path / "ix", model=m).search("learn python", k=1)
    with pytest.raises(SiameseTextError, match="different model"):
        TextIndex.load(tmp_path / "ix", model=make_tiny_model(seed=1))
    (tmp_path / "ix" / "texts.jsonl").write_text('[1, "only one"]\n')
    with pytest.raises(SiameseTextError, match="damaged index"):
        TextIndex.load(tmp_path / "ix", model=m)
    with pytest.raises(SiameseTextError, match="not an index folder"):
        TextIndex.load(tmp_path, model=m)


def test_cli_index_and_search(tmp_path):
    model = tmp_path / "model"
    make_tiny_model().save(model)
    src = tmp_path / "faq.txt"
    src.write_text("how do i learn python ?\n\nbake bread\nhow do i learn python ?\ncats\n", encoding="utf-8")
    res = run("index", src, "--out", tmp_path / "ix", "--model", model)
    assert res.exit_code == 0, res.output
    assert "indexed 3 distinct texts from 4 lines" in res.output
    res = run("search", tmp_path / "ix", "how do i learn python ?", "-k", "2", "--json")
    assert res.exit_code == 0, res.output
    hits = [json.loads(x) for x in res.stdout.splitlines()]
    assert len(hits) == 2 and hits[0]["line"] == 1 and hits[0]["text"] == "how do i learn python ?"
    assert hits[0]["score"] >= hits[1]["score"] and hits[0]["duplicate"]
    res = run("search", tmp_path / "ix", "cats")
    assert res.exit_code == 0 and res.stdout.splitlines()[0].startswith("1\t")
    one_line_error(run("search", tmp_path / "nope", "cats"), "index folder not found")
    one_line_error(run("search", tmp_path / "ix", "  "), "the query is empty")
    one_line_error(run("index", src, "--out", tmp_path / "ix", "--model", model), "already exists")
