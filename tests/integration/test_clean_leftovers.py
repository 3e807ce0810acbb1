"""Leftovers for real on the local provider: a `certchaos run` SIGKILLed with its lab up leaves its run dirs;
`certchaos doctor` lists them, `certchaos clean` removes them and keeps the lab of a run that is alive. A run
SIGTERMed while its lab starts leaves nothing and a report that says so. `left_by` (what a certchaos process
made that is still there) serves the kind tests too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.stack import leftovers
from harness.stack.kind.engine import DockerEngine
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


def left_by(pid: int) -> list[str]:
    """Everything certchaos process `pid` made that is still there: its temp dirs, the processes it owns (the
    dockerd it started among them), its kind clusters' nodes and its lab anchors (named after the cluster)."""
    found = [str(path) for root in leftovers.temp_roots() for path in root.glob(f"certchaos-*-{pid}-*")]
    found += [f"process {other}" for other in leftovers._pids()
              if leftovers._environ(other).get(leftovers.OWNER_ENV) == str(pid)]
    engine = DockerEngine()
    if engine.info() is not None:
        names = engine.docker("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
        found += [f"container {name}" for name in names if name.startswith(f"certchaos-{pid}-")]
    return found


def interrupted_report(report: Path) -> str:
    """summary.md, report.html and the JUnit file of an interrupted run, read; summary.md's text."""
    summary = (report / "summary.md").read_text()
    assert "interrupted" in summary and "interrupted" in (report / "report.html").read_text()
    assert "interrupted" in (report / "junit.xml").read_text()
    return summary


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


def test_sigterm_while_the_lab_starts_leaves_nothing_and_a_report_that_says_so(tmp_path):
    run, output = start_run(tmp_path / "run")
    try:
        # The worst moment on local: components half started (etcd up, the API server coming).
        wait_for(lambda: Seen(any(any(root.glob(f"certchaos-etcd-{run.pid}-*")) for root in leftovers.temp_roots()),
                              output.read_text()[-300:]),
                 subject="certchaos run", expected="to be starting its stack", timeout=LAB_READY, interval=0.2)
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=300) == 143, output.read_text()[-3000:]
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert left_by(run.pid) == []
    summary = interrupted_report(tmp_path / "run" / "report")
    assert "SIGTERM" in summary and "no scenario ran" in summary
