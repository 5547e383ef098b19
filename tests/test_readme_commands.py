"""README.md's set-up commands and .ci/run stay in step."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_exactly_the_readme_test_command():
    quick_start = ROOT.joinpath("README.md").read_text().split("## Quick start", 1)[1]
    blocks = _bash_blocks(quick_start)[:2]
    assert len(blocks) == 2 and "siamese-text score" in blocks[0] and "pytest" in blocks[1]
    ci_lines = [line.strip() for line in ROOT.joinpath(".ci", "run").read_text().splitlines()]
    assert blocks[1] in ci_lines
    assert ci_lines[-1] == blocks[1]  # the test command is the last thing CI runs


def test_torch_is_pinned_to_the_cpu_build_everywhere():
    for block in _bash_blocks(ROOT.joinpath("README.md").read_text().split("## Quick start", 1)[1])[:2]:
        assert "torch==2.13.0" in block
