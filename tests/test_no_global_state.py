"""Library calls leave the process as they found it: random states, thread counts, environment,
the csv module's field limit (issue 11, item 6)."""

import csv
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch._dynamo  # noqa: F401  (its first import, by an optimizer, sets TORCHINDUCTOR_CACHE_DIR)

from siamese_text.corpora.formats import load_corpus
from siamese_text.integrations.sklearn_estimator import SiameseClassifier
from siamese_text.training.distill import DistillConfig, Distiller
from siamese_text.training.trainer import TrainConfig, Trainer

from conftest import TOY_PAIRS

# dropout and word dropout on, so training really draws from torch's generator
SMALL = dict(embedding_dim=8, hidden_size=8, subword_buckets=64, dropout=0.3)


def _snapshot() -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}  # pytest's own, per phase
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "threads": torch.get_num_threads(), "environ": environ, "csv": csv.field_size_limit()}


def _assert_same(before: dict, after: dict) -> None:
    assert after["python"] == before["python"], "Python's global random state changed"
    for a, b in zip(after["numpy"], before["numpy"]):
        assert np.array_equal(a, b), "NumPy's global random state changed"
    assert torch.equal(after["torch"], before["torch"]), "torch's global random state changed"
    assert after["threads"] == before["threads"], "torch's thread count changed"
    assert after["environ"] == before["environ"], "os.environ changed"
    assert after["csv"] == before["csv"], "csv.field_size_limit changed"


def _seed_globals():
    """Global generators seeded as a user's script would; their state before the call.

    Called in the test's body, not from a fixture: pytest-randomly reseeds the global generators
    between a test's setup and its call, so a snapshot taken at setup would not be "before"."""
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    return _snapshot()


def _other_thread_count() -> int:
    return 1 if torch.get_num_threads() != 1 else 2


def test_trainer_fit_leaves_global_state_alone():
    seeded_globals = _seed_globals()
    config = TrainConfig(epochs=2, batch_size=4, seed=5, word_dropout=0.2, threads=_other_thread_count())
    Trainer(config, SMALL, progress=False).fit(TOY_PAIRS, TOY_PAIRS)
    _assert_same(seeded_globals, _snapshot())


def test_triplet_training_leaves_global_state_alone():
    seeded_globals = _seed_globals()
    config = TrainConfig(loss="triplet", epochs=1, batch_size=4, seed=5)
    Trainer(config, SMALL, progress=False).fit(TOY_PAIRS, TOY_PAIRS)
    _assert_same(seeded_globals, _snapshot())


def test_classifier_fit_leaves_global_state_alone():
    seeded_globals = _seed_globals()
    X = [[p.a, p.b] for p in TOY_PAIRS] * 2
    y = [p.label for p in TOY_PAIRS] * 2
    SiameseClassifier(embedding_dim=8, hidden_size=8, subword_buckets=0, epochs=2, batch_size=4,
                      random_state=0).fit(X, y)
    _assert_same(seeded_globals, _snapshot())


def test_distiller_fit_leaves_global_state_alone():
    seeded_globals = _seed_globals()
    texts = sorted({t for p in TOY_PAIRS for t in (p.a, p.b)})
    targets = np.random.default_rng(0).standard_normal((len(texts), 6)).astype(np.float32)
    targets /= np.linalg.norm(targets, axis=1, keepdims=True)
    config = DistillConfig(epochs=1, batch_size=4, seed=3, word_dropout=0.2, threads=_other_thread_count())
    Distiller(config, SMALL, progress=False).fit(texts, targets)
    _assert_same(seeded_globals, _snapshot())


def test_training_depends_on_its_seed_not_on_the_global_state():
    config = TrainConfig(epochs=2, batch_size=4, seed=5, word_dropout=0.2)
    weights = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        random.seed(global_seed)
        np.random.seed(global_seed)
        weights.append(Trainer(config, SMALL, progress=False).fit(TOY_PAIRS, TOY_PAIRS).weights)
    for k, v in weights[0].items():
        np.testing.assert_array_equal(v, weights[1][k], err_msg=k)


def test_thread_count_is_restored_when_training_fails():
    seeded_globals = _seed_globals()
    config = TrainConfig(epochs=1, batch_size=4, threads=_other_thread_count())
    with pytest.raises(ValueError):
        Trainer(config, SMALL, progress=False).fit(TOY_PAIRS, [p for p in TOY_PAIRS if p.label == 1])
    _assert_same(seeded_globals, _snapshot())


def test_reading_a_corpus_leaves_csv_field_limit_alone(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("text_a,text_b,label\n\"a, b\",c,1\nd,e,0\n", encoding="utf-8")
    before = csv.field_size_limit()
    assert len(load_corpus(path, "csv")) == 2
    assert csv.field_size_limit() == before


ROOT = Path(__file__).resolve().parents[1]


def _run_fresh(code: str) -> None:
    """Run `code` in a new interpreter from the repository root; fail with its stderr."""
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]


def test_first_fits_in_a_fresh_process_leave_global_state_alone():
    """The first fit imports scikit-learn's metrics and model selection, which draw from Python's
    generator on import; in this process they may have been imported already, so start afresh."""
    _run_fresh("""
        import os, random, sys
        import numpy as np, torch
        import torch._dynamo  # torch's own import sets TORCHINDUCTOR_CACHE_DIR
        sys.path.insert(0, "tests")
        from conftest import TOY_PAIRS
        from siamese_text.integrations.sklearn_estimator import SiameseClassifier
        from siamese_text.training.trainer import TrainConfig, Trainer

        def state():
            return (random.getstate(), np.random.get_state()[1].tobytes(), torch.get_rng_state().numpy().tobytes(),
                    torch.get_num_threads(), dict(os.environ))

        random.seed(7); np.random.seed(7); torch.manual_seed(7)
        before = state()
        small = dict(embedding_dim=8, hidden_size=8, subword_buckets=0)
        Trainer(TrainConfig(epochs=1, batch_size=4, threads=1), small, progress=False).fit(TOY_PAIRS, TOY_PAIRS)
        assert state() == before, "Trainer.fit"
        X, y = [[p.a, p.b] for p in TOY_PAIRS] * 2, [p.label for p in TOY_PAIRS] * 2
        SiameseClassifier(embedding_dim=8, hidden_size=8, subword_buckets=0, epochs=1, batch_size=4).fit(X, y)
        assert state() == before, "SiameseClassifier.fit"
        """)


def test_importing_the_package_changes_nothing():
    """Nothing happens at import time (in a new interpreter: here everything is imported already)."""
    _run_fresh("""
        import csv, os, random
        import numpy as np

        def state():
            return csv.field_size_limit(), dict(os.environ), random.getstate(), np.random.get_state()[1].tobytes()

        before = state()
        import siamese_text, siamese_text.corpora.formats, siamese_text.corpora.scan, siamese_text.dedup.files
        import siamese_text.training.trainer, siamese_text.training.distill
        import siamese_text.integrations.sklearn_estimator
        changed = [name for name, a, b in zip(("csv", "environ", "random", "numpy"), before, state()) if a != b]
        assert not changed, changed
        """)


def test_the_package_sets_no_environment_variable():
    writes = re.compile(r"os\.environ\s*\[[^\]]*\]\s*=(?!=)"  # os.environ[key] = value
                        r"|os\.environ\.(setdefault|update|pop)\(|os\.(put|unset)env\(")
    package = ROOT / "siamese_text"
    found = [f"{path.relative_to(package)}:{number}" for path in sorted(package.rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if writes.search(line)]
    assert found == []
