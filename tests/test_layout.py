"""The package's shape: imports flow downward only, and the light core imports nothing heavy.

Layers, lowest first (a module may import its own layer and the ones below):

    0  errors, extras                 what every layer may raise or need
    1  text                           normalise, tokenizer, vocab, features
    2  model                          the folder, NumPy encoder, energy, calibration, SiameseModel
    3  corpora                        readers of every corpus layout
    4  evaluation, dedup              metrics; near-duplicate stages, engines, index, search
    5  training                       torch tower training, distillation, recipes      [train extra]
    6  integrations                   spaCy, scikit-learn, encoder protocol            [extras]
    7  cli                            thin Typer commands
    8  siamese_text/__init__, __main__

Print the current import graph with `python tests/test_layout.py`.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "siamese_text"
LAYERS = {"errors": 0, "extras": 0, "text": 1, "model": 2, "corpora": 3, "evaluation": 4, "dedup": 4,
          "training": 5, "integrations": 6, "cli": 7, "__init__": 8, "__main__": 8}
HEAVY = {"torch", "spacy", "thinc", "datasets", "sklearn", "pandas", "pyarrow", "matplotlib", "scipy"}
# modules of the light core that exist to use an optional library (imported only on request)
OPTIONAL = {"model/torch_encoder.py", "model/torch_backend.py", "corpora/table.py", "evaluation/plots.py"}


def _modules():
    for file in sorted(PACKAGE.rglob("*.py")):
        rel = file.relative_to(PACKAGE)
        yield rel, ast.parse(file.read_text(encoding="utf-8"))


def _unit(rel: Path) -> str:
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(tree: ast.AST, top_level_only: bool):
    """(line, dotted name) of every import; top_level_only: those run at import time."""
    body = tree.body if top_level_only else ast.walk(tree)
    for node in body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.If) and top_level_only:  # `if TYPE_CHECKING:` blocks never run
            continue


def graph() -> dict[str, set[str]]:
    """unit -> units it imports (anywhere in its modules)."""
    edges: dict[str, set[str]] = {}
    for rel, tree in _modules():
        for _, name in _imports(tree, top_level_only=False):
            parts = name.split(".")
            if parts[0] == "siamese_text" and len(parts) > 1:
                edges.setdefault(_unit(rel), set()).add(parts[1])
    return edges


def test_every_module_belongs_to_a_layer():
    assert {_unit(rel) for rel, _ in _modules()} <= set(LAYERS)


def test_imports_flow_downward_only():
    upward = []
    for rel, tree in _modules():
        here = LAYERS[_unit(rel)]
        for line, name in _imports(tree, top_level_only=False):
            parts = name.split(".")
            if parts[0] == "siamese_text" and len(parts) > 1 and LAYERS.get(parts[1], -1) > here:
                upward.append(f"{rel}:{line} imports {name}")
    assert upward == []


def test_light_core_imports_nothing_heavy_at_import_time():
    found = []
    for rel, tree in _modules():
        if _unit(rel) in {"training", "integrations"} or str(rel) in OPTIONAL:
            continue
        for line, name in _imports(tree, top_level_only=True):
            if name.split(".")[0] in HEAVY:
                found.append(f"{rel}:{line} imports {name}")
    assert found == []


if __name__ == "__main__":  # the import graph, one unit a line, with its layer
    for unit, targets in sorted(graph().items(), key=lambda kv: LAYERS.get(kv[0], 99)):
        deps = ", ".join(sorted(t for t in targets if t != unit))
        print(f"{LAYERS.get(unit, '?')}  {unit:<13} -> {deps}", file=sys.stdout)
