"""The documentation's commands are real.

README's two set-up commands are the light install plus a score, and the test command that
.ci/run runs last; torch is pinned to its CPU build wherever a doc installs it; every ```console
block runs and prints what it shows; every `siamese-text` command, benchmark or script a doc
names exists, with the options it is given. (Blocks and documents: doc_blocks.py.)
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

from doc_blocks import DOCS, ROOT, Block, all_blocks, blocks, needs_shared_data, output_matches, work_folder

README = ROOT / "README.md"
_OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")
_CLI = re.compile(r"(?:^|[\s(])(?:siamese-text|-m siamese_text|python cli\.py)[ \t]+([a-z][\w-]*)")
_SCRIPT = re.compile(r"(?:python|bash)\s+((?:benchmarks|scripts)/[\w./-]+\.(?:py|sh))")


def section_blocks(doc: Path, section: str, language: str) -> list[str]:
    return [b.code.strip() for b in blocks(doc) if b.section == section and b.language == language]


# ----- README's set-up commands and CI ----------------------------------------------------------


def test_ci_runs_exactly_the_readme_test_command():
    commands = section_blocks(README, "Running the tests", "bash")
    assert len(commands) == 1 and "pytest" in commands[0]
    ci_lines = [line.strip() for line in ROOT.joinpath(".ci", "run").read_text().splitlines() if line.strip()]
    assert ci_lines[-1] == commands[0]  # the test command is the last thing CI runs
    assert "[all,test]" in commands[0]  # and it installs every extra


def test_quick_start_is_the_light_install_then_a_score():
    first = section_blocks(README, "Quick start", "bash")[0]
    install, _, score = first.partition("&&")
    assert install.split() == ["pip", "install", "siamese-text"]
    assert score.strip().startswith("siamese-text score ")


def test_torch_is_pinned_to_the_cpu_build_wherever_a_doc_installs_it():
    for doc in DOCS:
        for install in re.findall(r"pip install [^`\n]*", doc.read_text(encoding="utf-8")):
            heavy = "torch" in install or re.search(r"\[[^\]]*\b(train|all)\b", install)
            assert not heavy or "torch==2.13.0" in install, f"{doc.name}: {install!r} leaves torch unpinned"


# ----- console blocks run -----------------------------------------------------------------------


def console_steps(block: Block) -> list[tuple[str, str]]:
    """(command, expected output) for each `$ ` line of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"{block.where}: a console block starts with a `$ ` command"
            steps[-1][1].append(line)
    return [(command, "\n".join(out)) for command, out in steps]


CONSOLE = all_blocks("console")


@pytest.mark.parametrize("block", CONSOLE, ids=[b.where for b in CONSOLE])
def test_console_block_prints_what_it_shows(block, tmp_path):
    needs_shared_data(block.code)
    work = work_folder(tmp_path)
    # `siamese-text` is this checkout's program run by this interpreter, however it is installed
    shim = tmp_path / "bin" / "siamese-text"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m siamese_text "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": os.pathsep.join([str(shim.parent), str(Path(sys.executable).parent),
                                                   os.environ.get("PATH", "")]),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}  # output in the order it is written
    for command, shown in console_steps(block):
        done = subprocess.run(["bash", "-c", command], cwd=work, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
        assert done.returncode == 0 or shown.startswith("error:"), f"{block.where}: `{command}` failed:\n{done.stdout}"
        assert output_matches(shown, done.stdout), (
            f"{block.where}: `{command}`: the doc shows\n{shown}\nbut it prints\n{done.stdout}")


# ----- named commands and options exist ---------------------------------------------------------


def command_lines(doc: Path) -> list[str]:
    """Every command a doc writes: lines of bash and console blocks, and inline code spans."""
    prose = re.sub(r"^ *```.*?^ *```", "", doc.read_text(encoding="utf-8"), flags=re.M | re.S)
    lines = re.findall(r"`([^`\n]+)`", prose)
    for block in blocks(doc):
        if block.language in ("bash", "console"):
            code = block.code.replace("\\\n", " ")
            for line in code.splitlines():
                if block.language == "console":
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                lines.append(re.sub(r"\s#.*$", "", line))
    return [segment for line in lines for segment in re.split(r"\|\||&&|[|;]", line)]


@cache
def cli_options() -> dict[str, set[str]]:
    """Command name -> its option names, from the installed program's Typer app."""
    import typer

    target = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())["project"]["scripts"]["siamese-text"]
    module, _, attr = target.partition(":")
    group = typer.main.get_command(getattr(importlib.import_module(module), attr))
    ctx = group.context_class(group)
    commands = {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}
    return {name: {"--help"} | {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
            for name, cmd in commands.items()}


def test_every_documented_siamese_text_command_and_option_exists():
    options = cli_options()
    named = set()
    for doc in DOCS:
        for segment in command_lines(doc):
            for found in _CLI.finditer(segment):
                command = found.group(1)
                assert command in options, f"{doc.name}: `{segment.strip()}`: no command {command!r}"
                unknown = set(_OPTION.findall(segment[found.end():])) - options[command]
                assert not unknown, f"{doc.name}: `{segment.strip()}`: {command} has no {sorted(unknown)}"
                named.add(command)
    assert {"score", "embed", "info", "dedup", "index", "search", "train", "evaluate", "distill"} <= named


def test_every_documented_script_and_option_exists():
    named = set()
    for doc in DOCS:
        for segment in command_lines(doc):
            for found in _SCRIPT.finditer(segment):
                script = ROOT / found.group(1)
                assert script.is_file(), f"{doc.name}: `{segment.strip()}`: {found.group(1)} does not exist"
                named.add(found.group(1))
                if script.suffix == ".py":
                    source = script.read_text(encoding="utf-8")
                    for option in _OPTION.findall(segment[found.end():]):
                        assert f'"{option}"' in source or f"'{option}'" in source, (
                            f"{doc.name}: `{segment.strip()}`: {found.group(1)} has no {option}")
    # benchmarks/README.md has a section for every benchmark script, each with its command
    benchmarks = {f"benchmarks/{p.name}" for p in ROOT.joinpath("benchmarks").glob("*.py")}
    assert benchmarks <= named, f"benchmarks never run in the docs: {sorted(benchmarks - named)}"


def test_console_steps_split_commands_from_their_output_and_a_wrong_output_fails():
    block = Block(README, "test", "console", 1, "$ echo a\na\n$ true\n$ printf '1\\t2\\n'\n1 2\n")
    steps = console_steps(block)
    assert steps == [("echo a", "a"), ("true", ""), ("printf '1\\t2\\n'", "1 2")]
    assert output_matches("1 2", "1\t2\n") and output_matches("in ...", "in 0.1 s\n")
    assert not output_matches("0.8323", "0.8324\n") and not output_matches("", "surprise\n")


def test_every_file_a_doc_names_exists():
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for path in re.findall(r"(?<![\w./-])((?:siamese_text|tests|scripts|benchmarks|docs|corpora)/[\w./-]*\w)", text):
            assert (ROOT / path).exists(), f"{doc.name}: {path} does not exist"
