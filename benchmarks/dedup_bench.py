"""Near-duplicate removal at 10k / 100k / 1M lines: siamese-text vs exact brute force vs MinHash LSH.

Workloads are built only from real sentences in ../shared/data: every labelled pair of QQP dev
(BiMPM), MRPC train+test and PAWS-Wiki dev+test contributes both of its sentences, and lines
sampled (seeded) from those sentences are repeated until the workload has the wanted size; the
lines are then shuffled. Ground truth: a line is a true duplicate when an earlier line is the
same text after normalisation, or belongs to the same group of labelled paraphrase pairs
(connected components of the label-1 pairs). Label-0 pairs (hard negatives, PAWS's word
swaps among them) stay in as traps.

Each method runs in its own subprocess, timed from the outside (wall clock, start-up and model
loading included) with its CPU time and peak resident memory from wait4, and the machine's
1-minute load average around the run (other jobs share the cores, so read wall times with it):
  siamese-text   the real CLI: `siamese-text dedup FILE --out DIR --report FILE` (faiss: exact
                 up to 20k distinct texts, IVF beyond)
  brute force    the same pipeline with exact (flat) search at every size
  MinHash LSH    datasketch, 128 permutations, Jaccard >= 0.7 on word sets, the same exact-hash
                 first pass and the same keep-first rule

Run:  python benchmarks/dedup_bench.py            (all three sizes; --sizes 10000 to pick)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO / "benchmarks"))

from proc_watch import watch  # noqa: E402


def load_pairs(data: Path) -> list[tuple[str, str, int]]:
    """(sentence a, sentence b, label) of every labelled pair of QQP dev, MRPC and PAWS-Wiki."""
    from siamese_text.corpora.pairs import iter_tsv_lines

    pairs = []
    for _, f in iter_tsv_lines(data / "qqp" / "bimpm" / "dev.tsv"):
        pairs.append((f[1], f[2], int(f[0])))
    for name in ("msr_paraphrase_train.txt", "msr_paraphrase_test.txt"):
        for _, f in iter_tsv_lines(data / "mrpc" / name):
            if f[0] in ("0", "1"):
                pairs.append((f[3], f[4], int(f[0])))
    for name in ("dev.tsv", "test.tsv"):
        for _, f in iter_tsv_lines(data / "paws_wiki" / name):
            if f[3].strip() in ("0", "1"):
                pairs.append((f[1], f[2], int(f[3])))
    return pairs


def build_workload(pairs, size: int, seed: int) -> list[str]:
    """Both sentences of seeded-random pairs (up to 60% of the lines), then sampled repeats."""
    rng = random.Random(seed)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    lines: list[str] = []
    for i in order:
        if len(lines) + 2 > 0.6 * size:
            break
        lines.extend(pairs[i][:2])
    lines.extend(rng.choices(lines, k=size - len(lines)))
    rng.shuffle(lines)
    return lines


def ground_truth(lines: list[str], pairs) -> tuple[np.ndarray, np.ndarray]:
    """(true duplicate, exact duplicate) per line: an earlier line with the same group / text."""
    from siamese_text.text.tokenizer import normalize

    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, label in pairs:
        if label == 1:
            ra, rb = find(normalize(a)), find(normalize(b))
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    seen_text, seen_group = set(), set()
    true, exact = np.zeros(len(lines), bool), np.zeros(len(lines), bool)
    cache: dict[str, tuple[str, str]] = {}
    for i, line in enumerate(lines):
        if line not in cache:
            n = normalize(line)
            cache[line] = (n, find(n))
        n, g = cache[line]
        exact[i], true[i] = n in seen_text, g in seen_group
        seen_text.add(n)
        seen_group.add(g)
    return true, exact


def measured(cmd: list[str], log: Path) -> tuple[float, float, float, float]:
    """Run a command, its stderr into `log`; (wall seconds, CPU seconds of it and its worker
    processes, peak resident MB of it and its workers together (sampled, never below its own
    peak), machine load average around the run), watched by proc_watch.watch."""
    stats = watch(cmd, log, interval=0.2)
    return stats["wall_s"], stats["cpu_s"], stats["tree_peak_mb"], stats["load"]


def removed_from_report(report: Path, n: int) -> np.ndarray:
    removed = np.zeros(n, bool)
    with open(report, encoding="utf-8") as fh:
        for row in fh:
            removed[json.loads(row)["line"] - 1] = True
    return removed


def worker_brute(file: Path, out: Path, model: str | None, threshold: float | None) -> None:
    """The siamese-text pipeline with exact (flat) search whatever the size."""
    from siamese_text.dedup.stages import DedupConfig
    from siamese_text.dedup.workers import available_cpus
    from siamese_text.dedup.index import IndexConfig
    from siamese_text.model.siamese import SiameseModel
    from siamese_text.dedup.files import dedup_files

    config = DedupConfig(threads=1, workers=available_cpus(), index=IndexConfig(exact_limit=10**12))
    dedup_files([file], out / "brute", out / "brute.jsonl", SiameseModel.load(model), threshold,
                overwrite=True, config=config)


def worker_minhash(file: Path, out: Path, num_perm: int = 128, jaccard: float = 0.7) -> None:
    """datasketch MinHash LSH on word sets; exact hash first; keep-first like siamese-text."""
    from datasketch import MinHash, MinHashLSH

    from siamese_text.dedup.stages import ExactGroups
    from siamese_text.text.tokenizer import normalize

    lines = file.read_text(encoding="utf-8").splitlines()
    groups = ExactGroups()
    for line in lines:
        groups.add(line)
    first = list(groups.first)
    lsh = MinHashLSH(threshold=jaccard, num_perm=num_perm)
    dropped = np.zeros(len(first), bool)
    kept: dict[str, MinHash] = {}
    for u, i in enumerate(first):
        mh = MinHash(num_perm=num_perm, seed=1)
        mh.update_batch([w.encode() for w in set(normalize(lines[i]).split())])
        if any(mh.jaccard(kept[key]) >= jaccard for key in lsh.query(mh)):
            dropped[u] = True
        else:
            kept[str(u)] = mh
            lsh.insert(str(u), mh)
    uid = np.frombuffer(groups.unique_of, dtype=np.int64)
    removed = np.zeros(len(lines), bool)
    real = uid >= 0
    removed[real] = dropped[uid[real]] | (np.asarray(first)[uid[real]] != np.flatnonzero(real))
    np.save(out / "minhash.npy", removed)



def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {platform.python_implementation()} {platform.python_version()}"


def model_version(model: str | None) -> str:
    if model:
        return model
    log = subprocess.run(["git", "log", "-1", "--format=%h %cs", "--", "siamese_text/default_model"],
                         cwd=REPO, capture_output=True, text=True).stdout.strip()
    return f"bundled model (last changed in commit {log or 'uncommitted'})"


def metrics(removed: np.ndarray, true: np.ndarray, exact: np.ndarray) -> dict:
    def ratio(a, b):
        return float(a) / float(b) if b else float("nan")

    near_r, near_t = removed & ~exact, true & ~exact
    return {"removed": int(removed.sum()), "precision": ratio((removed & true).sum(), removed.sum()),
            "recall": ratio((removed & true).sum(), true.sum()),
            "near_removed": int(near_r.sum()), "near_precision": ratio((near_r & true).sum(), near_r.sum()),
            "near_recall": ratio((near_r & near_t).sum(), near_t.sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--threshold", type=float, default=None, help="probability (default: the model's)")
    ap.add_argument("--extra-thresholds", type=float, nargs="*", default=[],
                    help="also run siamese-text at these probabilities (no brute force for them)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--skip", nargs="*", default=[], choices=["brute", "minhash"])
    ap.add_argument("--worker", choices=["brute", "minhash"], help=argparse.SUPPRESS)
    ap.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "brute":
        return worker_brute(args.file, args.out, args.model, args.threshold)
    if args.worker == "minhash":
        return worker_minhash(args.file, args.out)

    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: the benchmark needs the shared data sets")
    pairs = load_pairs(DATA)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="dedup-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    common = (["--model", args.model] if args.model else []) + \
        (["--threshold", str(args.threshold)] if args.threshold is not None else [])
    print(f"machine: {machine()}; model: {model_version(args.model)}; {len(pairs):,} labelled pairs; "
          f"seed {args.seed}", flush=True)
    print("| lines | distinct | method | wall s | CPU s | load | peak MB (all processes) | lines/s | removed | precision | recall "
          "| near removed | near precision | near recall | near recall vs brute force |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    results = []
    for size in args.sizes:
        lines = build_workload(pairs, size, args.seed)
        true, exact = ground_truth(lines, pairs)
        folder = work / str(size)
        folder.mkdir(exist_ok=True)
        file = folder / "workload.txt"
        file.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        runs = {}
        def cli(report: Path, threshold: float | None) -> list[str]:
            return [sys.executable, "-m", "siamese_text", "dedup", str(file), "--out", str(folder / "siamese"),
                    "--report", str(report), "--overwrite", "--no-progress",
                    *(["--model", args.model] if args.model else []),
                    *(["--threshold", str(threshold)] if threshold is not None else [])]

        report = folder / "siamese.jsonl"
        runs["siamese-text (faiss)"] = (*measured(cli(report, args.threshold), report.with_suffix(".log")),
                                        removed_from_report(report, size))
        for extra in args.extra_thresholds:  # the same command at another threshold
            report = folder / f"siamese-{extra}.jsonl"
            runs[f"siamese-text (faiss), p >= {extra}"] = (*measured(cli(report, extra), report.with_suffix(".log")),
                                                          removed_from_report(report, size))
        if "brute" not in args.skip:
            cmd = [sys.executable, __file__, "--worker", "brute", "--file", str(file), "--out", str(folder), *common]
            runs["exact brute force"] = (*measured(cmd, folder / "brute.log"),
                                         removed_from_report(folder / "brute.jsonl", size))
        if "minhash" not in args.skip:
            cmd = [sys.executable, __file__, "--worker", "minhash", "--file", str(file), "--out", str(folder)]
            runs["MinHash LSH"] = (*measured(cmd, folder / "minhash.log"), np.load(folder / "minhash.npy"))
        brute = runs.get("exact brute force", (None,) * 5)[4]
        for method, (wall, cpu, mb, load, removed) in runs.items():
            m = metrics(removed, true, exact)
            vs = float("nan")
            if brute is not None and method == "siamese-text (faiss)" and (brute & ~exact).any():
                vs = float((removed & brute & ~exact).sum() / (brute & ~exact).sum())
            results.append({"lines": size, "method": method, "wall_s": wall, "cpu_s": cpu, "peak_mb": mb,
                            "load_avg": load, **m,
                            "near_recall_vs_brute": vs})
            print(f"| {size:,} | {int((~exact).sum()):,} | {method} | {wall:.1f} | {cpu:.1f} | {load:.1f} | {mb:,.0f} "
                  f"| {size / wall:,.0f} "
                  f"| {m['removed']:,} | {m['precision']:.3f} | {m['recall']:.3f} | {m['near_removed']:,} "
                  f"| {m['near_precision']:.3f} | {m['near_recall']:.3f} | "
                  f"{'' if vs != vs else f'{vs:.3f}'} |", flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {work / 'results.json'}")


if __name__ == "__main__":
    main()
