"""The light core: `pip install siamese-text` brings what inference needs and nothing else.

(a) The installed distribution's unconditional requirements are the inference libraries only;
    torch, spaCy, datasets, pandas, pyarrow and scikit-learn come with extras.
(b) In a subprocess where those libraries cannot be imported, `score`, `embed`, `info`, `dedup`,
    `index` and `search` work, and so does the Python API for scoring and encoding.
(c) There, a command or class whose extra is missing ends with one line naming the pip install.

The subprocess gets a sitecustomize.py (first on PYTHONPATH, so worker processes get it too) that
puts a finder in front of sys.meta_path raising ModuleNotFoundError for the blocked packages,
which is what `import torch` raises where torch is not installed. The commands run in-process
through `python -m siamese_text`'s __main__ module, one process for all of them.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]

LIGHT = {"numpy", "safetensors", "typer", "faiss-cpu", "threadpoolctl", "tqdm"}
HEAVY = {"torch", "spacy", "datasets", "pandas", "pyarrow", "scikit-learn"}
# Import names made unimportable in the subprocess: the heavy libraries and what only they bring.
BLOCKED = ("torch", "spacy", "thinc", "srsly", "datasets", "pandas", "pyarrow", "sklearn", "scipy",
           "matplotlib", "transformers", "sentence_transformers")

PARAPHRASE = ("How do I learn Python?", "What is the best way to learn Python?")
UNRELATED = ("How do I learn Python?", "How do I bake bread at home?")


def _requirements() -> list[Requirement]:
    try:
        return [Requirement(r) for r in importlib.metadata.requires("siamese-text") or []]
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("siamese-text is not installed (pip install -e .)")


def _pyproject_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}


def _extra(req: Requirement) -> str | None:
    """The extra a requirement belongs to, None for an unconditional one."""
    if req.marker is None:
        return None
    extras = [e for e in ("train", "spacy", "sklearn", "report", "all", "test", "bench", "dev")
              if req.marker.evaluate({"extra": e})]
    return extras[0] if len(extras) == 1 else "?"


# ----- (a) what the light install brings -----------------------------------------------------


def test_unconditional_requirements_are_the_inference_libraries_only():
    core = {canonicalize_name(r.name) for r in _requirements() if _extra(r) is None}
    hint = (f" (stale metadata? pyproject.toml says {sorted(_pyproject_dependencies())}; reinstall with "
            f"pip install -e . and look for an old siamese_text.egg-info in the checkout)")
    assert not core & HEAVY, f"the light install brings {sorted(core & HEAVY)}" + hint
    assert core == LIGHT, f"core requirements {sorted(core)}, expected {sorted(LIGHT)}" + hint


def test_extras_bring_the_heavy_libraries():
    by_extra: dict[str, set[str]] = {}
    for req in _requirements():
        if (extra := _extra(req)) is not None:
            by_extra.setdefault(extra, set()).add(canonicalize_name(req.name))
            if req.name == "siamese-text":
                by_extra[extra] |= set(req.extras)
    assert {"torch", "datasets", "scikit-learn"} <= by_extra["train"]
    assert by_extra["spacy"] == {"spacy"}
    assert by_extra["sklearn"] == {"scikit-learn"}
    assert by_extra["report"] == {"matplotlib"}
    assert {"train", "spacy", "sklearn", "report"} <= by_extra["all"]
    torch_req = next(r for r in _requirements() if r.name == "torch")
    assert torch_req.specifier.contains("2.13.0")  # the CPU build README installs first


# ----- (b) and (c): one subprocess without the heavy libraries -------------------------------

SITECUSTOMIZE = textwrap.dedent('''
    """Make some packages unimportable, as if they were not installed (tests/test_light_core.py)."""
    import importlib.abc
    import sys

    BLOCKED = frozenset({blocked!r})


    class _NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None


    sys.meta_path.insert(0, _NotInstalled())
''')

DRIVER = textwrap.dedent('''
    """Run each step in this process; print one JSON object of results."""
    import contextlib
    import io
    import json
    import runpy
    import sys
    import traceback

    results = {}
    for step in json.load(open(sys.argv[1], encoding="utf-8")):
        out, err = io.StringIO(), io.StringIO()
        code, exception = 0, None
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                if "cli" in step:
                    sys.argv = ["siamese-text", *step["cli"]]
                    runpy.run_module("siamese_text", run_name="__main__", alter_sys=False)
                else:
                    exec(step["python"], {})
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (exc.code is not None)
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                code = -1
                exception = {"type": type(exc).__name__, "bases": [c.__name__ for c in type(exc).__mro__],
                             "message": str(exc), "traceback": traceback.format_exc()}
        results[step["name"]] = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
                                 "exception": exception}
    print(json.dumps(results))
''')


@pytest.fixture(scope="module")
def light(tmp_path_factory):
    """Results of every step, run in one subprocess where the BLOCKED packages are missing."""
    tmp = tmp_path_factory.mktemp("light")
    (tmp / "site").mkdir()
    (tmp / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE.format(blocked=sorted(BLOCKED)))
    (tmp / "driver.py").write_text(DRIVER)
    (tmp / "texts.txt").write_text("how do I learn python?\nHow do I  learn Python?\n\nbake bread\n"
                                   "What is the capital of France?\n", encoding="utf-8")
    (tmp / "pairs.tsv").write_text("".join(f"{a}\t{b}\t{y}\n" for (a, b), y in ((PARAPHRASE, 1), (UNRELATED, 0))),
                                   encoding="utf-8")
    t = str(tmp)
    steps = [
        {"name": "blocker works", "python": "import torch"},
        {"name": "help", "cli": ["--help"]},
        {"name": "score", "cli": ["score", *PARAPHRASE]},
        {"name": "score --json", "cli": ["score", "--json", *PARAPHRASE]},
        {"name": "score --json unrelated", "cli": ["score", "--json", *UNRELATED]},
        {"name": "score --pairs", "cli": ["score", "--pairs", f"{t}/pairs.tsv", "--json"]},
        {"name": "embed", "cli": ["embed", f"{t}/texts.txt", "--out", f"{t}/vectors.npy"]},
        {"name": "info", "cli": ["info"]},
        {"name": "info --json", "cli": ["info", "--json"]},
        {"name": "dedup", "cli": ["dedup", f"{t}/texts.txt", "--out", f"{t}/out", "--report", f"{t}/report.jsonl"]},
        {"name": "index", "cli": ["index", f"{t}/texts.txt", "--out", f"{t}/index"]},
        {"name": "search", "cli": ["search", f"{t}/index", "What is the capital of France?", "-k", "2", "--json"]},
        {"name": "python api", "python": textwrap.dedent(f"""
            from siamese_text import SiameseModel
            model = SiameseModel.load()
            assert model.encode(["a text", "another"]).shape == (2, model.dim)
            assert model.similarity(*{PARAPHRASE!r}) > model.similarity(*{UNRELATED!r})
        """)},
        # (c) what needs an extra: one line naming it
        {"name": "train", "cli": ["train", f"{t}/pairs.tsv", "--out", f"{t}/model", "--epochs", "1"]},
        {"name": "distill", "cli": ["distill", f"{t}/pairs.tsv", "--out", f"{t}/student"]},
        {"name": "evaluate", "cli": ["evaluate", f"{t}/pairs.tsv", "--json"]},
        {"name": "import Trainer", "python": "from siamese_text import Trainer"},
        {"name": "import SiameseClassifier", "python": "from siamese_text import SiameseClassifier"},
        {"name": "import spacy component", "python": "import siamese_text.integrations.spacy_pipe"},
    ]
    (tmp / "steps.json").write_text(json.dumps(steps), encoding="utf-8")
    paths = [str(tmp / "site"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run([sys.executable, str(tmp / "driver.py"), str(tmp / "steps.json")],
                          capture_output=True, text=True, cwd=tmp, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp, json.loads(done.stdout.splitlines()[-1])


def ok(results: dict, name: str) -> dict:
    """The result of a step that must have succeeded."""
    r = results[name]
    detail = (r["exception"] or {}).get("traceback") or r["stderr"]
    assert r["code"] == 0, f"{name} exited {r['code']}:\n{detail[-3000:]}"
    return r


def test_the_blocked_packages_really_are_missing(light):
    _, results = light
    r = results["blocker works"]
    assert r["exception"] and r["exception"]["type"] == "ModuleNotFoundError"


def test_score_works_without_torch(light):
    _, results = light
    ok(results, "help")
    r = ok(results, "score")
    assert r["stdout"].startswith("probability ") and "energy" in r["stdout"] and r["stderr"] == ""
    same = json.loads(ok(results, "score --json")["stdout"])
    other = json.loads(ok(results, "score --json unrelated")["stdout"])
    for res in (same, other):
        assert set(res) == {"probability", "duplicate", "energy", "threshold"}
        assert 0.0 <= res["probability"] <= 1.0 and res["duplicate"] == (res["probability"] >= res["threshold"])
    assert same["probability"] > other["probability"] and same["energy"] < other["energy"]
    rows = [json.loads(line) for line in ok(results, "score --pairs")["stdout"].splitlines()]
    assert [row["label"] for row in rows] == [1, 0]
    assert rows[0]["probability"] == pytest.approx(same["probability"], abs=1e-5)


def test_embed_works_without_torch(light):
    tmp, results = light
    ok(results, "embed")
    vectors = np.load(tmp / "vectors.npy")
    assert vectors.dtype == np.float32 and vectors.shape[0] == 5 and np.isfinite(vectors).all()
    assert (np.linalg.norm(vectors[[0, 1, 3, 4]], axis=1) > 0).all()
    assert not vectors[2].any()  # the blank line: a zero vector


def test_info_works_without_torch(light):
    _, results = light
    card = ok(results, "info")["stdout"]
    assert "BiLSTM" in card and "threshold" in card
    config = json.loads(ok(results, "info --json")["stdout"])
    assert {"encoder", "energy", "calibration", "threshold"} <= set(config)


def test_dedup_works_without_torch(light):
    tmp, results = light
    ok(results, "dedup")
    kept = (tmp / "out" / "texts.txt").read_text(encoding="utf-8").splitlines()
    assert kept[0] == "how do I learn python?" and "How do I  learn Python?" not in kept
    assert "" in kept and "bake bread" in kept and "What is the capital of France?" in kept
    report = [json.loads(line) for line in (tmp / "report.jsonl").read_text(encoding="utf-8").splitlines()]
    assert any(row["line"] == 2 and row["duplicate_of"]["line"] == 1 for row in report)


def test_index_and_search_work_without_torch(light):
    _, results = light
    ok(results, "index")
    hits = [json.loads(line) for line in ok(results, "search")["stdout"].splitlines()]
    assert len(hits) == 2 and hits[0]["text"] == "What is the capital of France?" and hits[0]["duplicate"]
    assert hits[0]["score"] >= hits[1]["score"]


def test_python_api_scores_and_encodes_without_torch(light):
    _, results = light
    ok(results, "python api")


@pytest.mark.parametrize("name, extra", [("train", "train"), ("distill", "train"), ("evaluate", None)])
def test_a_command_without_its_extra_is_one_line(light, name, extra):
    _, results = light
    r = results[name]
    assert r["exception"] is None, r["exception"] and r["exception"]["traceback"]
    assert r["code"] == 1 and r["stdout"] == ""
    lines = r["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r["stderr"][-3000:]
    assert f"pip install 'siamese-text[{extra or ''}" in lines[0], lines[0]


@pytest.mark.parametrize("name, extra", [("import Trainer", "train"), ("import SiameseClassifier", "sklearn"),
                                         ("import spacy component", "spacy")])
def test_a_class_without_its_extra_raises_missing_extra(light, name, extra):
    _, results = light
    exc = results[name]["exception"]
    assert exc is not None, f"{name} worked without its extra"
    assert exc["type"] == "MissingExtra" and {"SiameseTextError", "ImportError"} <= set(exc["bases"])
    assert "\n" not in exc["message"] and exc["message"].endswith(f"pip install 'siamese-text[{extra}]'")


# ----- require() itself ----------------------------------------------------------------------


def test_require_returns_the_module_or_names_the_extra():
    from siamese_text.errors import SiameseTextError
    from siamese_text.extras import MissingExtra, require

    assert require("json", "train") is json
    with pytest.raises(MissingExtra) as info:
        require("siamese_text_no_such_module", "spacy")
    assert str(info.value) == ("the spaCy component needs siamese_text_no_such_module: "
                               "pip install 'siamese-text[spacy]'")
    assert isinstance(info.value, SiameseTextError) and isinstance(info.value, ImportError)
    assert (info.value.module, info.value.extra) == ("siamese_text_no_such_module", "spacy")
    with pytest.raises(MissingExtra, match=r"^training needs torch: pip install 'siamese-text\[train\]'$"):
        require("torch.no_such_submodule_either", "train", "training")


def test_require_says_when_an_installed_package_is_broken_inside(tmp_path, monkeypatch):
    from siamese_text.extras import MissingExtra, require

    (tmp_path / "half_installed_pkg.py").write_text("import siamese_text_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtra) as info:
        require("half_installed_pkg", "report", "plotting")
    message = str(info.value)
    assert message.startswith("plotting needs half_installed_pkg (importing it failed: No module named "
                              "'siamese_text_missing_dependency')")
    assert message.endswith(": pip install 'siamese-text[report]'")
