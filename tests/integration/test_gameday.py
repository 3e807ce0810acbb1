"""`certchaos gameday` against a real lab: the shipped runbook recovers a webhook outage and, through the AWS CLI,
IAM permission drift of cert-manager's Route 53 solver (exit 0), a broken one fails naming its step (exit 1), a runbook with nothing for the fault is refused before anything starts, a team
drives the game through stdin, and Ctrl-C mid-game reverts the fault, writes the report marked interrupted
and leaves nothing running."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.lab.lab import Lab, LabClient, LabInfo
from harness.wait import Seen, wait_for

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "examples" / "runbooks"
# Steady state (one ACME issuance, ~65-90 s here under load), the webhook game (~20 s) and cleanup; a
# loaded machine doubles it.
GAME_TIMEOUT = 600


@pytest.fixture(scope="module")
def lab_json():
    """One lab for the attached games of this module; stopped at its end."""
    with Lab() as lab:
        yield str(lab.info_path)


def gameday(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", "gameday", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=GAME_TIMEOUT, **kwargs)


def journal(report_dir: Path) -> dict:
    return json.loads((report_dir / "gameday" / "journal.json").read_text())


def entries(data: dict, kind: str) -> list[dict]:
    return [e for e in data["entries"] if e["kind"] == kind]


def recovered_by_the_good_runbook(lab_json: str, report_dir: Path, fault: str) -> tuple[str, dict, list[dict]]:
    """Plays `fault` with the shipped runbook (two steps: look, repair) and checks the game passed on the harness's
    evidence; returns the output, the journal and the steps."""
    result = gameday("--attach", lab_json, "--scenario", fault, "--report-dir", str(report_dir),
                     "--runbook", str(RUNBOOKS / "cert-manager-oncall.md"), "--auto")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the runbook's steps alone recovered the system" in result.stdout
    data = journal(report_dir)
    assert data["status"] == "passed"
    steps = entries(data, "runbook-step")
    assert [s["detail"]["exit_code"] for s in steps] == [0, 0]
    (recovered,) = [e for e in entries(data, "game") if e["subject"] == "recovered"]
    detected = [e for e in entries(data, "expectation-met") if e["detail"].get("detects")]
    # Seen broken before the repairing step started, healthy only after it started.
    assert detected and detected[0]["offset"] < steps[1]["detail"]["started"] <= recovered["offset"]
    return result.stdout, data, steps


def test_the_good_runbook_recovers_a_webhook_outage(lab_json, tmp_path):
    _, data, steps = recovered_by_the_good_runbook(lab_json, tmp_path, "webhook-down")
    assert "webhook-gameday-" in steps[1]["detail"]["output"] and ": up" in steps[1]["detail"]["output"]
    assert entries(data, "fault-reverted") and "team (game day)" in (tmp_path / "report.html").read_text()


# Per fault: the runbook's repairing step's words, and the refusal the AWS API gave the solver before it.
ROUTE53_GAMES = {
    "route53-permission-drift": ("detaching arn:aws:iam::123456789012:policy/cert-manager-route53-", "AccessDenied"),
    "route53-policy-detached": ("may change hosted zone", "AccessDenied"),
    "route53-access-key-deactivated": ("rotated: AKIA", "InvalidClientTokenId"),
}


@pytest.mark.parametrize("fault", sorted(ROUTE53_GAMES))
def test_the_shipped_runbook_recovers_iam_drift_of_the_route53_solver_through_the_aws_cli(lab_json, tmp_path, fault):
    began = time.time()
    output, data, steps = recovered_by_the_good_runbook(lab_json, tmp_path, fault)
    words, code = ROUTE53_GAMES[fault]
    assert words in steps[1]["detail"]["output"]
    assert entries(data, "fault-reverted")[0]["detail"]["outcome"] == "succeeded"  # also after a key's deletion
    # The API's side: the solver was refused, then the renewal's change reached the game's hosted zone through
    # Route 53 after the last refusal (the repair, not the game's revert: recovery came first).
    namespace = re.search(r"GAMEDAY_NAMESPACE=(\S+)", output).group(1)
    lab = LabClient(LabInfo.load(lab_json))
    try:
        (zone,) = [z for z in lab.aws.route53.list_hosted_zones_by_name(DNSName=f"{namespace}.certchaos.test.")[
            "HostedZones"] if z["Name"] == f"{namespace}.certchaos.test."]
        answers = lab.aws_front.journal(began)
    finally:
        lab.close()
    refused = [a["at"] for a in answers if a["code"] == code]
    accepted = [a for a in answers if a["zone"] == zone["Id"].rsplit("/", 1)[-1] and not a["code"]
                and a["action"] == "ChangeResourceRecordSets" and refused and a["at"] > refused[-1]]
    assert refused and accepted, answers[-10:]


def test_a_broken_runbook_fails_naming_its_step(lab_json, tmp_path):
    result = gameday("--attach", lab_json, "--scenario", "webhook-down", "--report-dir", str(tmp_path),
                     "--runbook", str(RUNBOOKS / "broken-webhook.md"), "--auto")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED at step 2 (line 11): kubectl -n cert-manager rollout restart deployment cert-manager-webhook" \
        in result.stdout
    assert "not found" in result.stdout  # the step's own output, shown
    data = journal(tmp_path)
    assert data["status"] == "deviated" and "step 2 (line 11)" in data["error"]["message"]
    assert [s["detail"]["exit_code"] for s in entries(data, "runbook-step")] == [0, 1]  # step 3 never ran
    assert not [e for e in entries(data, "game") if e["subject"] == "recovered"]
    assert entries(data, "fault-reverted")[0]["detail"]["outcome"] == "succeeded"


def test_a_runbook_whose_steps_succeed_but_repair_nothing_fails_the_run(lab_json, tmp_path):
    runbook = tmp_path / "looks-only.md"
    runbook.write_text("<!-- certchaos: webhook-down -->\n```sh\nkubectl get validatingwebhookconfigurations\n```\n")
    # Half a minute from the injection: the outage lasts until the game reverts it, so waiting longer shows nothing.
    result = gameday("--attach", lab_json, "--scenario", "webhook-down", "--report-dir", str(tmp_path / "report"),
                     "--runbook", str(runbook), "--auto", "--deadline", "0.5")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the runbook's steps alone did NOT recover the system" in result.stdout
    data = journal(tmp_path / "report")
    assert data["status"] == "deviated"
    assert "had not recovered when the game ended (deadline)" in data["error"]["message"]
    assert [s["detail"]["exit_code"] for s in entries(data, "runbook-step")] == [0]


def test_a_runbook_without_a_block_for_the_fault_is_refused_before_anything_starts(tmp_path):
    started = time.monotonic()
    result = gameday("--scenario", "ca-outage", "--report-dir", str(tmp_path / "report"),
                     "--runbook", str(RUNBOOKS / "broken-webhook.md"), "--auto")
    assert result.returncode == 2
    assert re.search(r"broken-webhook.md has no shell step for the failure 'ca-outage' .*it has steps for: "
                     r"webhook-down.*nothing was injected", result.stderr), result.stderr
    assert not (tmp_path / "report").exists() and time.monotonic() - started < 30  # no lab was started


class Lines:
    """A child's stdout, collected on a thread so the test can wait for a line with a deadline."""

    def __init__(self, process: subprocess.Popen):
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process) -> None:
        for line in process.stdout:
            self.text += line

    def wait(self, pattern: str, timeout: float) -> re.Match:
        return wait_for(lambda: Seen(bool(re.search(pattern, self.text)), self.text[-300:]),
                        subject="certchaos gameday's output", expected=f"to match {pattern!r}", timeout=timeout)


def _start(*args: str) -> tuple[subprocess.Popen, Lines]:
    process = subprocess.Popen([sys.executable, "-m", "harness.cli", "gameday", *args], cwd=ROOT, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return process, Lines(process)


def test_a_team_marks_its_steps_through_stdin_and_fixed_is_checked(lab_json, tmp_path):
    process, out = _start("--attach", lab_json, "--scenario", "webhook-down", "--report-dir", str(tmp_path))
    try:
        out.wait("fault injected", GAME_TIMEOUT)
        namespace = re.search(r"GAMEDAY_NAMESPACE=(\S+)", out.text).group(1)
        process.stdin.write("ack\nnote the webhook rejects changes\nfixed\n")
        process.stdin.flush()
        out.wait(r"does not see it healthy yet", 60)  # fixed before any repair: not true
        subprocess.run([sys.executable, "-m", "harness.cli", "lab", "--lab", lab_json, "webhook", "up", "--namespace",
                        namespace], check=True, capture_output=True, cwd=ROOT)
        # The team said fixed (too early); the game ends once the harness sees it true.
        assert process.wait(timeout=120) == 0, out.text
    finally:
        process.kill()
    data = journal(tmp_path)
    marks = [(e["subject"], e["detail"].get("true_at_the_time")) for e in entries(data, "team")]
    assert marks == [("ack", None), ("note", None), ("fixed", False)]
    assert "webhook-down" not in out.text.split("fault injected")[1].split("certchaos gameday: passed")[0]
    assert re.search(r"`fixed` at \+[0-9.]+s was NOT true at the time; it became true at \+", out.text)


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(pid) != os.getpid():
            found.append(f"{pid}: {cmdline[:200]}")
    return found


def test_ctrl_c_mid_game_reverts_the_fault_writes_the_report_and_leaves_nothing_running(tmp_path):
    report = tmp_path / "report"
    process, out = _start("--scenario", "dns-permission-drift", "--report-dir", str(report))
    try:
        out.wait("fault injected", GAME_TIMEOUT)
        # The lab runs in a temp dir (the report gets only its logs); the game prints its kubeconfig there.
        stack_dir = str(Path(re.search(r"export KUBECONFIG=(\S+)", out.text).group(1)).parent)
        assert _processes_mentioning(stack_dir)  # the lab it started is running
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 130, out.text
    finally:
        process.kill()
    data = journal(report)
    assert data["status"] == "interrupted"
    assert entries(data, "fault-reverted")[0]["detail"]["outcome"] == "succeeded"
    assert [e["detail"]["why"] for e in entries(data, "game") if e["subject"] == "ended"] == ["interrupted"]
    assert (report / "summary.md").exists() and "interrupted" in (report / "report.html").read_text()
    assert not _processes_mentioning(stack_dir), "the lab's processes outlived the game"
    assert not (report / "tools").exists()
