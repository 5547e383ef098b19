"""Missing test data: a skip on a developer's machine, a failure under CI=true (a changed CI layout
must not silently drop the tests that read ../shared/data or the bundled model)."""

from __future__ import annotations

import pytest

import conftest
import doc_blocks
from conftest import require_data, shared_file


@pytest.mark.parametrize("ci", [None, "false", "1"])
def test_missing_data_skips_outside_ci(tmp_path, monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="is not available"):
        require_data(tmp_path / "absent")


def test_missing_data_fails_under_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path / "no-shared-data")
    with pytest.raises(pytest.fail.Exception, match="is not available.*CI must have it"):
        shared_file("qqp", "bimpm", "dev.tsv")
    with pytest.raises(pytest.fail.Exception, match="is not available.*CI must have the shared data"):
        monkeypatch.setattr(doc_blocks, "SHARED", tmp_path / "no-shared")
        doc_blocks.needs_shared_data("python -m siamese_text score ../shared/data/qqp/bimpm/dev.tsv")


def test_present_data_is_returned(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    (tmp_path / "qqp").mkdir()
    (tmp_path / "qqp" / "dev.tsv").write_text("x\n", encoding="utf-8")
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path)
    assert shared_file("qqp", "dev.tsv") == tmp_path / "qqp" / "dev.tsv"
    assert require_data(tmp_path) == tmp_path
