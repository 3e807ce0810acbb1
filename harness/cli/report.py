"""`certchaos report DIR|JOURNAL [--html]`: a run's summary, and the lifecycle of each scenario that did not pass;
with --html also report.html (table, swimlane timelines, evidence) in DIR."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError
from harness.report.html import write_report_html
from harness.report.journal import Journal, JournalError, Status
from harness.report.summary import JOURNAL, find_journals, scenario_story, write_summary


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser("report", help="summarise a run's journals, or show one scenario's lifecycle")
    report.add_argument("path", type=Path, help="a report dir (writes summary.md) or one journal.json")
    report.add_argument("--html", action="store_true",
                        help="also write DIR/report.html (summary table, timelines, evidence) and print its path")
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    path: Path = args.path
    if path.is_file():
        if args.html:
            raise HarnessError(f"{path}: --html writes a run's report.html. Fix: pass the report dir, {path.parent}")
        print(scenario_story(Journal.load(path)))
        return 0
    if not path.is_dir():
        raise HarnessError(f"{path}: no such report dir or journal. Fix: pass a dir under reports/ or a journal.json")
    written = write_summary(path)
    if written is None:
        raise HarnessError(f"{path}: no {JOURNAL} below it. Fix: pass the dir a run wrote (pytest --report-dir)")
    print(written.read_text())
    for journal_path in find_journals(path):
        try:
            journal = Journal.load(journal_path)
        except JournalError:
            continue  # already listed as unreadable in the summary
        if journal.status is not Status.PASSED:
            print(scenario_story(journal) + "\n")
    if args.html:
        print(f"report.html: {write_report_html(path)}")
    return 0
