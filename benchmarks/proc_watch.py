"""Run a command and watch its process tree from the outside: wall time, CPU time, peak memory.

Shared by the dedup benchmarks. Every `interval` seconds the tree under the command is walked in
/proc (Linux): each process's CPU time (user + system) and peak resident memory are kept as the
largest seen, and the tree's total resident memory (RSS, shared pages counted in every process
that maps them) and proportional memory (PSS: a shared page split among the processes sharing
it, so Ray's object store counts once; read every few ticks) are summed; the peaks are reported.
Processes that start and end between two ticks are missed (the tree's CPU time is then only
what wait4 reports of the waited children), so prefer a run of seconds, not milliseconds.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def _stats(pid: int) -> tuple[float, float, float]:
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


def _pss(pid: int) -> float:
    """Proportional set size of one process in MB (0 where smaps_rollup is not readable)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree(pid: int) -> list[int]:
    """pid and every descendant process."""
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


def watch(cmd: list[str], log: Path, interval: float = 0.5, pss_every: int = 4) -> dict:
    """Run cmd (stderr into `log`), watching its tree. Raises RuntimeError when it fails.

    Returns:
        wall_s, cpu_s (the tree's, every process seen), driver_peak_mb (the command's own
        process), largest_other_peak_mb, tree_peak_mb (RSS summed), tree_peak_pss_mb (PSS summed),
        processes (seen), load (the machine's 1-minute load average around the run).
        PSS is read every `pss_every` ticks only: smaps_rollup walks every mapping of a process
        (the object store's among them), which costs the watcher real CPU time.
    """
    load = os.getloadavg()[0]
    start = time.perf_counter()
    cpu: dict[int, float] = {}
    hwm: dict[int, float] = {}
    rss_peak = pss_peak = 0.0
    tick = 0
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss_total = pss_total = 0.0
            tick += 1
            for p in tree(proc.pid):
                try:
                    c, rss, h = _stats(p)
                except (OSError, ValueError, IndexError):
                    continue
                cpu[p], hwm[p] = max(cpu.get(p, 0.0), c), max(hwm.get(p, 0.0), h)
                rss_total += rss
                pss_total += _pss(p) if tick % pss_every == 1 or pss_every == 1 else 0.0
            rss_peak, pss_peak = max(rss_peak, rss_total), max(pss_peak, pss_total)
            time.sleep(interval)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {log.read_text(errors='replace')[-3000:]}")
    waited = usage.ru_utime + usage.ru_stime  # the command and the children it waited for
    others = sum(c for p, c in cpu.items() if p != proc.pid)
    driver_peak = max(usage.ru_maxrss / 1024, hwm.get(proc.pid, 0.0))
    return {"wall_s": wall, "cpu_s": max(waited, cpu.get(proc.pid, 0.0) + others),
            "driver_peak_mb": driver_peak,
            "largest_other_peak_mb": max((h for p, h in hwm.items() if p != proc.pid), default=0.0),
            "tree_peak_mb": max(rss_peak, driver_peak), "tree_peak_pss_mb": pss_peak,
            "processes": len(cpu), "load": (load + os.getloadavg()[0]) / 2}


def main() -> None:
    """`python benchmarks/proc_watch.py --log FILE -- CMD ...`: watch one command, print its figures as JSON."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", type=Path, default=Path(os.devnull), help="where the command's stderr goes")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between two looks at the tree")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("give the command to watch after --")
    print(json.dumps(watch(cmd, args.log, args.interval), indent=2))


if __name__ == "__main__":
    main()
