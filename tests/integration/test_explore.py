"""`certchaos explore --budget` briefly on the local lab it starts: schedules drawn and judged, each example's
journal, explore.json with the schedules and the fault pairs, summary.md and report.html, exit 0 on the real
cert-manager."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The lab's start (30-160 s loaded), the budget, then the example it cut short is closed, or the last one finishes
# (its liveness: an issuance, 120 s, after a faulted span of at most a few minutes); a loaded machine doubles it.
TIMEOUT = 1500


def test_a_short_exploration_runs_schedules_and_reports_them(tmp_path):
    report = tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "harness.cli", "explore", "--budget", "4m", "--max-steps", "4",
                             "--seed", "1", "--faults", "ca-outage,dns-lag,webhook-down", "--database",
                             str(tmp_path / "db"), "--report-dir", str(report), "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    facts = json.loads(result.stdout)
    assert facts["schema"] == "certchaos.explore/v1" and facts["seed"] == 1 and facts["failures"] == 0
    judged = [e for e in facts["examples"] if e["status"] == "passed"]
    assert judged, facts["examples"]
    for example in facts["examples"]:
        journal = json.loads((report / example["journal"]).read_text())
        steps = [e["detail"]["step"] for e in journal["entries"] if e["kind"] == "note" and e["subject"] == "step"]
        assert len(steps) == len(example["steps"])  # the journal holds the schedule as it ran
        if example["status"] == "passed":  # judged: the end state was captured and every invariant held
            assert any(e["subject"] == "end state" for e in journal["entries"])
            # Observers (alerts, Events) may still append after the judging; the judging itself missed nothing.
            assert not [e for e in journal["entries"] if e["kind"] == "expectation-missed"]
            assert [e for e in journal["entries"] if e["kind"].startswith("expectation-")][-1]["kind"] == "expectation-met"
    assert set(facts["coverage"]["injected"]) == {"ca-outage", "dns-lag", "webhook-down"}
    assert facts["coverage"]["pairs_possible"] == 3
    summary = (report / "summary.md").read_text()
    assert "## Exploration" in summary and "Fault pairs applied together" in summary
    assert "Fault pairs applied together" in (report / "report.html").read_text()
    assert (report / "explore.json").exists() and not list(report.glob("test_explored_*.py"))
    assert "example 1:" in result.stderr  # progress goes to stderr with --json
