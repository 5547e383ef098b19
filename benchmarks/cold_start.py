"""Cold start of `siamese-text score A B`: this checkout beside an earlier commit, interleaved.

    python benchmarks/cold_start.py [--ref 2da024e] [--runs 15]

Each run is a new Python process (`python -m siamese_text score A B`), the two versions taking
turns so that a busy machine slows both alike. The earlier commit's files are extracted with
`git archive` into a temporary folder (the repository's state is left alone) and run from there
(PYTHONPATH), with the same interpreter and installed libraries.
Prints min / median / max wall seconds per version and the ratio of medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAIR = ("How do I learn Python?", "What is the best way to learn Python?")


def run_once(tree: Path) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "siamese_text", "score", *PAIR], cwd=tree, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{tree}: score failed: {done.stderr.strip()[-300:]}")
    return seconds, done.stdout.strip().splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="2da024e", help="earlier commit to compare with")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="siamese-cold-") as tmp:
        old = Path(tmp) / "old"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", args.ref],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        trees = {f"commit {args.ref}": old, "this checkout": ROOT}
        times: dict[str, list[float]] = {name: [] for name in trees}
        outputs = {}
        for name, tree in trees.items():  # warm the file cache once, untimed
            outputs[name] = run_once(tree)[1]
        for _ in range(args.runs):
            for name, tree in trees.items():
                times[name].append(run_once(tree)[0])
    print(f"cold `siamese-text score A B`, {args.runs} runs each, interleaved; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("\n| version | min s | median s | max s | first line of output |\n|---|---|---|---|---|")
    for name, t in times.items():
        print(f"| {name} | {min(t):.3f} | {statistics.median(t):.3f} | {max(t):.3f} | {outputs[name]} |")
    a, b = (statistics.median(t) for t in times.values())
    print(f"\nratio of medians (this checkout / commit {args.ref}): {b / a:.3f}")
    print(f"command: python benchmarks/cold_start.py --ref {args.ref} --runs {args.runs}")


if __name__ == "__main__":
    main()
