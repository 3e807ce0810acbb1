"""Reports from journals: summary.md for a run directory and the text story (lifecycle) of one scenario.

A scenario that did not run (skipped, or not applicable to the provider) has no journal but a skip record
(skipped.json) in its directory, so it still gets a row. `certchaos report` (harness.cli.report) prints them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from harness.report.journal import Entry, Journal, JournalError, EntryKind, Status

SUMMARY = "summary.md"
JOURNAL = "journal.json"
SKIP_RECORD = "skipped.json"
SKIPPED, NOT_APPLICABLE = "skipped", "not-applicable"  # verdicts of scenarios that did not run
EVIDENCE_SHOWN = 2  # the last expectations (met or missed) decide a verdict; older ones are in the journal
EVIDENCE_WIDTH = 90  # per expectation in the evidence column
DETAIL_WIDTH = 100  # one terminal line for the detail column; the journal keeps everything
SUBJECT_WIDTH = 48  # a Certificate ns/name fits; long fault reprs are cut, the journal has them whole

# The detail keys worth a glance per kind; other kinds show all their keys.
_BRIEF_KEYS = {
    EntryKind.PHASE: (),
    EntryKind.FAULT_APPLIED: ("outcome", "error"),
    EntryKind.FAULT_REVERTED: ("outcome",),
    EntryKind.FAULT_REVERT_FAILED: ("error",),
    EntryKind.EXPECTATION_MET: ("expected", "detects", "recovers"),
    EntryKind.EXPECTATION_MISSED: ("expected", "last", "gave_up"),
    EntryKind.OBSERVED: ("state",),
}


def _one_line(text: str) -> str:
    return " ".join(text.split())  # a subject or error with newlines must not break the columns


def _brief(entry: Entry) -> str:
    keys = _BRIEF_KEYS.get(entry.kind, tuple(entry.detail))
    parts = []
    for key in keys:
        value = entry.detail.get(key)
        if value is None or value is False:
            continue
        parts.append(key if value is True else f"{key}={value}")
    if entry.kind in (EntryKind.EXPECTATION_MET, EntryKind.FAULT_APPLIED, EntryKind.FAULT_REVERTED, EntryKind.FAULT_REVERT_FAILED) \
            and "started" in entry.detail:
        parts.append(f"took {entry.offset - entry.detail['started']:.1f}s")
    text = _one_line(" ".join(parts))
    return text if len(text) <= DETAIL_WIDTH else text[: DETAIL_WIDTH - 3] + "..."


def offset(seconds: float) -> str:
    """Seconds since the scenario started, right-aligned so timelines line up: '   +12.345s'."""
    return f"{f'+{seconds:.3f}s':>11}"


def lifecycle(entries: Iterable[Entry], subject_width: int | None = SUBJECT_WIDTH) -> str:
    """The timeline as aligned lines: offset, kind, subject (cut to subject_width unless None), short detail."""
    entries = list(entries)
    if not entries:
        return "(no entries)"
    subjects = [_one_line(e.subject) for e in entries]
    width = subject_width or max(len(s) for s in subjects)
    cut = [s if len(s) <= width else s[: width - 3] + "..." for s in subjects]
    stamps = [offset(e.offset) for e in entries]
    stamp_width = max(len(s) for s in stamps)  # wider than usual only past 27 hours
    kind_width = max(len(e.kind) for e in entries)
    subject_width = max(len(s) for s in cut)
    return "\n".join(
        f"{stamp:>{stamp_width}}  {e.kind:<{kind_width}}  {subject:<{subject_width}}  {_brief(e)}".rstrip()
        for e, stamp, subject in zip(entries, stamps, cut)
    )


def _evidence(journal: Journal) -> str:
    """The last expectations' subjects, what they expected, met or missed, and what they saw, compactly."""
    decided = [e for e in journal.entries if e.kind in (EntryKind.EXPECTATION_MET, EntryKind.EXPECTATION_MISSED)]
    parts = []
    for entry in decided[-EVIDENCE_SHOWN:]:
        met = entry.kind == EntryKind.EXPECTATION_MET
        seen = entry.detail.get("state" if met else "last")
        text = _one_line(f"{entry.subject} {entry.detail.get('expected', '')}: {'met' if met else 'MISSED'}, saw {seen}")
        parts.append(text if len(text) <= EVIDENCE_WIDTH else text[: EVIDENCE_WIDTH - 3] + "...")
    return "; ".join(parts)


@dataclass(frozen=True)
class Row:
    """One scenario's line in summary.md."""

    scenario: str
    verdict: str
    time_to_detect: float | None
    time_to_recover: float | None
    journal: Path
    failure: str
    evidence: str = ""

    @classmethod
    def of(cls, path: Path) -> Row:
        if path.name == SKIP_RECORD:
            record = json.loads(path.read_text())
            return cls(record["node_id"], record["verdict"], None, None, path, record.get("reason", ""))
        try:
            journal = Journal.load(path)
        except JournalError as error:
            return cls(str(path.parent.name), "unreadable", None, None, path, str(error))
        message = (journal.error or {}).get("message", "")
        return cls(journal.scenario.node_id, str(journal.status or "unfinished"), journal.time_to_detect(),
                   journal.time_to_recover(), path, message.strip().splitlines()[0] if message.strip() else "",
                   _evidence(journal))


def write_skip_record(directory: Path, node_id: str, verdict: str, reason: str) -> Path:
    """Record that a scenario did not run (`verdict` SKIPPED or NOT_APPLICABLE) and why."""
    if verdict not in (SKIPPED, NOT_APPLICABLE):
        raise ValueError(f"write_skip_record: verdict {verdict!r} is neither {SKIPPED!r} nor {NOT_APPLICABLE!r}")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SKIP_RECORD
    path.write_text(json.dumps({"node_id": node_id, "verdict": verdict, "reason": reason}))
    return path


def find_journals(directory: Path) -> list[Path]:
    return sorted(Path(directory).rglob(JOURNAL))


def find_rows(directory: Path) -> list[Path]:
    """Every journal and skip record under `directory`, by scenario directory: one summary row each."""
    return sorted([*find_journals(directory), *Path(directory).rglob(SKIP_RECORD)])


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_markdown(directory: Path) -> str:
    """summary.md's text: one table row per journal or skip record under `directory` and a totals line."""
    directory = Path(directory)
    rows = [Row.of(path) for path in find_rows(directory)]
    lines = [f"# certchaos run {directory.name}", "",
             "| scenario | verdict | time to detect | time to recover | journal | failure or reason | evidence |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(cell) for cell in (
            row.scenario, row.verdict, _seconds(row.time_to_detect), _seconds(row.time_to_recover),
            str(row.journal.relative_to(directory)), row.failure, row.evidence)) + " |")
    verdicts = [*Status, SKIPPED, NOT_APPLICABLE]
    counts = {verdict: sum(row.verdict == verdict for row in rows) for verdict in verdicts}
    totals = ", ".join(f"{count} {verdict}" for verdict, count in counts.items())
    others = len(rows) - sum(counts.values())
    lines += ["", f"Totals: {len(rows)} scenarios: {totals}" + (f", {others} unreadable or unfinished" if others else "")]
    return "\n".join(lines) + "\n"


def write_summary(directory: Path) -> Path | None:
    """Write <directory>/summary.md; None (and nothing written) when the directory holds no journal or skip
    record."""
    directory = Path(directory)
    if not find_rows(directory):
        return None
    path = directory / SUMMARY
    path.write_text(summary_markdown(directory))
    return path


def scenario_story(journal: Journal) -> str:
    """A scenario's header and lifecycle, as printed by `certchaos report`."""
    lines = [f"{journal.scenario.node_id}: {journal.status or 'unfinished'}"]
    if journal.scenario.failure:
        lines.append(f"  failure: {journal.scenario.failure}")
    lines.append(f"  time to detect: {_seconds(journal.time_to_detect())}, "
                 f"time to recover: {_seconds(journal.time_to_recover())}")
    lines.append(f"  journal: {journal.path}")
    lines.append(lifecycle(journal.entries))
    return "\n".join(lines)
