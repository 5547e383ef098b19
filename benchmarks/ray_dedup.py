"""The Ray engine against the local engine: the same files, the same model, one run each.

The workload is built as benchmarks/dedup_bench.py builds its own (both sentences of labelled QQP,
MRPC and PAWS pairs, then seeded repeats, shuffled), and written as `--shards` files of text lines,
or of JSON Lines records (`--jsonl`: {"id": ..., "text": ...}, read with text_fields=["text"]).

Each engine runs `dedup_files` in its own subprocess, watched from the outside every 0.2 s: wall
time; CPU time of every process of its tree (the Ray engine's driver, GCS, raylet and workers, the
local engine's encoding processes), summed from /proc over every process seen; peak resident memory
of the driver, of the largest other process, and of the whole tree at once. Stage times come from
the run's own summary. Agreement: the share of the local engine's removed records that the Ray
engine also removes, and the share of the Ray engine's removed records that the local engine keeps.

Run:  python benchmarks/ray_dedup.py --lines 100000
      python benchmarks/ray_dedup.py --lines 100000 --partitions 1 4
      python benchmarks/ray_dedup.py --lines 1000000 10000000 --shards 16 --jsonl
      python benchmarks/ray_dedup.py --project WORKDIR/results.json   # the modelled table
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from dedup_bench import DATA, build_workload, load_pairs, machine  # noqa: E402


def write_shards(lines: list[str], folder: Path, shards: int, jsonl: bool) -> list[Path]:
    """The lines cut into `shards` consecutive files (record order = shard order, then line order)."""
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(lines) // shards)
    files = []
    for s in range(shards):
        part = lines[s * size : (s + 1) * size]
        file = folder / (f"shard-{s:04d}.jsonl" if jsonl else f"shard-{s:04d}.txt")
        with open(file, "w", encoding="utf-8", newline="\n") as fh:
            for i, line in enumerate(part, start=s * size):
                fh.write(json.dumps({"id": i, "text": line}, ensure_ascii=False) + "\n" if jsonl else line + "\n")
        files.append(file)
    return files


def _proc_stats(pid: int) -> tuple[float, float, float]:
    """(CPU seconds, resident MB, peak resident MB) of one process."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return cpu, rss, hwm


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return out


def measured(cmd: list[str], log: Path) -> dict:
    """Run cmd, watching its process tree; wall, CPU, and peak memory (driver, largest other, all)."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    cpu: dict[int, float] = {}
    hwm: dict[int, float] = {}
    tree_peak = 0.0
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            total = 0.0
            for p in _tree(proc.pid):
                try:
                    c, rss, h = _proc_stats(p)
                except (OSError, ValueError, IndexError):
                    continue
                cpu[p], hwm[p] = max(cpu.get(p, 0.0), c), max(hwm.get(p, 0.0), h)
                total += rss
            tree_peak = max(tree_peak, total)
            time.sleep(0.2)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {log.read_text()[-3000:]}")
    driver_cpu = usage.ru_utime + usage.ru_stime  # includes the children it waited for
    others = {p: c for p, c in cpu.items() if p != proc.pid}
    return {"wall_s": wall, "cpu_s": max(driver_cpu, cpu.get(proc.pid, 0.0)) + sum(others.values()),
            "driver_peak_mb": max(usage.ru_maxrss / 1024, hwm.get(proc.pid, 0.0)),
            "largest_other_peak_mb": max((h for p, h in hwm.items() if p != proc.pid), default=0.0),
            "tree_peak_mb": tree_peak, "processes": len(cpu), "load": (load + os.getloadavg()[0]) / 2}


def worker(engine: str, files: list[Path], out: Path, jsonl: bool, partitions: int | None) -> None:
    """One dedup_files run (in its own process); its summary as JSON beside the outputs."""
    from siamese_text.dedup.files import dedup_files
    from siamese_text.dedup.stages import DedupConfig

    chosen = engine
    if engine == "ray":
        from siamese_text.dedup.ray_engine import RayEngine

        chosen = RayEngine(partitions=partitions)
    records = {"format": "jsonl", "text_fields": ["text"]} if jsonl else {}
    summary = dedup_files(files, out / engine, out / f"{engine}.jsonl", overwrite=True,
                          config=DedupConfig(threads=1), engine=chosen, **records)
    (out / f"{engine}.summary.json").write_text(json.dumps({
        "records": summary.records, "exact_removed": summary.exact_removed,
        "near_removed": summary.near_removed, "seconds": summary.seconds, "stages": summary.stages}))


def digest(folder: Path, report: Path) -> str:
    """One hash of every output shard (name and bytes) and of the report."""
    import hashlib

    h = hashlib.sha256()
    for name, file in [*((f.name, f) for f in sorted(folder.iterdir())), ("report", report)]:
        h.update(name.encode() + b"\0" + file.read_bytes() + b"\0")
    return h.hexdigest()


def removed(report: Path) -> set[tuple[str, int]]:
    """(shard, record number) of every removed record."""
    out = set()
    with open(report, encoding="utf-8") as fh:
        for row in fh:
            entry = json.loads(row)
            out.add((Path(str(entry.get("file", entry.get("shard")))).name,
                     int(entry.get("line") or entry.get("record"))))
    return out


def project(results: list[dict], cores_on_run: int = 2) -> None:
    """A model, not a measurement: times for 100M and 1B records on 8, 64 and 512 cores, from the
    largest measured Ray run with more than one partition.

    Measured, per record: the driver's read and write (the driver reads, groups exact duplicates
    and writes every shard itself: serial, whatever the cluster); per distinct text: embed, index
    and search, which run on the actors and tasks (their wall time on this run times the cores it
    had, i.e. the core-seconds if those cores were busy: an upper bound). Modelled: the serial
    part unchanged with more cores, the parallel part divided by the cores (perfect scaling; no
    network, no stragglers), the distinct share of the measured workload, and the data the
    partition stage shuffles: each distinct text's vector (dim float32) twice (two cells).
    """
    runs = [r for r in results if r["engine"].startswith("ray") and "partitions" in r["engine"]]
    if not runs:
        sys.exit("no Ray run with several partitions in these results")
    run = max(runs, key=lambda r: r["lines"])
    stages, lines = run["stages"], run["lines"]
    distinct = lines - run["exact_removed"]
    serial = (stages["read"] + stages["write"]) / lines  # driver seconds per record
    parallel = (stages["embed"] + stages["index"] + stages["search"]) * cores_on_run / distinct  # core-s per text
    dim = run.get("dim", 384)
    print(f"from: {run['engine']}, {lines:,} records ({distinct:,} distinct), measured on {cores_on_run} cores; "
          f"driver {serial * 1e6:.1f} us per record (read + write), cluster {parallel * 1e6:.1f} core-us per "
          f"distinct text (embed + index + search); distinct share {distinct / lines:.1%}; modelled beyond that")
    print("| records | cores | driver (serial) | cluster (parallel) | total | vectors shuffled |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in (100_000_000, 1_000_000_000):
        texts = n * distinct / lines
        for cores in (8, 64, 512):
            s, p = n * serial, texts * parallel / cores
            gb = texts * dim * 4 * 2 / 1e9
            print(f"| {n:,} | {cores} | {_hours(s)} | {_hours(p)} | {_hours(s + p)} | {gb:,.0f} GB |")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, nargs="+", default=[100_000])
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--jsonl", action="store_true", help="JSON Lines records instead of text lines")
    ap.add_argument("--partitions", type=int, nargs="+", default=[0],
                    help="Ray engine cells, one run per value (0: the engine's default)")
    ap.add_argument("--engines", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--files", type=Path, nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--project", type=Path, default=None, metavar="RESULTS_JSON",
                    help="print the projection to larger inputs and clusters from a results.json of a run")
    args = ap.parse_args()
    if args.project:
        return project(json.loads(args.project.read_text()))
    if args.worker:
        return worker(args.worker, args.files, args.out, args.jsonl, args.partitions[0] or None)
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: the benchmark needs the shared data sets")

    pairs = load_pairs(DATA)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ray-dedup-bench-"))
    print(f"machine: {machine()}; {args.shards} shards of {'JSONL records' if args.jsonl else 'text lines'}; "
          f"seed {args.seed}", flush=True)
    print("| lines | engine | wall s | CPU s | load | driver peak MB | largest other process MB | all processes MB "
          "| processes | read s | Ray start s | embed s | index s | search s | write s | removed (exact + near) "
          "| local's removals also made | removals local does not make | outputs and report identical to local's |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    results = []
    for size in args.lines:
        folder = work / str(size)
        files = write_shards(build_workload(pairs, size, args.seed), folder / "input", args.shards, args.jsonl)
        runs = {}
        plan = [("local", 0)] if "local" in args.engines else []
        plan += [("ray", p) for p in args.partitions] if "ray" in args.engines else []
        for engine, parts in plan:
            label = engine if engine == "local" else f"ray, {parts or 'default'} partition{'s' * (parts != 1)}"
            cmd = [sys.executable, __file__, "--worker", engine, "--out", str(folder), "--files", *map(str, files),
                   *(["--jsonl"] if args.jsonl else []), "--partitions", str(parts)]
            stats = measured(cmd, folder / f"{engine}.log")
            summary = json.loads((folder / f"{engine}.summary.json").read_text())
            summary["digest"] = digest(folder / engine, folder / f"{engine}.jsonl")
            runs[label] = (stats, summary, removed(folder / f"{engine}.jsonl"))
        local = runs.get("local", (None, None, None))[2]
        local_digest = runs["local"][1]["digest"] if "local" in runs else None
        for engine, (stats, summary, gone) in runs.items():
            also = lost = float("nan")
            if local is not None and engine != "local":
                also = len(gone & local) / max(1, len(local))
                lost = len(gone - local) / max(1, len(gone))
            st = summary["stages"]
            row = {"lines": size, "engine": engine, **stats, "stages": st, "exact_removed": summary["exact_removed"],
                   "near_removed": summary["near_removed"], "also_removed": also, "extra_removed": lost,
                   "identical_outputs": None if local_digest is None else summary["digest"] == local_digest}
            results.append(row)
            print(f"| {size:,} | {engine} | {stats['wall_s']:.1f} | {stats['cpu_s']:.1f} | {stats['load']:.1f} "
                  f"| {stats['driver_peak_mb']:,.0f} | {stats['largest_other_peak_mb']:,.0f} "
                  f"| {stats['tree_peak_mb']:,.0f} | {stats['processes']} "
                  + " ".join(f"| {st.get(s, 0.0):.1f}" for s in ("read", "start", "embed", "index", "search", "write"))
                  + f" | {summary['exact_removed'] + summary['near_removed']:,} ({summary['exact_removed']:,} + "
                  f"{summary['near_removed']:,}) | {'' if also != also else f'{also:.3%}'} "
                  f"| {'' if lost != lost else f'{lost:.3%}'} "
                  f"| {'' if row['identical_outputs'] is None or engine == 'local' else ('yes' if row['identical_outputs'] else 'no')} |", flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {work / 'results.json'}")


if __name__ == "__main__":
    main()
