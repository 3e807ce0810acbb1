""".ci/run with a stand-in for make (MAKE=...): set-up first for both providers, `test` beside `test-kind`, and
`run-kind` once `test` passed, beside what is left of `test-kind`; any stage's failure (pytest's exit 5 too) fails
CI and its summary is printed again last; SIGTERM or Ctrl-C reaches every running stage as SIGINT, which CI waits
out (the stage's tests tear down) before it exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.wait import Seen, wait_for

CI = Path(__file__).resolve().parents[2] / ".ci" / "run"
# The stand-in logs "<target> <provider> start|end|interrupted" to $LOG; a target named in $FAIL exits 5 (pytest's
# "no tests collected"), one named in $HANG waits until interrupted, then takes a moment to tear down.
FAKE_MAKE = f"""#!{sys.executable}
import os, sys, time
target = sys.argv[1]

def log(what):
    with open(os.environ["LOG"], "a") as out:
        out.write(f"{{target}} {{os.environ.get('CERTCHAOS_PROVIDER', 'local')}} {{what}}\\n")

try:  # from the first line logged on: the test signals once every stage logged its start
    log("start")
    print(f"{{target}} output")
    if target in os.environ.get("FAIL", "").split():
        print(f"==== short test summary info ====\\nFAILED tests/{{target}}.py::test_it", flush=True)
        sys.exit(5)
    while target in os.environ.get("HANG", "").split():
        time.sleep(0.05)
except KeyboardInterrupt:
    time.sleep(1.0 if target == "test" else 0.2)  # teardowns that take time, the first stage's longest: CI waits
    log("interrupted")
    sys.exit(130)
log("end")
"""


# The stand-in for sysctl keeps fs.inotify.max_user_instances in $INOTIFY (a file); -w fails when $READ_ONLY is set.
FAKE_SYSCTL = f"""#!{sys.executable}
import os, sys
value = os.environ["INOTIFY"]
if sys.argv[1] == "-qw":
    if os.environ.get("READ_ONLY"):
        sys.exit("permission denied")
    open(value, "w").write(sys.argv[2].split("=")[1])
else:
    print(open(value).read())
"""


@pytest.fixture
def start_ci(tmp_path):
    """start_ci(**env) -> (CI's process, the stand-in's log); whatever of it is still running is killed after."""
    make = tmp_path / "make"
    make.write_text(FAKE_MAKE)
    make.chmod(0o755)
    log = tmp_path / "log"
    log.touch()
    sysctl = tmp_path / "sysctl"
    sysctl.write_text(FAKE_SYSCTL)
    sysctl.chmod(0o755)
    (tmp_path / "inotify").write_text("128")

    runs = []
    environ = {k: v for k, v in os.environ.items() if k != "CERTCHAOS_PROVIDER"}

    def start(ignore_sigint: bool = False, **env: str) -> tuple[subprocess.Popen, Path]:
        with open(tmp_path / "output", "w") as output:  # a file, not a pipe: CI's exit is not its stages' exit
            runs.append(subprocess.Popen(
                ["bash", str(CI)], env={**environ, "MAKE": str(make), "LOG": str(log), "SYSCTL": str(sysctl),
                 "INOTIFY": str(tmp_path / "inotify"), **env}, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None))
        return runs[-1], log

    yield start
    pids = [run.pid for run in runs if run.poll() is None]
    pids += subprocess.run(["pgrep", "-f", str(make)], capture_output=True, text=True).stdout.split()
    for pid in pids:
        os.kill(int(pid), signal.SIGKILL)


def finished(run: subprocess.Popen, tmp_path: Path) -> tuple[int, str]:
    """CI's exit status once it exited, and what it printed."""
    code = run.wait(timeout=60)
    return code, (tmp_path / "output").read_text()


def test_set_up_comes_first_then_test_beside_test_kind_and_run_kind_after_test(start_ci, tmp_path):
    run, log = start_ci()
    code, output = finished(run, tmp_path)
    assert code == 0, output
    lines = log.read_text().splitlines()
    assert lines[:4] == ["setup local start", "setup local end", "setup kind start", "setup kind end"]
    assert sorted(lines[4:]) == sorted(f"{stage} local {what}" for stage in ("test", "test-kind", "run-kind")
                                       for what in ("start", "end"))
    assert lines.index("run-kind local start") > lines.index("test local end")
    assert "[test-kind] test-kind output" in output.splitlines()


def test_run_kind_starts_while_test_kind_still_runs(start_ci, tmp_path):
    run, log = start_ci(HANG="test-kind")
    wait_for(lambda: Seen("run-kind local end" in log.read_text().splitlines(), log.read_text()),
             subject="the stand-in make", expected="run-kind ended while test-kind hangs", timeout=30, interval=0.05)
    assert "test-kind local end" not in log.read_text().splitlines()
    assert (tmp_path / "inotify").read_text() == "512"  # raised first: three clusters' nodes fit
    os.kill(run.pid, signal.SIGTERM)
    code, output = finished(run, tmp_path)
    assert code == 130, output
    assert "test-kind local interrupted" in log.read_text().splitlines()


def test_run_kind_waits_for_test_kind_when_the_inotify_limit_stays_too_low_for_three_clusters(start_ci, tmp_path):
    run, log = start_ci(READ_ONLY="1")
    code, output = finished(run, tmp_path)
    assert code == 0, output
    lines = log.read_text().splitlines()
    assert lines.index("run-kind local start") > max(lines.index("test local end"), lines.index("test-kind local end"))
    assert "fs.inotify.max_user_instances is 128" in output and "run-kind waits for test-kind" in output


@pytest.mark.parametrize("failing", ["test", "test-kind"])
def test_a_stage_that_fails_fails_ci_after_the_others_finished(start_ci, tmp_path, failing):
    run, log = start_ci(FAIL=failing)
    code, output = finished(run, tmp_path)
    assert code == 1, output
    ran = log.read_text().splitlines()
    assert "test-kind local end" in ran or failing == "test-kind"
    # run-kind starts only once test passed; a failing test-kind does not stop a run-kind already running
    assert ("run-kind local end" in ran) == (failing != "test"), ran
    # the failed stage's summary comes again at the end, after everything the other stages printed
    end = output.splitlines()[-4:]
    assert end == [f"ci: {failing} failed; the end of its output again:",
                   f"[{failing}] ==== short test summary info ====", f"[{failing}] FAILED tests/{failing}.py::test_it",
                   "ci: a stage failed (see its [name] lines above)"], output


# The last: CI started as a shell's background job (SIGINT ignored from the start, inherited by what it starts).
@pytest.mark.parametrize("signum, ignore_sigint", [(signal.SIGTERM, False), (signal.SIGINT, False),
                                                   (signal.SIGTERM, True)])
def test_a_signal_interrupts_both_running_stages_and_ci_waits_for_their_teardown(start_ci, tmp_path, signum,
                                                                                ignore_sigint):
    run, log = start_ci(ignore_sigint, HANG="test test-kind")

    def both_running() -> Seen:
        ran = log.read_text().splitlines()
        return Seen({"test local start", "test-kind local start"} <= set(ran), ran)

    wait_for(both_running, subject="the stand-in make", expected="test and test-kind started", timeout=30,
             interval=0.05)
    os.kill(run.pid, signum)
    code, output = finished(run, tmp_path)
    assert code == 130, output
    ran = log.read_text().splitlines()
    assert {"test local interrupted", "test-kind local interrupted"} <= set(ran), ran
    assert not any(line.startswith("run-kind") for line in ran)
    assert subprocess.run(["pgrep", "-f", str(tmp_path / "make")], capture_output=True).returncode == 1  # none left
