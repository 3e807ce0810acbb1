"""Bad input to `certchaos run` is refused within a second, as a user sees it: a fresh interpreter, the real CLI,
exit 2, one line, no report directory. (tests/unit/test_cli.py checks the refusals themselves; the time is a
figure of this machine, so it is measured here rather than asserted in a test.)

    python benchmarks/bad_input.py

The -k case reads pytest's collection of the catalogue as remembered in the cache (harness/collection.py);
the first run after a change to the catalogue or the harness collects again. The benchmark forgets that
collection first and runs each case twice: the target is for the second run, the first is printed beside it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.stack.binaries import cache_dir

TARGET_S = 1.0
CASES = [
    ["--worker-nodes", "2"],
    ["--provider", "kind", "--values", "missing-values.yaml"],
    ["--alert-rules", "missing-rules.yaml"],
    ["--time-scale", "fast"],
    ["--bin-dir", "no-such-bin-dir"],
    ["--kubernetes", "v1.99.0"],  # not a Kubernetes the lab builds
    ["--kubernetes", "v1.37.2"],  # cert-manager v1.11.5 does not support it (no --allow-unsupported-kubernetes)
    ["-k", "no_such_scenario"],  # pytest's own collection of the catalogue says so (a pytest process)
    ["gameday", "--time-scale", "-1"],
]


def refuse(options: list[str], report: Path) -> tuple[float, subprocess.CompletedProcess]:
    command = ([*options, "--report-dir", str(report)] if options[0] == "gameday"
               else ["run", "--report-dir", str(report), *options])
    began = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "harness.cli", *command], capture_output=True, text=True)
    return time.monotonic() - began, result


def main() -> int:
    shutil.rmtree(cache_dir() / "collection", ignore_errors=True)  # the -k case's first run collects
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for options in CASES:
            report = Path(tmp) / "report"
            first, _ = refuse(options, report)
            took, result = refuse(options, report)
            ok = result.returncode == 2 and took < TARGET_S and not report.exists()
            missed += not ok
            print(f"{took:5.2f}s (first {first:4.2f}s) exit {result.returncode} {'ok  ' if ok else 'MISS'} "
                  f"{' '.join(options)}: "
                  f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else '(nothing on stderr)'}")
    print(f"{len(CASES) - missed} of {len(CASES)} refused with exit 2 within {TARGET_S:g}s")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
