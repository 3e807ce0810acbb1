"""SIGTERM takes Ctrl-C's path: every `finally` runs (a second SIGTERM does not cut it short) and certchaos
exits 143; Ctrl-C exits 130. `certchaos run`'s pytest gets exactly one SIGINT from certchaos, whichever signal
certchaos got, and has finished its clean-up before certchaos goes on. Each case runs certchaos in a process
of its own (a signal to this test's process would end the test run), with a stand-in command module."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WAIT = 60  # seconds for a line the child prints within a second or two, on a machine that is also building

COMMAND = '''
import sys, time
from harness.cli import run

def register(subparsers):
    slow = subparsers.add_parser("slow")
    slow.add_argument("mode")
    slow.set_defaults(handler=handler)

def handler(args):
    try:
        if args.mode == "sleep":
            print("ready", flush=True)
            time.sleep(WAIT)
        else:  # what `certchaos run` does with pytest
            print("exit", run.run_pytest([sys.executable, "PYTEST"], {}), flush=True)
    finally:
        print("cleanup started", flush=True)
        time.sleep(1)  # the test sends another signal now
        print("cleaned up", flush=True)
'''

# The stand-in for pytest: reverts "its faults" on SIGINT, counting the SIGINTs it got.
PYTEST = '''
import os, signal, sys, time
got = []

def interrupted(*_):
    got.append(1)
    if len(got) == 1:
        time.sleep(0.5)  # reverting faults, saving journals
        # os.write: the signal may land while print("ready") still holds stdout's lock (a reentrant print raises).
        os.write(1, f"pytest: reverted after {len(got)} SIGINT\\n".encode())
        sys.exit(2)

signal.signal(signal.SIGINT, interrupted)
print("ready", flush=True)
time.sleep(WAIT)
'''


def _certchaos(tmp_path: Path, mode: str) -> subprocess.Popen:
    (tmp_path / "pytest_stand_in.py").write_text(PYTEST.replace("WAIT", str(WAIT)))
    (tmp_path / "slowcommand.py").write_text(COMMAND.replace("WAIT", str(WAIT)).replace(
        "PYTEST", str(tmp_path / "pytest_stand_in.py")))
    driver = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(tmp_path)!r}, {str(REPO)!r}]
        from harness.cli import main
        main.COMMAND_MODULES = {{"slowcommand": ("slow",)}}
        sys.exit(main.main(["slow", {mode!r}]))
    """)
    # Its own session, so the test can signal its process group as a terminal's Ctrl-C does.
    return subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def _read_until(process: subprocess.Popen, text: str, seen: list[str]) -> None:
    for line in process.stdout:
        seen.append(line.rstrip())
        if text in line:
            return
    raise AssertionError(f"the child ended before printing {text!r}: {seen}")


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_runs_every_finally_to_its_end_and_exits_with_its_code(tmp_path, signum, code):
    process = _certchaos(tmp_path, "sleep")
    seen: list[str] = []
    try:
        _read_until(process, "ready", seen)
        os.kill(process.pid, signum)
        _read_until(process, "cleanup started", seen)
        if signum == signal.SIGTERM:
            os.kill(process.pid, signal.SIGTERM)  # a second SIGTERM while cleaning up is ignored
        assert process.wait(timeout=WAIT) == code, seen
        seen += process.stdout.read().splitlines()
    finally:
        process.kill()
    assert "cleaned up" in seen


@pytest.mark.parametrize("how,code", [("sigterm", 143), ("terminal ctrl-c", 130)])
def test_run_pytest_gets_one_sigint_and_finishes_before_certchaos_goes_on(tmp_path, how, code):
    process = _certchaos(tmp_path, "pytest")
    seen: list[str] = []
    try:
        _read_until(process, "ready", seen)  # the stand-in for pytest is ready
        if how == "sigterm":
            os.kill(process.pid, signal.SIGTERM)  # to certchaos alone, as a CI runner or `kill` does
        else:
            os.killpg(process.pid, signal.SIGINT)  # to certchaos's foreground group, as a terminal does
        assert process.wait(timeout=WAIT) == code, seen
        seen += process.stdout.read().splitlines()
    finally:
        process.kill()
    # pytest reverted once, before certchaos's own clean-up; certchaos did not report an exit of its own.
    assert seen.index("pytest: reverted after 1 SIGINT") < seen.index("cleanup started"), seen
    assert not [line for line in seen if line.startswith("exit ")], seen


def test_run_pytest_stops_cleanly_even_when_certchaos_is_killed(tmp_path):
    """SIGKILL to certchaos (a runner that gave up waiting) cannot be forwarded: the parent-death signal is."""
    (tmp_path / "pytest_stand_in.py").write_text(PYTEST.replace("WAIT", str(WAIT)))
    driver = textwrap.dedent(f"""
        import os, subprocess, sys, time
        sys.path[:0] = [{str(REPO)!r}]
        from harness.cli import run
        subprocess.Popen([sys.executable, "-c", run.DIES_WITH_PARENT, str(os.getpid()), "pytest_stand_in"],
                         start_new_session=True, env=dict(os.environ, PYTHONPATH={str(tmp_path)!r}))
        time.sleep({WAIT})
    """)
    process = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    seen: list[str] = []
    try:
        _read_until(process, "ready", seen)  # the stand-in shares the driver's stdout
        process.kill()
        _read_until(process, "pytest: reverted after 1 SIGINT", seen)
    finally:
        process.kill()
        process.wait()


def test_a_pytest_started_by_certchaos_takes_sigint_even_when_certchaos_ignores_it(tmp_path):
    """A background job (`certchaos run &` in a script, nohup) inherits SIGINT ignored, and Python keeps an inherited
    SIG_IGN: pytest would never stop on certchaos's SIGINT, its faults never reverted."""
    (tmp_path / "pytest_stand_in.py").write_text(textwrap.dedent(f"""
        import time
        try:
            print("ready", flush=True)
            time.sleep({WAIT})
        except KeyboardInterrupt:
            print("pytest: KeyboardInterrupt", flush=True)
    """))
    driver = textwrap.dedent(f"""
        import os, signal, subprocess, sys
        sys.path[:0] = [{str(REPO)!r}]
        from harness.cli import run
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", run.DIES_WITH_PARENT, str(os.getpid()), "pytest_stand_in"],
                                 env=dict(os.environ, PYTHONPATH={str(tmp_path)!r}))
        sys.exit(child.wait())
    """)
    process = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    seen: list[str] = []
    try:
        _read_until(process, "ready", seen)
        os.killpg(process.pid, signal.SIGINT)  # the driver ignores it; its child must not
        _read_until(process, "pytest: KeyboardInterrupt", seen)
    finally:
        process.kill()
        process.wait()
