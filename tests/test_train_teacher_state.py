"""scripts/train_teacher.py's saved training state: written whole or not at all, read back."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("train_teacher", ROOT / "scripts" / "train_teacher.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Weights:
    """What save_state needs of a model: save_pretrained(folder)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def save_pretrained(self, folder: str) -> None:
        Path(folder).mkdir(parents=True)
        (Path(folder) / "weights").write_text(self.value)


def test_state_round_trip_and_a_second_save_replaces_the_first(script, tmp_path):
    folder = tmp_path / "bi-state"
    assert script.load_state(folder) is None
    order = list(range(10))
    script.save_state(folder, Weights("one"), {"step": 3, "order": order, "rng": (3, (1, 2), None)})
    script.save_state(folder, Weights("two"), {"step": 7, "order": order[::-1], "rng": (3, (4, 5), None)})
    state = script.load_state(folder)
    assert state["step"] == 7 and state["order"] == order[::-1] and state["rng"] == (3, (4, 5), None)
    assert (folder / "model" / "weights").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bi-state"]  # no .tmp or .old left


def test_a_save_killed_between_its_renames_leaves_the_previous_state(script, tmp_path):
    folder = tmp_path / "bi-state"
    script.save_state(folder, Weights("one"), {"step": 3})
    folder.rename(tmp_path / "bi-state.old")  # where a kill after the first rename leaves it
    state = script.load_state(folder)
    assert state["step"] == 3 and (folder / "model" / "weights").read_text() == "one"
