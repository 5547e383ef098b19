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
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from dedup_bench import DATA, build_workload, load_pairs, machine  # noqa: E402
from proc_watch import watch  # noqa: E402

OBJECT_STORE_MB = 3072  # the Ray instance's object store (it spills to disk beyond)
STAGES = ("start", "read", "group", "embed", "index", "search", "resolve", "write")  # the local engine has
# no start, group or resolve: it groups while it reads and resolves as it writes


def build_distinct(pairs, size: int, distinct: int, seed: int):
    """A workload of `size` records with `distinct` different texts, all built from real sentences:
    every sentence of the labelled pairs, then texts of two sentences, "x z" and "y z" for a seeded
    labelled pair (x, y) and a seeded sentence z (a paraphrase pair gives a near duplicate, a
    label-0 pair a trap), until there are `distinct` texts; each text appears once, then seeded
    repeats fill the workload, shuffled. -> (texts, (size,) int32 index of each record's text)"""
    import numpy as np

    from siamese_text.text.tokenizer import normalize

    rng = np.random.default_rng(seed)
    texts, seen = [], set()

    def add(text: str) -> None:
        key = normalize(text)
        if key not in seen and len(texts) < distinct:
            seen.add(key)
            texts.append(text)

    sentences = [s for p in pairs for s in p[:2]]
    for s in sentences:
        add(s)
    while len(texts) < distinct:
        for p, z in zip(rng.integers(0, len(pairs), 65536).tolist(), rng.integers(0, len(sentences), 65536).tolist()):
            x, y, _ = pairs[p]
            add(f"{x} {sentences[z]}")
            add(f"{y} {sentences[z]}")
    order = np.concatenate([np.arange(len(texts)), rng.integers(0, len(texts), size - len(texts))]).astype(np.int32)
    rng.shuffle(order)
    return texts, order


def write_shards(texts: list[str], order, folder: Path, shards: int, jsonl: bool) -> list[Path]:
    """Records texts[order[i]] cut into `shards` consecutive files (record order = shard order,
    then line order); JSONL records are {"id": i, "text": ...}."""
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(order) // shards)
    files = []
    for s in range(shards):
        file = folder / (f"shard-{s:04d}.jsonl" if jsonl else f"shard-{s:04d}.txt")
        with open(file, "w", encoding="utf-8", newline="\n") as fh:
            for i, t in enumerate(order[s * size : (s + 1) * size].tolist(), start=s * size):
                fh.write(json.dumps({"id": i, "text": texts[t]}, ensure_ascii=False) + "\n" if jsonl
                         else texts[t] + "\n")
        files.append(file)
    return files


def worker(engine: str, files: list[Path], out: Path, jsonl: bool, partitions: int | None) -> None:
    """One dedup_files run (in its own process); its summary as JSON beside the outputs."""
    from siamese_text.dedup.files import dedup_files
    from siamese_text.dedup.stages import DedupConfig

    chosen = engine
    if engine == "ray":
        import logging

        import ray

        from siamese_text.dedup.ray_engine import RayEngine

        # a local instance with a bounded object store (Ray's default is 30% of the machine's
        # memory); the engine joins this process's instance
        ray.init(num_cpus=os.cpu_count(), object_store_memory=OBJECT_STORE_MB << 20, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.ERROR)
        chosen = RayEngine(partitions=partitions)
    records = {"format": "jsonl", "text_fields": ["text"]} if jsonl else {}
    summary = dedup_files(files, out / engine, out / f"{engine}.jsonl", overwrite=True,
                          config=DedupConfig(threads=1), engine=chosen, **records)
    (out / f"{engine}.summary.json").write_text(json.dumps({
        "records": summary.records, "exact_removed": summary.exact_removed,
        "near_removed": summary.near_removed, "seconds": summary.seconds, "stages": summary.stages}))
    if engine == "ray":
        ray.shutdown()


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
    largest measured Ray run.

    Measured on that run, as core-seconds (a stage's wall time times the cores it had: an upper
    bound, the cores were not all busy): per record, the stages that touch every record (read,
    group, resolve, write: tasks, one per shard or bucket); per distinct text, the stages that
    touch distinct texts (embed, index, search: actors and tasks; search includes keep-first on the
    driver, linear in the pairs). Modelled: both divided by the cores (perfect scaling: no
    network, no stragglers, enough shards and buckets to keep every core busy), Ray's start-up
    unchanged, the distinct share of the measured workload, and the data each shuffle moves: per
    record its hash, position and length (40 bytes) and the text of first copies (group), per
    distinct text its vector twice (index: dim float32 in two cells). The driver holds 16 bytes per
    distinct text (position, length) and the pairs, ~24 bytes per removed distinct text.
    """
    runs = [r for r in results if r["engine"].startswith("ray")]
    if not runs:
        sys.exit("no Ray run in these results")
    run = max(runs, key=lambda r: (r["lines"], "default" in r["engine"] or "1 partition" not in r["engine"]))
    stages, lines = run["stages"], run["lines"]
    distinct = run.get("distinct") or lines - run["exact_removed"]
    per_record = sum(stages.get(k, 0.0) for k in ("read", "group", "resolve", "write")) * cores_on_run / lines
    per_text = sum(stages.get(k, 0.0) for k in ("embed", "index", "search")) * cores_on_run / distinct
    start = stages.get("start", 0.0)
    dim = run.get("dim", 384)
    print(f"from: {run['engine']}, {lines:,} records ({distinct:,} distinct), measured on {cores_on_run} cores: "
          f"{per_record * 1e6:.1f} core-us per record (read + group + resolve + write), {per_text * 1e6:.0f} "
          f"core-us per distinct text (embed + index + search); distinct share {distinct / lines:.1%}; "
          "modelled beyond that")
    print("| records | cores | per-record stages | per-text stages | total | shuffled: group | shuffled: vectors "
          "| driver memory |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in (100_000_000, 1_000_000_000):
        texts = n * distinct / lines
        for cores in (8, 64, 512):
            r, t = n * per_record / cores, texts * per_text / cores
            group_gb = (n * 40 + texts * 100) / 1e9
            vec_gb = texts * dim * 4 * 2 / 1e9
            driver_gb = texts * (16 + 24) / 1e9
            print(f"| {n:,} | {cores} | {_hours(r)} | {_hours(t)} | {_hours(start + r + t)} | {group_gb:,.0f} GB "
                  f"| {vec_gb:,.0f} GB | {driver_gb:,.1f} GB |")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, nargs="+", default=[100_000])
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--distinct", type=int, default=0,
                    help="different texts in the workload (0: dedup_bench's workload, ~43k sentences repeated)")
    ap.add_argument("--jsonl", action="store_true", help="JSON Lines records instead of text lines")
    ap.add_argument("--partitions", type=int, nargs="+", default=[0],
                    help="Ray engine cells, one run per value (0: the engine's default)")
    ap.add_argument("--engines", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse-local", action="store_true",
                    help="with --engines ray: compare with the local engine's outputs that an earlier run of "
                         "the same command left in --workdir (same inputs: same sizes, shards and seed)")
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
    print("| records | engine | wall s | CPU s | load | driver peak MB | largest other process MB "
          "| all processes MB (RSS) | all processes MB (PSS) | processes | "
          + " | ".join(f"{s} s" for s in STAGES) + " | removed (exact + near) "
          "| local's removals also made | removals local does not make | outputs and report identical to local's |")
    print("|---:|---|" + "---:|" * (8 + len(STAGES)) + "---:|---:|---:|---:|", flush=True)
    results = []
    for size in args.lines:
        folder = work / str(size)
        if args.distinct:
            texts, order = build_distinct(pairs, size, args.distinct, args.seed)
        else:  # dedup_bench's workload: the labelled pairs' sentences, repeated
            import numpy as np

            from siamese_text.text.tokenizer import normalize

            texts = build_workload(pairs, size, args.seed)
            order = np.arange(size)
        distinct = len({normalize(t) for t in texts}) if not args.distinct else len(texts)
        files = write_shards(texts, order, folder / "input", args.shards, args.jsonl)
        del texts, order
        runs = {}
        plan = [("ray", p) for p in args.partitions] if "ray" in args.engines else []
        plan += [("local", 0)] if "local" in args.engines else []  # after Ray: a failing Ray run fails early
        for engine, parts in plan:
            label = engine if engine == "local" else f"ray, {parts or 'default'} partition{'s' * (parts != 1)}"
            cmd = [sys.executable, __file__, "--worker", engine, "--out", str(folder), "--files", *map(str, files),
                   *(["--jsonl"] if args.jsonl else []), "--partitions", str(parts)]
            stats = watch(cmd, folder / f"{engine}.log")
            summary = json.loads((folder / f"{engine}.summary.json").read_text())
            summary["digest"] = digest(folder / engine, folder / f"{engine}.jsonl")
            runs[label] = (stats, summary, removed(folder / f"{engine}.jsonl"))
        local = runs.get("local", (None, None, None))[2]
        local_digest = runs["local"][1]["digest"] if "local" in runs else None
        if local is None and args.reuse_local and (folder / "local.jsonl").is_file():
            local, local_digest = removed(folder / "local.jsonl"), digest(folder / "local", folder / "local.jsonl")
            print(f"compared with the local engine's outputs of an earlier run in {folder}", flush=True)
        for engine, (stats, summary, gone) in runs.items():
            also = lost = float("nan")
            if local is not None and engine != "local":
                also = len(gone & local) / max(1, len(local))
                lost = len(gone - local) / max(1, len(gone))
            st = summary["stages"]
            row = {"lines": size, "distinct": distinct, "engine": engine, **stats, "stages": st, "exact_removed": summary["exact_removed"],
                   "near_removed": summary["near_removed"], "also_removed": also, "extra_removed": lost,
                   "identical_outputs": None if local_digest is None else summary["digest"] == local_digest}
            results.append(row)
            print(f"| {size:,} | {engine} | {stats['wall_s']:.1f} | {stats['cpu_s']:.1f} | {stats['load']:.1f} "
                  f"| {stats['driver_peak_mb']:,.0f} | {stats['largest_other_peak_mb']:,.0f} "
                  f"| {stats['tree_peak_mb']:,.0f} | {stats['tree_peak_pss_mb']:,.0f} | {stats['processes']} "
                  + " ".join(f"| {st.get(s, 0.0):.1f}" for s in STAGES)
                  + f" | {summary['exact_removed'] + summary['near_removed']:,} ({summary['exact_removed']:,} + "
                  f"{summary['near_removed']:,}) | {'' if also != also else f'{also:.3%}'} "
                  f"| {'' if lost != lost else f'{lost:.3%}'} "
                  f"| {'' if row['identical_outputs'] is None or engine == 'local' else ('yes' if row['identical_outputs'] else 'no')} |", flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {work / 'results.json'}")


if __name__ == "__main__":
    main()
