"""Reload figures on kind: kubelet propagation delay (renewal to the new file in every pod) and Reloader
delay (Secret update to every pod serving the new certificate), median and max over runs.

    python benchmarks/reloads.py REPORT_DIR [REPORT_DIR...]   # journals of scenarios/test_reloads.py runs
    python benchmarks/reloads.py --runs 3 [--reloader-image IMAGE]   # run the two measuring scenarios 3 times

Each run of `--runs` starts its own kind cluster (pytest --certchaos-provider kind), ~3-6 min per run on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from harness.report.journal import EntryKind, Journal

ROOT = Path(__file__).resolve().parent.parent
MEASURING = "kubelet_sync or reloader_rolls"  # the scenarios that record the two figures
FIGURES = ("figure: kubelet propagation delay", "figure: Reloader delay")


def collect(report_dirs: list[Path]) -> dict[str, list[tuple[float, str]]]:
    found: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for report_dir in report_dirs:
        for path in sorted(report_dir.rglob("journal.json")):
            for entry in Journal.load(path).entries:
                if entry.kind == EntryKind.NOTE and entry.subject.startswith("figure: "):
                    found[entry.subject].append((entry.detail["seconds"], entry.detail.get("reloader", "")))
    return found


def run(runs: int, reloader_image: str | None) -> list[Path]:
    dirs = []
    for index in range(runs):
        report = Path(tempfile.mkdtemp(prefix=f"certchaos-reloads-{index}-"))
        command = [sys.executable, "-m", "pytest", str(ROOT / "scenarios/test_reloads.py"), "-p", "no:cacheprovider",
                   "--certchaos-provider", "kind", "-k", MEASURING, "--certchaos-report-dir", str(report), "-q"]
        if reloader_image:
            command += ["--certchaos-reloader-image", reloader_image]
        print(f"run {index + 1}/{runs}: {' '.join(command)}", flush=True)
        subprocess.run(command, cwd=ROOT)
        dirs.append(report)
    return dirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report_dirs", nargs="*", type=Path)
    parser.add_argument("--runs", type=int, default=0, help="run the measuring scenarios this many times first")
    parser.add_argument("--reloader-image", help="another Stakater Reloader image than our build of v1.4.22")
    args = parser.parse_args()
    dirs = list(args.report_dirs) + (run(args.runs, args.reloader_image) if args.runs else [])
    if not dirs:
        parser.error("give report dirs or --runs N")
    found = collect(dirs)
    for name in sorted(found):
        values = sorted(seconds for seconds, _ in found[name])
        who = sorted({r for _, r in found[name] if r})
        print(f"{name.removeprefix('figure: ')}: median {statistics.median(values):.1f}s, max {values[-1]:.1f}s "
              f"over {len(values)} runs{' (' + ', '.join(who) + ')' if who else ''}: {values}")
    missing = [f for f in FIGURES if f not in found]
    for name in missing:
        print(f"{name.removeprefix('figure: ')}: no measurement in {', '.join(map(str, dirs))}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
