"""A run interrupted before any scenario ran (while its lab was starting: a kind cluster takes minutes) still
leaves a readable report: one row "interrupted" saying when and why, summary.md and junit.xml, so a cancelled
CI job shows what happened instead of an empty report dir."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

from harness.report.journal import Status
from harness.report.summary import SKIP_RECORD, write_summary

SUBJECT = "certchaos run: lab start"


def record_interrupted_start(directory: Path, why: str, junit: str = "junit.xml") -> None:
    """Write the row (`<directory>/lab-start/skipped.json`, verdict interrupted), summary.md and a JUnit file
    whose one test case is the lab start, in error with `why`."""
    row = Path(directory) / "lab-start"
    row.mkdir(parents=True, exist_ok=True)
    (row / SKIP_RECORD).write_text(json.dumps({"node_id": SUBJECT, "verdict": str(Status.INTERRUPTED),
                                               "reason": why}))
    write_summary(Path(directory))
    (Path(directory) / junit).write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="certchaos run" tests="1" errors="1" '
        'failures="0" skipped="0">\n'
        f'<testcase classname="certchaos.run" name="lab start"><error message={quoteattr(why)} type="interrupted"/>'
        '</testcase>\n</testsuite></testsuites>\n')
