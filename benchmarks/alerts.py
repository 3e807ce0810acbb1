"""Alerting figures: time from fault to firing alert and to notification in a run's journals, and the
replay time of a 90-day production horizon (default rules, one recorded-like drift journal, real promtool).

    python benchmarks/alerts.py [REPORT_DIR]    # REPORT_DIR: a run of scenarios/test_alerts.py, optional
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from harness.alerts import replay
from harness.observe import metrics
from harness.report.journal import Clock, EntryKind, Journal, ScenarioInfo, time_to_alert


def live_figures(report_dir: Path) -> None:
    for path in sorted(report_dir.rglob("journal.json")):
        journal = Journal.load(path)
        firing = time_to_alert(journal.entries)
        notified = time_to_alert(journal.entries, kind=EntryKind.NOTIFICATION)
        if firing is not None or notified is not None:
            print(f"{path.parent.name}: fault -> firing {firing:.1f}s, fault -> notification "
                  f"{'-' if notified is None else f'{notified:.1f}s'}")


def drift_journal(path: Path) -> None:
    """What the permission-drift scenario records: an issued 1-hour certificate, then a renewal blocked."""
    now = [1_700_000_000.0]
    journal = Journal(path, ScenarioInfo("benchmark", "permission drift"),
                      clock=Clock(lambda: now[0], lambda: now[0]), environment={})
    labels = {"name": "web", "namespace": "ns", "issuer_name": "pebble", "issuer_kind": "Issuer",
              "issuer_group": "cert-manager.io"}
    for condition, value in (("True", 1), ("False", 0), ("Unknown", 0)):
        journal.record(EntryKind.METRIC_SAMPLE, metrics.CERTIFICATE_READY_STATUS, labels={**labels, "condition": condition},
                       value=value)
    journal.record(EntryKind.METRIC_SAMPLE, metrics.CERTIFICATE_EXPIRATION, labels=labels, value=now[0] + 3600)
    journal.record(EntryKind.METRIC_SAMPLE, metrics.CERTIFICATE_RENEWAL, labels=labels, value=now[0] + 2400)
    now[0] += 30
    journal.record(EntryKind.FAULT_APPLIED, "TsigPolicyNarrowed(...)", fault_id=1, description="permission drift")
    now[0] += 90
    journal.record(EntryKind.FAULT_REVERTED, "TsigPolicyNarrowed(...)", fault_id=1)
    journal.save()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", nargs="?", type=Path)
    args = parser.parse_args()
    if args.report_dir:
        live_figures(args.report_dir)
    with tempfile.TemporaryDirectory() as scratch:
        drift_journal(Path(scratch) / "drift" / "journal.json")
        began = time.monotonic()
        [outcome] = replay.replay(scratch)
        elapsed = time.monotonic() - began
    print(outcome.describe())
    print(f"replay of a 90-day horizon (default rules, {int(outcome.story.horizon // replay.STEP)} steps of "
          f"{replay.STEP}s, two promtool passes): {elapsed:.1f}s")
    return 0 if outcome.verdict == "paged" else 1


if __name__ == "__main__":
    sys.exit(main())
