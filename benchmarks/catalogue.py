"""The catalogue at its limit (issue #24): runs `certchaos run` once and prints its wall time, its longest
scenario, their ratio (target 1.3), the CPU and peak memory of the run's process tree (the lab's processes and
the pytest workers; on kind the node containers run under dockerd and are not counted), and where the time
outside the longest scenario went.

    python benchmarks/catalogue.py [--record] [any `certchaos run` option, e.g. --workers 4 --provider kind]

--record writes each scenario's seconds into scenarios/durations.toml (what `certchaos run` orders by).

Exits 1 when the run fails or the ratio is above the target.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness.cli import order
from harness.cli.run import DEFAULT_WORKERS
from harness.report.timing import CatalogueTiming

RATIO_TARGET = 1.3
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (which may hold spaces): [0] state, [1] ppid, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


class TreeSampler(threading.Thread):
    """Samples the process tree under one pid every second: peak resident memory, and CPU seconds as the sum of
    each process's last reading (a process that exits between samples loses at most its last second)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peak_rss, self.cpu_by_pid = root, 0, {}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            stats = {int(entry.name): _stat(int(entry.name)) for entry in Path("/proc").iterdir()
                     if entry.name.isdigit()}
            children: dict[int, list[int]] = {}
            for pid, fields in stats.items():
                if fields:
                    children.setdefault(int(fields[1]), []).append(pid)
            pending, rss = [self.root], 0
            while pending:
                pid = pending.pop()
                pending.extend(children.get(pid, ()))
                if fields := stats.get(pid):
                    self.cpu_by_pid[pid] = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
                    rss += int(fields[21]) * PAGE
            self.peak_rss = max(self.peak_rss, rss)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="passed to `certchaos run` (default: its own)")
    parser.add_argument("--provider", default="local", help="passed to `certchaos run` (default local)")
    parser.add_argument("--record", action="store_true", help="write the durations into scenarios/durations.toml")
    args, run_options = parser.parse_known_args()
    run_options += ["--provider", args.provider]
    if args.workers is not None:
        run_options += ["--workers", str(args.workers)]
    report = Path(tempfile.mkdtemp(prefix="certchaos-bench-catalogue-"))
    began = time.time()
    child = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "--report-dir", str(report), *run_options])
    sampler = TreeSampler(child.pid)
    sampler.start()
    try:
        code = child.wait()
    finally:
        sampler.stopped.set()
        if child.poll() is None:
            child.terminate()
            child.wait()
    ended = time.time()
    timing = CatalogueTiming.from_report(report, began, ended, args.workers or DEFAULT_WORKERS)
    longest = timing.longest
    print(f"report: {report}")
    print(f"run: {timing.wall:.0f} s, exit {code}, {len(timing.spans)} scenarios ran")
    if longest:
        print(f"longest scenario: {longest.name} {longest.seconds:.0f} s (queued {timing.longest_queued:.0f} s "
              f"after the first started); ratio {timing.ratio:.2f} (target {RATIO_TARGET})")
    cpu = sum(sampler.cpu_by_pid.values())
    print(f"CPU: {cpu:.0f} s over {timing.wall:.0f} s wall ({cpu / timing.wall:.2f} cores); "
          f"peak memory {sampler.peak_rss / 2**20:.0f} MiB")
    for part, seconds in timing.breakdown().items():
        print(f"  {part}: {seconds:.0f} s")
    if args.record and code == 0:
        order.record(args.provider, {**{span.node_id: span.seconds for span in timing.spans},
                                     **{node: 0.0 for node in timing.not_applicable}})
        print(f"recorded in {order.DURATIONS}")
    return 0 if code == 0 and timing.ratio <= RATIO_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
