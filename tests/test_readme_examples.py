"""The Python examples of README.md's "Python API" and "Integrations" sections run as written.

Each section's ```python blocks run in order in one namespace (a later block may use names an
earlier one made), in a temporary working folder. Their own asserts are the checks.
"""

import os
import re
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # the SemHash example must never download anything

import pytest  # noqa: E402
import torch  # noqa: E402

from siamese_text.corpora.pairs import read_pairs  # noqa: E402

from conftest import SHARED_DATA  # noqa: E402
from test_estimator import toy_world  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"


def section_blocks(marker: str) -> list[str]:
    """The ```python blocks between `marker` and the next level-2 heading."""
    text = README.read_text(encoding="utf-8")
    assert marker in text, f"README.md lost its {marker} placeholder"
    start = text.index(marker)
    end = text.find("\n## ", start)
    return re.findall(r"```python\n(.*?)```", text[start : end if end != -1 else len(text)], flags=re.S)


def run_blocks(marker: str, blocks: list[str]) -> dict:
    namespace: dict = {"__name__": "readme_example"}
    for number, code in enumerate(blocks, start=1):
        exec(compile(code, f"README.md {marker} block {number}", "exec"), namespace)  # noqa: S102
    return namespace


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_pairs_file(path: Path) -> str:
    """pairs.tsv for the scikit-learn example: 600 real Quora pairs, or the toy world."""
    qqp = SHARED_DATA / "qqp" / "bimpm" / "dev.tsv"
    if qqp.is_file():
        rows = [(p.a, p.b, p.label) for p in read_pairs(qqp, fmt="qqp-bimpm")[:600]]
        source = "QQP"
    else:
        X, y = toy_world()
        rows = [(a, b, int(label)) for (a, b), label in zip(X, y)]
        source = "toy"
    path.write_text("".join(f"{a}\t{b}\t{label}\n" for a, b, label in rows), encoding="utf-8")
    return source


def test_python_api_examples_run(tmp_path, monkeypatch, bundled_model):
    monkeypatch.chdir(tmp_path)
    blocks = section_blocks("<!-- API -->")
    assert len(blocks) >= 3
    namespace = run_blocks("API", blocks)
    assert namespace["best"][0].text in namespace["faq"]


@pytest.mark.slow
def test_integration_examples_run(tmp_path, monkeypatch, one_thread, bundled_model):
    monkeypatch.chdir(tmp_path)
    write_pairs_file(tmp_path / "pairs.tsv")
    blocks = section_blocks("<!-- INTEGRATIONS -->")
    assert len(blocks) >= 4
    namespace = run_blocks("INTEGRATIONS", blocks)
    # the examples really wrote what they say they write
    assert (tmp_path / "qa_pipeline" / "siamese_similarity" / "model.safetensors").is_file()
    assert (tmp_path / "my_model" / "config.json").is_file()
    assert hasattr(namespace["clf"], "model_") and hasattr(namespace["search"], "best_params_")
