"""The CLI's outputs on fixed inputs equal those written before the package was split into
subpackages (tests/golden/, made by tests/golden/make.sh at commit 2da024e).

score --json, embed and dedup's kept lines must be identical (they ran on the NumPy forward pass
then too). evaluate --json and dedup's report were computed by the torch forward pass then and by
the NumPy one now (the one model class runs NumPy), so their numbers are compared to 1e-6 (the
two passes agree to about 1e-6 per vector component); every other field must be equal.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).parent.parent


def run(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "siamese_text", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_score_json_is_unchanged():
    out = run("score", "--json", "How do I learn Python?", "What is the best way to learn Python?")
    out += run("score", "--json", "Is it going to rain today?", "Will it not rain today?")
    assert out == (GOLDEN / "score.json").read_text(encoding="utf-8")


@pytest.mark.slow
def test_evaluate_json_is_unchanged():
    got = json.loads(run("evaluate", "corpora/toy/pairs.tsv", "--json"))
    want = json.loads((GOLDEN / "evaluate.json").read_text(encoding="utf-8"))
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key


@pytest.mark.slow
def test_dedup_outputs_and_report_are_unchanged(tmp_path):
    (tmp_path / "in.txt").write_bytes((GOLDEN / "dedup_input.txt").read_bytes())
    run("dedup", str(tmp_path / "in.txt"), "--out", str(tmp_path / "out"), "--report", str(tmp_path / "r.jsonl"))
    assert (tmp_path / "out" / "in.txt").read_bytes() == (GOLDEN / "dedup_out.txt").read_bytes()
    got = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    want = [json.loads(line) for line in (GOLDEN / "dedup_report.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.pop("score") == pytest.approx(w.pop("score"), abs=2e-6)
        g["file"] = Path(g["file"]).name
        g["duplicate_of"]["file"] = Path(g["duplicate_of"]["file"]).name
        assert g == w


@pytest.mark.slow
def test_embed_vectors_are_unchanged(tmp_path):
    run("embed", str(GOLDEN / "dedup_input.txt"), "--out", str(tmp_path / "v.npy"))
    got, want = np.load(tmp_path / "v.npy"), np.load(GOLDEN / "embed.npy")
    assert got.dtype == want.dtype and got.shape == want.shape
    # a float32 ulp or two: NumPy/BLAS builds order sums differently (seen between NumPy releases);
    # a change of the model or the features moves vectors by far more than this
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
