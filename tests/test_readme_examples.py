"""Every ```python block of the documentation runs as written and prints what it shows.

Documents: README.md, docs/*.md, benchmarks/README.md (see doc_blocks.py). The python blocks of
one level-2 section run in order in one namespace (a later block may use names an earlier one
made), in a fresh working folder laid out like the repository root. Their own asserts are checks,
and so is every output they show:

    print(x)  # 0.83            a print's trailing comment is its whole output
    for ...:                    full-line comments right under a statement that printed
        print(...)              are its output, one comment a line
    # first line
    # second line

`...` in a shown output matches anything (doctest's ELLIPSIS), runs of white space are equal.
"""

from __future__ import annotations

import ast
import contextlib
import io
import tokenize
from pathlib import Path

import pytest

from doc_blocks import ROOT, SHARED, Block, all_blocks, needs_shared_data, output_matches, work_folder

# Sections that train several models; marked slow (CI still runs them).
SLOW = {("README.md", "Integrations")}


def sections() -> dict[tuple[str, str], list[Block]]:
    out: dict[tuple[str, str], list[Block]] = {}
    for block in all_blocks("python"):
        out.setdefault((str(block.doc.relative_to(ROOT)), block.section), []).append(block)
    return out


SECTIONS = sections()


def statements(block: Block) -> list[tuple[ast.stmt, str | None]]:
    """The block's top-level statements, each with the output the doc shows for it (or None)."""
    tree = ast.parse(block.code, filename=block.where)
    lines = block.code.splitlines()
    comments = {tok.start[0]: tok for tok in tokenize.generate_tokens(io.StringIO(block.code).readline)
                if tok.type == tokenize.COMMENT}
    out = []
    for node in tree.body:
        shown = None
        end = node.end_lineno
        trailing = comments.get(end)
        if _is_print(node) and trailing is not None and lines[end - 1][: trailing.start[1]].strip():
            shown = _uncomment(trailing.string)
        else:
            below = []
            for line in lines[end:]:
                if not line.startswith("#"):
                    break
                below.append(_uncomment(line))
            shown = "\n".join(below) if below else None
        out.append((node, shown))
    return out


def _is_print(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "print")


def _prints(node: ast.stmt) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
               for n in ast.walk(node))


def _uncomment(comment: str) -> str:
    text = comment.strip()[1:]
    return text[1:] if text.startswith(" ") else text


def run_block(block: Block, namespace: dict) -> None:
    """Run `block` statement by statement in `namespace`; fail where a shown output differs."""
    for node, shown in statements(block):
        module = ast.Module(body=[node], type_ignores=[])
        ast.increment_lineno(module, block.line - 1)  # tracebacks name the doc's own line
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(module, str(block.doc), "exec"), namespace)  # noqa: S102
        got = printed.getvalue()
        if shown is None:
            continue
        if not got and not _prints(node):
            continue  # comments under a statement that prints nothing describe the next one
        line = block.line + node.lineno - 1
        assert output_matches(shown, got), (
            f"{block.doc.relative_to(ROOT)}:{line}: the doc shows\n{shown}\nbut the code prints\n{got}")


def write_pairs_file(path: Path) -> None:
    """pairs.tsv for the scikit-learn example: 600 real Quora pairs, or the toy world."""
    from siamese_text.corpora.pairs import read_pairs

    qqp = SHARED / "data" / "qqp" / "bimpm" / "dev.tsv"
    if qqp.is_file():
        rows = [(p.a, p.b, p.label) for p in read_pairs(qqp, fmt="qqp-bimpm")[:600]]
    else:
        from test_estimator import toy_world

        X, y = toy_world()
        rows = [(a, b, int(label)) for (a, b), label in zip(X, y)]
    path.write_text("".join(f"{a}\t{b}\t{label}\n" for a, b, label in rows), encoding="utf-8")


@pytest.fixture
def one_thread():
    """torch on one thread while the examples train (restored after)."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    "key",
    [pytest.param(key, id=f"{key[0]}::{key[1]}", marks=[pytest.mark.slow] if key in SLOW else [])
     for key in SECTIONS])
def test_python_blocks_run_and_print_what_they_show(key, tmp_path, monkeypatch, one_thread):
    section = SECTIONS[key]
    needs_shared_data("".join(b.code for b in section))
    work = work_folder(tmp_path)
    monkeypatch.chdir(work)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the SemHash example must never download anything
    if any("pairs.tsv" in b.code for b in section):
        write_pairs_file(work / "pairs.tsv")
    namespace: dict = {"__name__": "doc_example"}
    for block in section:
        run_block(block, namespace)
    if key == ("README.md", "Integrations"):  # the examples really wrote what they say they write
        assert (work / "qa_pipeline" / "siamese_similarity" / "model.safetensors").is_file()
        assert (work / "my_model" / "config.json").is_file()
        assert hasattr(namespace["clf"], "model_") and hasattr(namespace["search"], "best_params_")


def test_every_document_has_tested_python_examples():
    docs = {doc for doc, _ in SECTIONS}
    assert {"README.md", "docs/model_card.md", "docs/architecture.md"} <= docs
    assert ("README.md", "Python API") in SECTIONS


def _block(code: str) -> Block:
    return Block(ROOT / "README.md", "test", "python", 1, code)


def test_a_shown_output_that_differs_fails():
    with pytest.raises(AssertionError, match="the doc shows"):
        run_block(_block("print(1 + 1)  # 3\n"), {})
    with pytest.raises(AssertionError, match="the doc shows"):
        run_block(_block("for i in range(2):\n    print(i)\n# 0\n# 2\n"), {})


def test_shown_outputs_match_with_ellipsis_and_comments_of_silent_lines_are_free():
    run_block(_block("print(0.8323)  # 0.83...\n"), {})
    run_block(_block("for i in range(2):\n    print(i)\n# 0\n# 1\n"), {})
    run_block(_block("x = 2  # a remark, not an output\n# what the next line does\ny = x\n"), {})
