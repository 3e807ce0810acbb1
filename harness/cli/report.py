"""`certchaos report DIR|JOURNAL [--html] [--json]`: a run's summary, and the lifecycle of each scenario that did
not pass; with --html also report.html (table, swimlane timelines, evidence) in DIR; with --json the same rows
for a program.

It summarises a run, so its exit code is the run's verdict, as `certchaos run` gave it: a CI step can re-judge
a downloaded report without re-running it."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from harness.errors import HarnessError
from harness.report.html import write_report_html
from harness.report.journal import JournalError, Status
from harness.report.summary import (
    JOURNAL, NOT_APPLICABLE, SKIPPED, UNREADABLE, Row, find_journals, load_journal, read_rows, scenario_story,
    write_summary,
)

EXIT_HELP = """\
exit code: the run's verdict
  0  every scenario passed, found a known issue of its release or is not applicable (skipped ones too with
     --allow-skips)
  1  any scenario did not pass: deviated, harness-error, interrupted, unfinished, skipped
  2  a journal under DIR cannot be read (the verdict is unknown), or DIR holds none
--json prints {"path", "verdict", "exit_code", "totals": {verdict: count}, "scenarios": [{"scenario",
"verdict", "time_to_detect", "time_to_alert", "time_to_notify", "time_to_recover" (seconds; null when it
never happened), "journal" (relative to DIR), "failure", "evidence"}], "unreadable": [journal], "report_html"};
for one journal.json, its scenario's row and "entries" (the journal's timeline)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser("report", help="summarise a run's journals, or show one scenario's lifecycle",
                                   description=__doc__, epilog=EXIT_HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("path", type=Path, help="a report dir (writes summary.md) or one journal.json")
    report.add_argument("--html", action="store_true",
                        help="also write DIR/report.html (summary table, timelines, evidence) and print its path")
    report.add_argument("--json", action="store_true", help="print JSON instead of text (see below)")
    report.add_argument("--allow-skips", action="store_true",
                        help="skipped scenarios do not fail the verdict, as with `certchaos run --allow-skips`")
    report.set_defaults(handler=_report)


def verdict(rows: list[Row], allow_skips: bool = False) -> int:
    """The run's exit code from its rows: 2 when one cannot be read, else 0 only if every one passed, found a
    known issue or is not applicable (or skipped, when skips are allowed), else 1."""
    if any(row.verdict == UNREADABLE for row in rows):
        return 2
    fine = {str(Status.PASSED), str(Status.KNOWN_ISSUE), NOT_APPLICABLE} | ({SKIPPED} if allow_skips else set())
    return 0 if all(row.verdict in fine for row in rows) else 1


def _verdict_word(code: int) -> str:
    return {0: "passed", 1: "failed"}.get(code, "unknown")


def _one_journal(args: argparse.Namespace, path: Path) -> int:
    if args.html:
        raise HarnessError(f"{path}: --html writes a run's report.html. Fix: pass the report dir, {path.parent}")
    journal = load_journal(path)  # unreadable: a JournalError (HarnessError), exit 2
    row = Row.of_journal(path, journal)
    code = verdict([row], args.allow_skips)
    if args.json:
        print(json.dumps({"path": str(path), "verdict": _verdict_word(code), "exit_code": code,
                          "scenario": row.to_json(path.parent),
                          "entries": [entry.to_dict() for entry in journal.entries]}, indent=2))
    else:
        print(scenario_story(journal))
    return code


def _report(args: argparse.Namespace) -> int:
    path: Path = args.path
    if path.is_file():
        return _one_journal(args, path)
    if not path.is_dir():
        raise HarnessError(f"{path}: no such report dir or journal. Fix: pass a dir under reports/ or a journal.json")
    rows = read_rows(path)
    written = write_summary(path, rows)
    if written is None:
        raise HarnessError(f"{path}: no {JOURNAL} below it. Fix: pass the dir a run wrote (pytest --report-dir)")
    html = write_report_html(path) if args.html else None
    code = verdict(rows, args.allow_skips)
    unreadable = [row for row in rows if row.verdict == UNREADABLE]
    if args.json:
        print(json.dumps({"path": str(path), "verdict": _verdict_word(code), "exit_code": code,
                          "totals": dict(Counter(row.verdict for row in rows)),
                          "scenarios": [row.to_json(path) for row in rows],
                          "unreadable": [str(row.journal.relative_to(path)) for row in unreadable],
                          "report_html": None if html is None else str(html)}, indent=2))
    else:
        print(written.read_text())
        for journal_path in find_journals(path):
            try:
                journal = load_journal(journal_path)
            except JournalError:
                continue  # listed as unreadable in the summary, and below
            if journal.status is not Status.PASSED:
                print(scenario_story(journal) + "\n")
        if html is not None:
            print(f"report.html: {html}")
    if unreadable:
        print(f"certchaos report: {len(unreadable)} journal(s) cannot be read, so the run's verdict is unknown: "
              + "; ".join(row.failure for row in unreadable)
              + ". Fix: re-run those scenarios (`certchaos run -k NAME`), or read them with the certchaos version "
                "that wrote them", file=sys.stderr)
    return code
