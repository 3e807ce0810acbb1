"""The kind provider's figures (issue #9): images build with nothing changed (or forced), cluster create to
cert-manager Ready, the node containers' memory, and optionally the catalogue on local and on kind (the ratio).

Target: a single-node cluster up (create, node Ready, images loaded, chart installed, webhook answering) in
under 90 s warm on 2 cores. Prints one line per step and run; exits non-zero if the target is missed, a run
fails, or a cluster leaves a container behind.

    python benchmarks/kind.py [--runs 2] [--worker-nodes 0] [--force-images] [--catalogues]

Needs root for dockerd if no Docker engine answers (started here, stopped at the end). --catalogues runs
`certchaos run` on local, then on kind with 2 workers (about 10 + 17 min on this machine).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time

from harness.stack.kind import images
from harness.stack.kind.engine import DockerEngine
from harness.stack.kind.provider import CLUSTER_LABEL, KindStack

UP_TARGET_S = 90.0
UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def node_memory(engine: DockerEngine, cluster: str) -> dict[str, int]:
    """Each node container's memory use in bytes (`docker stats`: its cgroup's usage)."""
    names = engine.docker("ps", "-q", "--filter", f"label={CLUSTER_LABEL}={cluster}").stdout.split()
    stats = engine.docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", *names).stdout
    memory = {}
    for line in stats.splitlines():
        name, usage = line.split(" ", 1)
        number, unit = re.match(r"([\d.]+)\s*([KMG]?i?B)", usage).groups()
        memory[name] = int(float(number) * UNITS[unit])
    return memory


def left_behind(engine: DockerEngine, cluster: str) -> list[str]:
    return engine.docker("ps", "-aq", "--filter", f"label={CLUSTER_LABEL}={cluster}").stdout.split()


def catalogue(*extra: str) -> tuple[float, int]:
    report = tempfile.mkdtemp(prefix="certchaos-bench-catalogue-")
    began = time.monotonic()
    code = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--report-dir", report, *extra]).returncode
    return time.monotonic() - began, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="clusters to start and stop (default 2)")
    parser.add_argument("--worker-nodes", type=int, default=0, help="workers beside the control plane")
    parser.add_argument("--force-images", action="store_true", help="rebuild every image (cold), not only check")
    parser.add_argument("--catalogues", action="store_true", help="also time the catalogue on local and on kind")
    args = parser.parse_args()
    engine = DockerEngine()
    engine.start()
    ok = True
    try:
        began = time.monotonic()
        images.Builder(engine, force=args.force_images).build()
        print(f"images build ({'forced' if args.force_images else 'nothing changed'}): "
              f"{time.monotonic() - began:.1f}s", flush=True)
        ups = []
        for run in range(1, args.runs + 1):
            stack = KindStack(workers=args.worker_nodes)
            began = time.monotonic()
            with stack:
                ups.append(time.monotonic() - began)
                memory = node_memory(engine, stack.name)
            left = left_behind(engine, stack.name)
            ok &= not left
            print(f"run {run}: cluster up to cert-manager Ready in {ups[-1]:.1f}s; memory "
                  + ", ".join(f"{name} {used / 2**20:.0f} MiB" for name, used in sorted(memory.items()))
                  + f" (total {sum(memory.values()) / 2**20:.0f} MiB); containers left after stop: {len(left)}",
                  flush=True)
        print(f"cluster up ({1 + args.worker_nodes} node(s)): median {statistics.median(ups):.1f}s, max "
              f"{max(ups):.1f}s" + (f" (target < {UP_TARGET_S:.0f}s)" if not args.worker_nodes else ""))
        if not args.worker_nodes:
            ok &= max(ups) < UP_TARGET_S
        if args.catalogues:
            local, local_code = catalogue()
            kind, kind_code = catalogue("--provider", "kind", "--worker-nodes", "2", "--workers", "4")
            print(f"catalogue: local {local / 60:.1f} min (exit {local_code}), kind {kind / 60:.1f} min "
                  f"(exit {kind_code}): kind/local {kind / local:.2f}")
            ok &= local_code == kind_code == 0
    finally:
        engine.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
