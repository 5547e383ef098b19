"""Reading the code blocks of the documentation, for test_readme_examples and test_readme_commands.

The documents are README.md, docs/*.md and benchmarks/README.md. A fence's language says what
the tests do with it:

    ```python   run, in order with the section's other python blocks, output checked
    ```console  `$ ` lines run in bash, the lines under each are its expected output
    ```bash     commands to copy (long runs); only checked to name real commands and options

Blocks run in a fresh working folder laid out like the repository root: `corpora` is the
repository's corpora and `../shared/data` the shared data, so paths in the docs work as written.
A section that names ../shared/data is skipped where that data is absent, but fails under CI=true.
"""

from __future__ import annotations

import doctest
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
SHARED_DATA_MARK = "../shared/data"

_FENCE = re.compile(r"^( *)```(\w*)\s*$")
_CHECKER = doctest.OutputChecker()
_OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass(frozen=True)
class Block:
    """One fenced code block."""

    doc: Path
    section: str  # the level-2 heading above it ("" before the first)
    language: str
    line: int  # 1-based line of the doc where the block's code starts
    code: str

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    """Every fenced block of `doc`, in order (a fence may be indented, as in a list item)."""
    out: list[Block] = []
    section, language, indent, start, code = "", None, "", 0, []
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
        if language is None:
            if line.startswith("## "):
                section = line[3:].strip()
            fence = _FENCE.match(line)
            if fence:
                indent, language, start, code = fence.group(1), fence.group(2), number + 1, []
        elif line.strip() == "```":
            out.append(Block(doc, section, language, start, "\n".join(code) + "\n"))
            language = None
        else:
            code.append(line.removeprefix(indent))
    assert language is None, f"{doc}: a code block opened at line {start - 1} is never closed"
    return out


def all_blocks(language: str) -> list[Block]:
    return [b for doc in DOCS for b in blocks(doc) if b.language == language]


def output_matches(want: str, got: str) -> bool:
    """doctest's comparison: `...` matches anything, runs of white space are equal."""
    return _CHECKER.check_output(want.rstrip("\n") + "\n", got, _OPTIONS)


def needs_shared_data(code: str) -> None:
    """Skip (or, under CI=true, fail) when `code` reads ../shared/data and it is absent."""
    if SHARED_DATA_MARK in code and not (SHARED / "data").is_dir():
        message = f"{SHARED / 'data'} is not available"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI must have the shared data)")
        pytest.skip(message)


def work_folder(tmp_path: Path) -> Path:
    """A working folder where the docs' relative paths resolve as from the repository root."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "corpora").symlink_to(ROOT / "corpora", target_is_directory=True)
    if SHARED.is_dir():
        (tmp_path / "shared").symlink_to(SHARED, target_is_directory=True)
    return work
