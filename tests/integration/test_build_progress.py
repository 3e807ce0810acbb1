"""A long `go build` shows how far it is: periodic lines with the elapsed time and compiled/total packages.

Real Go on a tiny module with an empty build cache, so the standard library packages it needs really compile
(10-30 s on a loaded 2-core machine) and progress lines are due at a short interval.
"""

from __future__ import annotations

import io
import os
import re

import pytest

from harness.stack.binaries import go_build_with_progress
from harness.stack.gotoolchain import find_go

GO = find_go()  # PATH's if new enough, else the one scripts/setup.sh fetched
pytestmark = pytest.mark.skipif(GO is None, reason="needs the Go toolchain (scripts/setup.sh fetches it)")

PROGRESS = re.compile(r"^  tiny: (\d+)s, (\d+) of at most (\d+) packages compiled \(cached ones are not rebuilt\)"
                      r"(, now \S+)?$")


def _module(tmp_path, source: str, *, cold: bool):
    module = tmp_path / "tiny"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/tiny\n\ngo 1.21\n")
    (module / "main.go").write_text(source)
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    if cold:
        env["GOCACHE"] = str(tmp_path / "gocache")  # nothing cached: every package really compiles
    return module, env


def test_a_cold_build_prints_periodic_progress_then_the_count(tmp_path):
    module, env = _module(tmp_path, 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println() }\n', cold=True)
    out = io.StringIO()
    # every=0.25 s: with an empty cache, compiling fmt's ~20 std packages (runtime among them) takes seconds.
    code = go_build_with_progress([GO, "build", "-v", "-o", str(tmp_path / "bin") + "/", "."], module, env, out,
                                  label="tiny", every=0.25)
    assert code == 0 and (tmp_path / "bin" / "tiny").exists()
    lines = out.getvalue().splitlines()
    progress = [PROGRESS.match(line) for line in lines if PROGRESS.match(line)]
    assert len(progress) >= 2, lines
    counts = [int(m.group(2)) for m in progress]
    assert counts == sorted(counts) and counts[-1] > 0  # monotonic, and it moved
    total = int(progress[0].group(3))
    assert total > 10  # go list -deps: fmt needs runtime, reflect, strconv, os, ...
    final = re.fullmatch(r"  tiny: (\d+) packages compiled in \d+s", lines[-1])
    assert final and counts[-1] <= int(final.group(1)) <= total


def test_a_failing_build_passes_go_errors_through_and_returns_its_exit_code(tmp_path):
    module, env = _module(tmp_path, "package main\n\nfunc main() { undefined_name() }\n", cold=False)
    out = io.StringIO()
    code = go_build_with_progress([GO, "build", "-v", "-o", str(tmp_path / "bin") + "/", "."], module, env, out,
                                  label="tiny", every=30.0)
    assert code != 0
    assert "undefined: undefined_name" in out.getvalue()  # an error line is never swallowed as a package name
