"""Leftovers for real on the local provider: a `certchaos run` SIGKILLed with its lab up leaves its run dirs;
`certchaos doctor` lists them, `certchaos clean` removes them and keeps the lab of a run that is alive."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.stack.local import stack_processes
from harness.wait import Seen, wait_for
from test_certchaos_run import FAULT_THEN_WAIT, certchaos_run, lab_json

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LAB_READY = 300  # a lab's start plus one scenario's setup on a loaded 2-core machine (~15-60 s idle)


def start_run(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """`certchaos run` of a scenario that waits in a fault until interrupted; returns it and its output file."""
    tmp_path.mkdir()
    command, _ = certchaos_run(tmp_path, FAULT_THEN_WAIT)
    output = tmp_path / "run.out"
    with output.open("w") as out:
        run = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return run, output


def wait_lab(output: Path) -> Path:
    """The lab.json of the run writing `output`, once it says its lab is ready."""
    def ready() -> Seen:
        lab = lab_json(output.read_text())
        return Seen(lab is not None and lab.exists(), output.read_text()[-300:])

    wait_for(ready, subject="certchaos run", expected="its lab ready", timeout=LAB_READY, interval=0.5)
    return lab_json(output.read_text())


def certchaos(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli.main", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)


def listed(report: dict) -> set[str]:
    return {item["name"] for item in report["leftovers"]["items"]}


def test_clean_removes_what_a_killed_run_left_and_keeps_a_live_lab(tmp_path):
    killed, killed_output = start_run(tmp_path / "killed")
    live = None
    try:
        killed_lab = wait_lab(killed_output).parent
        os.kill(killed.pid, signal.SIGKILL)  # certchaos alone: its stack dies with it (parent-death signal)
        killed.wait()
        wait_for(lambda: Seen(not stack_processes(killed_lab / "stack"), stack_processes(killed_lab / "stack")),
                 subject="the killed run's stack", expected="gone with it", timeout=60, interval=0.5)
        assert killed_lab.is_dir()  # what a SIGKILL leaves: the run dir, its keys in it

        doctor = certchaos("doctor", "--json")
        assert str(killed_lab) in listed(json.loads(doctor.stdout)), doctor.stdout[-3000:]

        live, live_output = start_run(tmp_path / "live")
        live_lab = wait_lab(live_output).parent
        cleaned = certchaos("clean", "--json")
        results = {item["name"]: item for item in json.loads(cleaned.stdout)}
        assert results[str(killed_lab)]["removed"], cleaned.stdout
        assert not killed_lab.exists()
        assert str(live_lab) not in results and live_lab.is_dir()  # the live run's lab is untouched
        assert stack_processes(live_lab / "stack"), "clean stopped the live lab's processes"

        live.send_signal(signal.SIGINT)
        assert live.wait(timeout=300) == 130, live_output.read_text()[-3000:]
        assert not live_lab.exists() and not stack_processes(live_lab / "stack")
        assert not {str(killed_lab), str(live_lab)} & listed(json.loads(certchaos("doctor", "--json").stdout))
    finally:
        for run in (killed, live):
            if run is not None and run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
