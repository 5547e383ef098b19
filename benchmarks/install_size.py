"""Install time and environment size: the light install vs the full one.

    nice python benchmarks/install_size.py [--keep DIR] [--no-cache]

Copies the checkout (without .git, .venv, build/ and caches) into a temporary folder, creates
two fresh virtual environments there with `python -m venv`, and installs into each from the copy:

    light   pip install .                       what `score`, `embed`, `dedup`, ... need
    full    pip install torch==2.13.0 '.[all]'  training, spaCy, scikit-learn, plots

For each it measures the wall-clock time of the pip command, the environment's size on disk
(`du -sk`, the fresh venv's pip and setuptools included), the number of distributions the
install added, which of the heavy libraries are present, and the time of `siamese-text score A B`
in that environment (a new process each time: the fastest of 5 after one warm-up, since other work on a shared
machine only ever adds time). Prints a markdown table and the commands.

Install time depends on pip's cache and the network: by default pip runs as a user's would
(its cache as it is); --no-cache passes --no-cache-dir so every wheel is fetched again.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "spacy", "datasets", "pandas", "pyarrow", "scikit-learn")
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "runs", "reports", "*.egg-info", "__pycache__",
                              ".pytest_cache", "*.pyc")
INSTALLS = {  # name -> the pip arguments after `pip install`, "." being the checkout
    "light": ["."],
    "full": ["torch==2.13.0", ".[all]"],
}
SCORE = ["score", "How do I learn Python?", "What is the best way to learn Python?"]


def _timed(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, done


def _size_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) / 1024


def _distributions(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                         check=True).stdout
    return {d["name"].lower().replace("_", "-"): d["version"] for d in json.loads(out)}


def measure(name: str, pip_args: list[str], work: Path, no_cache: bool) -> dict:
    """Create venv `name` under `work`, install into it from work/src, and measure it."""
    venv = work / name
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    before = _distributions(python)
    pip_version = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, text=True,
                                 check=True).stdout.split()[1]
    cmd = [str(python), "-m", "pip", "install", "--quiet", *(["--no-cache-dir"] if no_cache else []), *pip_args]
    seconds, done = _timed(cmd, work / "src")
    if done.returncode != 0:
        raise SystemExit(f"{name}: pip install failed:\n{done.stderr[-2000:]}")
    after = _distributions(python)
    _, score = _timed([str(venv / "bin" / "siamese-text"), *SCORE], work)  # warm-up: the OS file cache
    times = [_timed([str(venv / "bin" / "siamese-text"), *SCORE], work)[0] for _ in range(5)]
    return {
        "name": name,
        "pip": pip_version,
        "command": "pip install " + " ".join(f"'{a}'" if "[" in a else a for a in pip_args),
        "seconds": seconds,
        "size_mb": _size_mb(venv),
        "added": len(set(after) - set(before)),
        "heavy": [h for h in HEAVY if h in after],
        "score_seconds": min(times) if score.returncode == 0 else None,
        "score_error": None if score.returncode == 0 else (score.stderr.strip().splitlines() or ["?"])[-1],
    }


def table(rows: list[dict]) -> str:
    lines = ["| install | command | install time | environment size | distributions added | "
             "heavy libraries present | `siamese-text score A B` |",
             "| --- | --- | ---: | ---: | ---: | --- | ---: |"]
    for r in rows:
        score = f"{r['score_seconds']:.2f} s" if r["score_seconds"] is not None else f"failed: {r['score_error']}"
        lines.append(f"| {r['name']} | `{r['command']}` | {r['seconds']:.0f} s | {r['size_mb']:,.0f} MB | "
                     f"{r['added']} | {', '.join(r['heavy']) or 'none'} | {score} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="Build the environments here and keep them (default: a "
                                                  "temporary folder, removed afterwards).")
    parser.add_argument("--no-cache", action="store_true", help="pip --no-cache-dir: fetch every wheel again.")
    parser.add_argument("--only", choices=sorted(INSTALLS), action="append", help="Measure only this install.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="siamese-install-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if (work / "src").exists():
            shutil.rmtree(work / "src")
        shutil.copytree(ROOT, work / "src", ignore=SKIP)
        rows = []
        for name in args.only or list(INSTALLS):
            if (work / name).exists():
                shutil.rmtree(work / name)
            rows.append(measure(name, INSTALLS[name], work, args.no_cache))
            print(f"{name}: done in {rows[-1]['seconds']:.0f} s", file=sys.stderr)
    today = datetime.date.today().isoformat()
    print(f"Measured {today} on {platform.machine()} Linux, Python {platform.python_version()}, "
          f"pip {rows[0]['pip']}, {'no pip cache' if args.no_cache else 'pip cache as it was'}:\n")
    print(table(rows))
    print("\nEach in a fresh `python -m venv`; size by `du -sk` of the environment (pip and setuptools "
          "included); distributions added = `pip list` after minus before; `siamese-text score A B` is the "
          "fastest of 5 new processes after one warm-up run (the minimum: this machine is shared).")
    print(f"\n    nice python benchmarks/install_size.py{' --no-cache' if args.no_cache else ''}")


if __name__ == "__main__":
    main()
