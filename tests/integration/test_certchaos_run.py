"""`certchaos run` end to end on a real lab: a wrong expectation is reported with its evidence, and a
run interrupted mid-fault (on one lab, or on two: the exclusive scenarios' own beside the batch's) still
reverts its faults, writes its report and leaves nothing running."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import requests

from harness.stack import binaries, versions
from harness.stack.local import stack_processes
from harness.wait import Seen, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

WRONG_EXPECTATION = '''
"""A webhook outage, with a deliberately wrong expectation.

Spec: (wrong on purpose) a Certificate created while the webhook is down becomes Ready.
"""
from harness.observe.conditions.certificates import certificate_ready
from harness.chaos.proxy_faults import ProxyDown
from harness.chaos.certificates import certificate, create_certificate


def test_wrong_expectation(scenario, kube, namespace, ca_issuer, isolated_webhook):
    with scenario.fault(ProxyDown(isolated_webhook)):
        try:
            create_certificate(kube, namespace, certificate("web", ca_issuer, ["web.example"]))
        except Exception:
            pass
        scenario.expect(certificate_ready(kube, namespace, "web"), subject=f"Certificate {namespace}/web",
                        expected="Ready=True", within=5, detects=True)
'''

FAULT_THEN_WAIT = '''
"""A fault that stays applied until the run is interrupted."""
from harness.observe.conditions.certificates import certificate_ready
from harness.chaos.proxy_faults import ProxyDown


def test_waits_during_a_fault(scenario, kube, namespace, isolated_webhook):
    with scenario.fault(ProxyDown(isolated_webhook)):
        scenario.note("fault applied")
        scenario.expect(certificate_ready(kube, namespace, "never"), subject="Certificate never",
                        expected="Ready=True", within=600)
'''

SLOW_REVERT_THEN_WAIT = '''
"""A fault whose revert takes longer than pytest-xdist lets a worker it interrupted live (5 s, then 10 s)."""
import time
from pathlib import Path

from harness.chaos.fault import BaseFault
from harness.observe.conditions.certificates import certificate_ready

MARKS = Path({marks!r})


class SlowRevert(BaseFault):
    """Applied and reverted as files; the revert as slow as a loaded API server's."""

    def apply(self):
        (MARKS / "applied").touch()

    def revert(self):
        time.sleep(12)
        (MARKS / "reverted").touch()


def test_reverts_slowly(scenario, kube, namespace):
    with scenario.fault(SlowRevert()):
        scenario.expect(certificate_ready(kube, namespace, "never"), subject="Certificate never",
                        expected="Ready=True", within=600)
'''

EXCLUSIVE_FAULT_THEN_WAIT = '''
import pytest


@pytest.mark.exclusive
def test_waits_alone_during_a_fault(scenario, kube, namespace, isolated_webhook):
    test_waits_during_a_fault(scenario, kube, namespace, isolated_webhook)
'''


def scenario_dir(tmp_path: Path, source: str) -> Path:
    directory = tmp_path / "scenarios"
    directory.mkdir()
    shutil.copy(REPO / "scenarios" / "conftest.py", directory / "conftest.py")
    (directory / "test_scenario.py").write_text(source)
    return directory


def certchaos_run(tmp_path: Path, source: str) -> tuple[list[str], Path]:
    report = tmp_path / "report"
    return ([sys.executable, "-m", "harness.cli.main", "run", "--workers", "1", "--report-dir", str(report),
             "--scenarios", str(scenario_dir(tmp_path, source))], report)


def lab_jsons(output: str) -> list[Path]:
    """The running labs' lab.json files, as `certchaos run` says when each is ready (their run dirs are temp
    dirs: the report gets only their logs)."""
    return [Path(found) for found in re.findall(r"\bCERTCHAOS_LAB=(\S+) attaches", output)]


def lab_json(output: str) -> Path | None:
    """The first lab's lab.json (the batch's), once `certchaos run` said it is ready."""
    return next(iter(lab_jsons(output)), None)


def leftovers(output: str) -> list[int]:
    """Processes of the labs `certchaos run` printed it started (none once they have stopped)."""
    labs = lab_jsons(output)
    assert labs, f"certchaos run never said its lab was ready:\n{output[-2000:]}"
    return [pid for lab in labs for pid in stack_processes(lab.parent / "stack")]


def proxies_disabled(lab: Path) -> list[str]:
    info = json.loads(lab.read_text())
    proxies = requests.get(f"{info['toxiproxy_url']}/proxies", timeout=5).json()
    return [name for name, proxy in proxies.items() if not proxy["enabled"]]


def test_a_wrong_expectation_fails_with_what_was_expected_what_was_seen_and_the_journal(tmp_path):
    command, report = certchaos_run(tmp_path, WRONG_EXPECTATION)
    # Lab start (~15 s) plus a 5 s expectation; generous for a loaded CI machine.
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    journal_path = next(report.glob("*/journal.json"))
    journal = json.loads(journal_path.read_text())
    assert journal["status"] == "deviated"
    message = journal["error"]["message"]
    assert "Expected Certificate" in message and "Ready=True within 5s" in message
    assert "but after" in message and "it has:" in message  # what was last seen
    assert f"journal: {journal_path}" in message
    kinds = [entry["kind"] for entry in journal["entries"]]
    assert kinds.index("fault-applied") < kinds.index("expectation-missed") < kinds.index("fault-reverted")
    summary = (report / "summary.md").read_text()
    assert "| deviated |" in summary and "Totals: 1 scenarios: 0 passed, 0 known-issue, 1 deviated" in summary
    assert (report / "junit.xml").exists()
    assert leftovers(result.stdout) == []
    # The versions that ran, as the binaries say them (Pebble's the build info's, or Debian's package's).
    components = journal["environment"]["components"]
    for name in ("pebble", "etcd", "kube-apiserver", "cert-manager-controller"):
        said = versions.reported(binaries.resolve(name))
        assert (components[name]["version"], components[name]["version_from"]) == (said.version, said.version_from)


@contextmanager
def certchaos_started(command: list[str], output: Path) -> Iterator[subprocess.Popen]:
    """`certchaos run` in a session of its own, its output in `output`; killed if it outlives the test."""
    with output.open("w") as out:
        run = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield run
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()


def wait_for_faults(output: Path, labs: int, timeout: float) -> None:
    """Until `labs` labs are ready and each has a disabled proxy (the scenarios' fault)."""
    def faults_applied() -> Seen:
        disabled = {str(lab): proxies_disabled(lab) for lab in lab_jsons(output.read_text())}
        return Seen(len(disabled) == labs and all(disabled.values()), {"disabled proxies per lab": disabled})

    wait_for(faults_applied, subject="certchaos run", expected=f"a fault applied on each of {labs} labs",
             timeout=timeout, interval=0.5)


def test_an_interrupted_run_reverts_its_fault_and_leaves_nothing_running(tmp_path):
    command, report = certchaos_run(tmp_path, FAULT_THEN_WAIT)
    output = tmp_path / "run.out"
    with certchaos_started(command, output) as run:
        wait_for_faults(output, labs=1, timeout=300)  # lab start plus one scenario's setup
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
        run.wait(timeout=180)
    journal = json.loads(next(report.glob("*/journal.json")).read_text())
    assert journal["status"] == "interrupted"
    reverted = [entry for entry in journal["entries"] if entry["kind"] == "fault-reverted"]
    assert len(reverted) == 1 and reverted[0]["detail"].get("outcome") == "succeeded", journal["entries"][-5:]
    assert leftovers(output.read_text()) == []
    # The report says so too: summary.md, and the JUnit case of the scenario the interrupt cut short.
    assert "| interrupted |" in (report / "summary.md").read_text()
    assert 'type="interrupted"' in (report / "junit.xml").read_text()


def test_a_run_terminated_with_a_fault_on_each_of_its_two_labs_reverts_both_and_reports_both(tmp_path):
    """SIGTERM (a cancelled CI job) while the batch's scenario and the exclusive one each hold a fault on
    their own lab: both faults reverted, both journals interrupted, summary.md for both, no lab left."""
    command, report = certchaos_run(tmp_path, FAULT_THEN_WAIT + EXCLUSIVE_FAULT_THEN_WAIT)
    output = tmp_path / "run.out"
    with certchaos_started(command, output) as run:
        wait_for_faults(output, labs=2, timeout=420)  # two lab starts, the second beside the first scenario
        run.send_signal(signal.SIGTERM)  # to certchaos alone, as a CI runner does
        assert run.wait(timeout=240) == 143
    journals = [json.loads(path.read_text()) for path in report.glob("*/journal.json")]
    assert sorted(journal["status"] for journal in journals) == ["interrupted", "interrupted"], \
        [(journal["status"], journal.get("error"), journal["entries"][-5:]) for journal in journals]
    for journal in journals:
        reverted = [entry for entry in journal["entries"] if entry["kind"] == "fault-reverted"]
        assert [entry["detail"].get("outcome") for entry in reverted] == ["succeeded"], journal["entries"][-5:]
    summary = (report / "summary.md").read_text()
    assert "test_waits_during_a_fault" in summary and "test_waits_alone_during_a_fault" in summary
    assert (report / "lab" / "stack").is_dir() and (report / "lab-exclusive" / "stack").is_dir()
    assert leftovers(output.read_text()) == []


def test_a_run_terminated_during_a_slow_revert_lets_it_finish(tmp_path):
    """xdist's controller, once interrupted, interrupts its workers again after 5 s and kills them at 10 s: only
    the workers are interrupted, so a revert of 12 s still finishes, and the scenario is interrupted, not crashed."""
    command, report = certchaos_run(tmp_path, SLOW_REVERT_THEN_WAIT.format(marks=str(tmp_path)))
    output = tmp_path / "run.out"
    with certchaos_started(command, output) as run:
        wait_for(lambda: Seen((tmp_path / "applied").exists(), output.read_text()[-2000:]), subject="the scenario",
                 expected="its fault applied", timeout=300, interval=0.5)
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=240) == 143
    assert (tmp_path / "reverted").exists(), output.read_text()[-3000:]
    journal = json.loads(next(report.glob("*/journal.json")).read_text())
    reverted = [entry["detail"].get("outcome") for entry in journal["entries"] if entry["kind"] == "fault-reverted"]
    assert (journal["status"], reverted) == ("interrupted", ["succeeded"]), journal["entries"][-5:]
    assert 'type="interrupted"' in (report / "junit.xml").read_text()
    assert leftovers(output.read_text()) == []
