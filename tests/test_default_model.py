"""The bundled model's provenance: reproducible from HEAD, no machine paths, fields HEAD knows."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
from pathlib import Path

from siamese_text.model.folder import DEFAULT_MODEL_DIR, read_spec

ROOT = Path(__file__).resolve().parents[1]


def _stamp_module():
    spec = importlib.util.spec_from_file_location("stamp_default_model", ROOT / "scripts" / "stamp_default_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_records_the_build_script_and_its_steps():
    meta = read_spec(DEFAULT_MODEL_DIR).meta
    assert meta["command"] == "bash scripts/build_default_model.sh"
    steps = _stamp_module().script_steps()
    assert len(steps) == 4 and steps[2].startswith("siamese-text distill") and steps[3].startswith("siamese-text train")
    assert meta["steps"] == steps  # exactly what HEAD's script runs


def test_config_holds_no_machine_paths():
    text = (DEFAULT_MODEL_DIR / "config.json").read_text(encoding="utf-8")
    assert not re.search(r"/work/|/home/|/tmp/|/root/|\bbuild/", text)


def test_recorded_settings_are_ones_the_code_has():
    from siamese_text.training.distill import DistillConfig
    from siamese_text.training.trainer import TrainConfig

    meta = read_spec(DEFAULT_MODEL_DIR).meta
    assert set(meta["distill"]) <= {f.name for f in dataclasses.fields(DistillConfig)}
    assert set(meta["train"]) <= {f.name for f in dataclasses.fields(TrainConfig)}


def test_stamp_is_idempotent(tmp_path):
    file = tmp_path / "config.json"
    file.write_bytes((DEFAULT_MODEL_DIR / "config.json").read_bytes())
    _stamp_module().stamp(file)
    assert json.loads(file.read_text()) == json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
