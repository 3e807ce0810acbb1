"""`certchaos report DIR|JOURNAL`: a run's summary, and the lifecycle of each scenario that did not pass."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError
from harness.report.journal import Journal, JournalError, Status
from harness.report.summary import JOURNAL, find_journals, scenario_story, write_summary


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser("report", help="summarise a run's journals, or show one scenario's lifecycle")
    report.add_argument("path", type=Path, help="a report dir (writes summary.md) or one journal.json")
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    path: Path = args.path
    if path.is_file():
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
    return 0
