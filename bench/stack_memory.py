"""Samples the resident memory of a running local stack, per service, and prints the peaks.

Each service is the process tree of its supervisord program (PostgreSQL's postmaster and every
backend; a Flink script and its JVM). Per sample and service it sums VmRSS (what `ps` shows; shared
pages such as PostgreSQL's shared_buffers are counted once per process that touched them) and Pss
from /proc/<pid>/smaps_rollup (shared pages divided among the processes sharing them: the tree's
own share, which adds up across services). Extra processes, e.g. a generator started by hand, are
named with --pid NAME=PID (their tree too).

    eval "$(scripts/stack env)"      # same THELOOK_STACK_DIR as the stack to measure
    python bench/stack_memory.py --interval 15 --duration 300 --pid generator=12345

Prints one line per sample, then per service the peak RSS and PSS (MiB) and the total: the largest
sum over one sample and the sum of the per-service peaks. Reading another user's smaps (the
`postgres` OS user) needs root; without it PSS shows as "-".
"""
import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATUS_ROW = re.compile(r"^(\S+)\s+(\S+)\s+(\d+|-)\s")


def service_pids():
    """{service: pid} of the programs `scripts/stack status` shows running."""
    out = subprocess.run([str(ROOT / "scripts" / "stack"), "status"], capture_output=True, text=True)
    pids = {}
    for line in out.stdout.splitlines()[2:]:
        m = STATUS_ROW.match(line)
        if m and m.group(2) == "running" and m.group(3).isdigit():
            pids[m.group(1)] = int(m.group(3))
    return pids


def children_map():
    kids = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def tree(pid, kids):
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(kids.get(p, ()))
    return seen


def _kib(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        return None
    return 0


def tree_memory(pid, kids):
    """(rss_kib, pss_kib or None) of a process tree."""
    rss = pss = 0
    for p in tree(pid, kids):
        r = _kib(f"/proc/{p}/status", "VmRSS:")
        rss += r or 0
        s = _kib(f"/proc/{p}/smaps_rollup", "Pss:")
        if s is None and r is not None:
            pss = None
        elif pss is not None:
            pss += s or 0
    return rss, pss


def mib(kib):
    return "-" if kib is None else f"{kib / 1024:.0f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--interval", type=float, default=15, help="seconds between samples (default 15)")
    ap.add_argument("--duration", type=float, default=300, help="seconds to sample (default 300)")
    ap.add_argument("--pid", action="append", default=[], metavar="NAME=PID",
                    help="also sample this process tree under NAME (repeatable)")
    args = ap.parse_args(argv)
    extra = {}
    for item in args.pid:
        name, _, pid = item.partition("=")
        if not pid.isdigit():
            ap.error(f"--pid wants NAME=PID, not {item!r}")
        extra[name] = int(pid)

    peaks, totals, names = {}, [], []
    end = time.monotonic() + args.duration
    started = time.monotonic()
    while True:
        pids = {**service_pids(), **extra}
        if not pids:
            print("stack_memory: error: no running service (is THELOOK_STACK_DIR the stack's?)", file=sys.stderr)
            return 2
        kids = children_map()
        sample = {name: tree_memory(pid, kids) for name, pid in pids.items() if os.path.exists(f"/proc/{pid}")}
        for name, (rss, pss) in sample.items():
            if name not in names:
                names.append(name)
            old = peaks.get(name, (0, 0))
            peaks[name] = (max(old[0], rss), None if pss is None or old[1] is None else max(old[1], pss))
        rss_sum = sum(r for r, _ in sample.values())
        pss_sum = None if any(p is None for _, p in sample.values()) else sum(p for _, p in sample.values())
        totals.append((rss_sum, pss_sum))
        print(f"t={time.monotonic() - started:5.0f}s " +
              " ".join(f"{n}={mib(r)}/{mib(p)}" for n, (r, p) in sample.items()) +
              f" total={mib(rss_sum)}/{mib(pss_sum)} MiB (RSS/PSS)", flush=True)
        if time.monotonic() + args.interval > end:
            break
        time.sleep(args.interval)

    print(f"\npeak over {len(totals)} samples, {args.interval:.0f} s apart (MiB)")
    print(f"{'service':12} {'RSS':>6} {'PSS':>6}")
    for name in names:
        rss, pss = peaks[name]
        print(f"{name:12} {mib(rss):>6} {mib(pss):>6}")
    best_rss = max(r for r, _ in totals)
    pss_values = [p for _, p in totals if p is not None]
    print(f"{'total':12} {mib(best_rss):>6} {mib(max(pss_values) if pss_values else None):>6}   (largest one-sample sum)")
    peak_pss = [p for _, p in peaks.values()]
    print(f"{'sum of peaks':12} {mib(sum(r for r, _ in peaks.values())):>6} "
          f"{mib(None if None in peak_pss else sum(peak_pss)):>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
