"""Warm start of the local stack: seconds to ready and resident memory of the whole stack.

Targets (issue #2): ready in under 30 s on a 2-core machine with the binaries cached, under 2 GiB RSS.
Prints one line per run and a summary; exits non-zero if a target is missed. Also checks that stopping
leaves no process of the stack behind.

    python benchmarks/stack_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from harness.stack.local import LocalStack, stack_processes

START_TARGET_S = 30.0
RSS_TARGET_BYTES = 2 * 1024**3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    starts, rss = [], []
    for run in range(1, args.runs + 1):
        began = time.monotonic()
        stack = LocalStack().start()
        ready = time.monotonic() - began
        # Memory right after ready, and again once the controllers have synced their caches.
        first = stack.rss_bytes()
        settled_at = time.monotonic() + 5
        while time.monotonic() < settled_at:
            time.sleep(0.5)  # sampling interval of a measurement, not synchronisation
        settled = stack.rss_bytes()
        run_dir = stack.run_dir
        stack.stop()
        left = stack_processes(run_dir)
        starts.append(ready)
        rss.append(max(first, settled))
        print(f"run {run}: ready in {ready:.1f}s, stack RSS {max(first, settled) / 2**20:.0f} MiB, "
              f"processes left after stop: {len(left)}", flush=True)
        if left:
            print(f"  leaked pids: {left}", file=sys.stderr)
            return 1
    print(f"warm start: median {statistics.median(starts):.1f}s, max {max(starts):.1f}s "
          f"(target < {START_TARGET_S:.0f}s); RSS max {max(rss) / 2**20:.0f} MiB "
          f"(target < {RSS_TARGET_BYTES / 2**20:.0f} MiB)")
    return 0 if max(starts) < START_TARGET_S and max(rss) < RSS_TARGET_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
