"""The engine seam of deduplication: engines are interchangeable and must agree with the local one."""

from __future__ import annotations

import numpy as np
import pytest

from siamese_text.dedup.engine import ENGINES, LocalEngine, get_engine
from siamese_text.dedup.files import dedup_files
from siamese_text.dedup.stages import dedup, keep_first
from siamese_text.errors import SiameseTextError

from conftest import make_tiny_model

TEXTS = ["how do i learn python ?", "How do I  learn Python ?", "bake bread", "learn python how", "cats",
         "how do i learn python", "bread bake", "not cats"]


class RecordingEngine(LocalEngine):
    """A stand-in engine: the local stages, recording what it was asked and which stages ran."""

    name = "recording"

    def __init__(self):
        self.asked, self.stages = [], []

    def near_duplicates(self, texts, encoder, scoring, config, progress=False, on_stage=None, exact_search=None):
        self.asked.append(list(texts))
        record = lambda name: (self.stages.append(name), on_stage and on_stage(name))  # noqa: E731
        return super().near_duplicates(texts, encoder, scoring, config, progress, record, exact_search)


def test_an_engine_object_plugs_in_and_gives_the_local_answer(tmp_path):
    model = make_tiny_model()
    local = dedup(TEXTS, model, threshold=0.5)
    engine = RecordingEngine()
    other = dedup(TEXTS, model, threshold=0.5, engine=engine)
    np.testing.assert_array_equal(other.duplicate_of, local.duplicate_of)
    np.testing.assert_array_equal(other.scores, local.scores)
    assert engine.asked == [[TEXTS[i] for i in (0, 2, 3, 4, 5, 6, 7)]]  # distinct texts only, in order
    assert engine.stages == ["embed", "index", "search"]


def test_dedup_files_hands_the_distinct_texts_to_the_engine(tmp_path):
    (tmp_path / "a.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    engine = RecordingEngine()
    summary = dedup_files([tmp_path / "a.txt"], tmp_path / "out", model=make_tiny_model(), threshold=0.5,
                          engine=engine)
    assert len(engine.asked) == 1 and engine.asked[0][0] == TEXTS[0]
    assert [s for s in summary.stages][:1] == ["read"] and "embed" in summary.stages


def test_engines_by_name():
    assert set(ENGINES) >= {"local"} and isinstance(get_engine("local"), LocalEngine)
    with pytest.raises(SiameseTextError, match="unknown dedup engine 'spark'"):
        get_engine("spark")


def test_keep_first_does_not_chain():
    # 1 ~ 0, 2 ~ 1 but not 2 ~ 0: 1 goes (duplicate of 0), 2 stays (its only match was removed)
    dup_of, best = keep_first(3, np.array([1, 2]), np.array([0, 1]), np.array([0.9, 0.8]))
    assert dup_of.tolist() == [-1, 0, -1] and best.tolist() == [0.0, 0.9, 0.0]
