"""`certchaos run --provider kind` interrupted at its worst moments leaves nothing (cluster nodes, lab anchors,
run dirs, the dockerd it started, any process it owns) and a readable report: SIGTERM while kind creates the
cluster, Ctrl-C (SIGINT to the process group) while a fault is applied. Few and short on purpose: each cluster
costs minutes on a 2-core machine.

Needs Docker and `certchaos images build`; runs only with `-m kind` (`make test-kind`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from harness.lab.lab import LabInfo
from harness.stack import leftovers
from harness.stack.kind.engine import DockerEngine
from harness.wait import Seen, wait_for
from test_certchaos_run import FAULT_THEN_WAIT, REPO, lab_json, scenario_dir
from test_clean_leftovers import interrupted_report, left_by

pytestmark = pytest.mark.kind

# dockerd (~1 s) plus a node image check, then `kind create` starts (its first node within seconds).
CREATING = 300
# A kind lab: create 21-93 s, chart 44 s, the lab's servers; then one scenario's setup (kind.py's timings).
FAULT_APPLIED = 900
# Stopping: kind delete 2-15 s, dockerd stops in seconds; pytest's revert on a loaded API server tens of seconds.
STOPPED = 600


def start_kind_run(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    report = tmp_path / "report"
    command = [sys.executable, "-m", "harness.cli.main", "run", "--provider", "kind", "--workers", "1",
               "--report-dir", str(report), "--scenarios", str(scenario_dir(tmp_path, FAULT_THEN_WAIT))]
    output = tmp_path / "run.out"
    with output.open("w") as out:
        run = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return run, output, report


def kind_creating(pid: int) -> Seen:
    """Whether `kind create cluster` of this run's cluster (certchaos-<pid>-...) runs and its node container
    exists already: the cluster half made (kubeadm init under way)."""
    creating = [argv for argv in map(leftovers._cmdline, leftovers._pids())
                if argv and "create" in argv and f"certchaos-{pid}-" in " ".join(argv)]
    engine = DockerEngine()
    nodes = engine.docker("ps", "-aq", "--filter", f"name=certchaos-{pid}-", check=False).stdout.split() \
        if creating else []
    return Seen(bool(creating and nodes), {"kind create": creating, "nodes": nodes})


def stop(run: subprocess.Popen) -> None:
    if run.poll() is None:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()


def nothing_left(run: subprocess.Popen, output: Path) -> None:
    """Nothing the run made is there: its processes (the dockerd it started among them) are gone, then, with a
    Docker engine answering (started for the look when the run stopped its own), no node or anchor of its."""
    assert left_by(run.pid) == [], output.read_text()[-3000:]
    with DockerEngine():
        assert left_by(run.pid) == [], output.read_text()[-3000:]


def test_sigterm_while_kind_creates_the_cluster_leaves_nothing_and_a_report(tmp_path):
    run, output, report = start_kind_run(tmp_path)
    try:
        wait_for(lambda: kind_creating(run.pid), subject="certchaos run --provider kind",
                 expected="to be creating its kind cluster", timeout=CREATING, interval=0.5)
        os.kill(run.pid, signal.SIGTERM)  # to certchaos alone, as a CI runner does
        assert run.wait(timeout=STOPPED) == 143, output.read_text()[-3000:]
    finally:
        stop(run)
    nothing_left(run, output)
    summary = interrupted_report(report)
    assert "SIGTERM" in summary and "kind lab was starting" in summary


def test_ctrl_c_during_a_fault_on_kind_reverts_it_and_leaves_nothing(tmp_path):
    run, output, report = start_kind_run(tmp_path)
    try:
        def fault_applied() -> Seen:
            lab = lab_json(output.read_text())
            if lab is None or not lab.exists():
                return Seen(False, "lab not ready yet")
            proxies = requests.get(f"{LabInfo.load(lab).toxiproxy_url}/proxies", timeout=5).json()
            disabled = [name for name, proxy in proxies.items() if not proxy["enabled"]]
            return Seen(bool(disabled), {"disabled proxies": disabled})

        wait_for(fault_applied, subject="certchaos run --provider kind", expected="to apply the fault",
                 timeout=FAULT_APPLIED, interval=1.0)
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
        assert run.wait(timeout=STOPPED) == 130, output.read_text()[-3000:]
    finally:
        stop(run)
    nothing_left(run, output)
    journal = json.loads(next(report.glob("*/journal.json")).read_text())
    assert journal["status"] == "interrupted"
    reverted = [entry for entry in journal["entries"] if entry["kind"] == "fault-reverted"]
    assert len(reverted) == 1 and reverted[0]["detail"].get("outcome") == "succeeded", journal["entries"][-5:]
    interrupted_report(report)


def test_clean_removes_what_a_killed_kind_run_left(tmp_path):
    """SIGKILL leaves a kind run's cluster, anchors, run dir and the dockerd it started (a session of its own:
    no parent-death signal reaches it); `certchaos clean` removes them all, dockerd last."""
    run, output, _ = start_kind_run(tmp_path)
    try:
        def lab_ready() -> Seen:
            if run.poll() is not None:
                raise AssertionError(f"certchaos run ended ({run.returncode}) before its lab was ready:\n"
                                     + output.read_text()[-2000:])
            return Seen(lab_json(output.read_text()) is not None, output.read_text()[-300:])

        wait_for(lab_ready, subject="certchaos run --provider kind", expected="its lab ready", timeout=FAULT_APPLIED,
                 interval=1.0)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
    finally:
        stop(run)
    left = left_by(run.pid)
    assert any(item.startswith("container certchaos-") for item in left), left
    cleaned = subprocess.run([sys.executable, "-m", "harness.cli.main", "clean", "--json"], cwd=REPO,
                             capture_output=True, text=True, timeout=STOPPED)
    results = json.loads(cleaned.stdout)
    removed = {item["name"] for item in results if item["removed"]}
    assert any(name.startswith(f"certchaos-{run.pid}-") for name in removed), cleaned.stdout
    # The dockerd it started stays only while another run (which found it answering) has containers on it.
    shared = {f"process {item['name']}" for item in results if item["what"] == "dockerd" and not item["removable"]}
    assert set(left_by(run.pid)) <= shared, cleaned.stdout
    with DockerEngine():
        assert set(left_by(run.pid)) <= shared, cleaned.stdout
