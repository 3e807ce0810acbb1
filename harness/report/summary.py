"""Reports from journals: summary.md for a run directory and the text story (lifecycle) of one scenario.

A scenario that did not run (skipped, or not applicable to the provider) has no journal but a skip record
(skipped.json) in its directory, so it still gets a row. `certchaos report` (harness.cli.report) prints them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from harness.report.journal import Entry, Journal, JournalError, EntryKind, Status, detected_by, time_to_alert

SUMMARY = "summary.md"
JOURNAL = "journal.json"
SKIP_RECORD = "skipped.json"
SKIPPED, NOT_APPLICABLE = "skipped", "not-applicable"  # verdicts of scenarios that did not run
UNREADABLE = "unreadable"  # the verdict of a journal that cannot be read: the run's outcome is unknown
EVIDENCE_SHOWN = 2  # the last expectations (met or missed) decide a verdict; older ones are in the journal
ALERT_TRANSITIONS_SHOWN = 3  # an alert's last state changes beside an alert expectation: pending, firing, inactive
EVIDENCE_WIDTH = 90  # per expectation in the evidence column
DETAIL_WIDTH = 100  # one terminal line for the detail column; the journal keeps everything
SUBJECT_WIDTH = 48  # a Certificate ns/name fits; long fault reprs are cut, the journal has them whole
# Under each scenario that did not pass: its failure's further lines (near misses, fault timeline) and what moved
# last in its journal, so a CI log is evidence after its run's journals are gone.
FAILURE_LINES_SHOWN = 12
LAST_MOVES_SHOWN = 15
WARNINGS_SHOWN, WARNING_WIDTH = 3, 600  # a failed scenario's last distinct Warning Events, nearly whole
_GO_BYTES = re.compile(r"\[\]byte\{[^}]*\}")  # a Go byte slice quoted in an error (a CSR): bytes that say nothing
_MOVES = (EntryKind.RESOURCE_CONDITION, EntryKind.K8S_EVENT, EntryKind.FAULT_APPLIED, EntryKind.FAULT_REVERTED,
          EntryKind.FAULT_REVERT_FAILED, EntryKind.EXPECTATION_MET, EntryKind.NOTE)

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


def readable(message: str) -> str:
    """An API server's or controller's message with the Go byte slices it quotes (a whole CSR) cut out: what is
    said after them (which usages differ) is what tells."""
    return _GO_BYTES.sub("[]byte{...}", message)


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


def _alert_view(view: Any) -> Any:
    """An alert condition's view (alert_state, no_alert_firing, notification_received; also inside all_of,
    holds_throughout, holds_until) as short text: which alerts were active, in which state, what reached
    the receiver. Other views are returned as they are."""
    if isinstance(view, list):
        return [_alert_view(item) for item in view]
    if not isinstance(view, dict):
        return view
    if isinstance(view.get("active"), list):  # one alert's states (alert_state names it), or any alert's
        active = [str(a.get("state")) if "alert" in view else f"{a.get('labels', {}).get('alertname', '?')} "
                  f"{a.get('state')}" for a in view["active"] if isinstance(a, dict)]
        return ", ".join(active) or "no alert active"
    if isinstance(view.get("received"), list):
        received = [str(n.get("status")) for n in view["received"] if isinstance(n, dict)]
        return "notified " + ", ".join(received) if received else "no notification"
    if set(view) == {"held_for", "state"}:  # holds_throughout's view
        return f"{_alert_view(view['state'])} for {view['held_for']}s"
    return {key: _alert_view(value) for key, value in view.items()}


# An alert as _compact (conditions/alerts.py) shows it, inside the repr a broken holds_throughout gave up with.
_ACTIVE_IN_TEXT = re.compile(r"'state': '(pending|firing)', 'labels': \{[^}]*?'alertname': '([^']+)'")


def _gave_up(text: str) -> str:
    """Why a "nothing happens" expectation gave up; the alerts that broke it, when alerts did."""
    held = re.match(r"stopped holding after [0-9.]+s", text)
    active = [f"{name} {state}" for state, name in _ACTIVE_IN_TEXT.findall(text)]
    return f"{held.group(0) if held else 'gave up'}: {', '.join(active)}" if active else text


def _alert_of(view: Any) -> tuple[str, dict] | None:
    """(alertname, labels) an alert expectation waited for (alert_state, notification_received), if any."""
    if isinstance(view, list):
        return next((found for found in map(_alert_of, view) if found), None)
    if not isinstance(view, dict):
        return None
    if isinstance(view.get("alert"), str):
        return view["alert"], dict(view.get("labels") or {})
    return next((found for found in map(_alert_of, view.values()) if found), None)


def _expected_alerts(entries: Iterable[Entry]) -> list[tuple[str, dict]]:
    """The alerts the scenario's expectations named, met or missed."""
    named = []
    for entry in entries:
        if entry.kind in (EntryKind.EXPECTATION_MET, EntryKind.EXPECTATION_MISSED, EntryKind.OBSERVED):
            found = _alert_of(entry.detail.get("state", entry.detail.get("last")))
            if found and found not in named:
                named.append(found)
    return named


def _is_alert(entry: Entry, alertname: str, labels: dict) -> bool:
    have = entry.detail.get("labels") or {}
    return entry.detail.get("alertname") == alertname and all(have.get(k) == v for k, v in labels.items())


def _alert_transitions(entries: Iterable[Entry], alertname: str, labels: dict) -> str:
    """The alert log's last state changes of one alert and its notifications: 'pending +3.1s, firing +123.4s'."""
    changes = [f"{e.detail.get('state') or 'notified ' + str(e.detail.get('status'))} +{e.offset:.1f}s"
               for e in entries if e.kind in (EntryKind.ALERT, EntryKind.NOTIFICATION) and _is_alert(e, alertname, labels)]
    return ", ".join(changes[-ALERT_TRANSITIONS_SHOWN:]) or "never active"


def _evidence(journal: Journal) -> str:
    """The last expectations' subjects, what they expected, met or missed, and what they saw, compactly; an
    alert expectation also shows the alert log's transitions of its alert. When an alert expectation is not
    among the last ones, the last alert expectation is shown first: an alert is evidence of its own."""
    entries = journal.entries
    decided = [e for e in entries if e.kind in (EntryKind.EXPECTATION_MET, EntryKind.EXPECTATION_MISSED)]
    shown = decided[-EVIDENCE_SHOWN:]
    alerts = [e for e in decided if _alert_of(e.detail.get("state", e.detail.get("last")))]
    if alerts and alerts[-1] not in shown:
        shown.insert(0, alerts[-1])
    parts = []
    for entry in shown:
        met = entry.kind == EntryKind.EXPECTATION_MET
        seen = entry.detail.get("state" if met else "last")
        alert = _alert_of(seen)
        log = f" (alert log: {_alert_transitions(entries, *alert)})" if alert else ""
        gave_up = entry.detail.get("gave_up")
        outcome = f"saw {_alert_view(seen)}" if met or not gave_up else _gave_up(gave_up)
        head = _one_line(f"{entry.subject} {entry.detail.get('expected', '')}: {'met' if met else 'MISSED'}") + ", "
        # What alerts did is short (names and states) and is the point: only the rest is cut to width.
        whole = bool(alert) or (bool(gave_up) and not met and outcome != gave_up)
        text = head + ("" if whole else _one_line(outcome))
        text = text if len(text) <= EVIDENCE_WIDTH else text[: EVIDENCE_WIDTH - 3] + "..."
        parts.append(text + (_one_line(outcome) if whole else "") + log)
    # Measured figures (the reload scenarios' notes "figure: <name>"), with who was measured (e.g. which Reloader).
    figures = [f"{e.subject.removeprefix('figure: ')}: {e.detail.get('seconds')}s"
               + (f" ({e.detail['reloader']})" if e.detail.get("reloader") else "")
               for e in entries if e.kind == EntryKind.NOTE and e.subject.startswith("figure: ")]
    return "; ".join(figures + parts)


def alert_times(journal: Journal) -> tuple[float | None, float | None]:
    """(fault -> firing, fault -> notification) for the scenario's own alerts: those with its namespace (the
    alert log records no other namespace) and the namespace-less ones an expectation named (ACME errors of its
    CA host, cert-manager absent). Another scenario's ACME errors in the same lab do not count."""
    named = _expected_alerts(journal.entries)

    def own(entry: Entry) -> bool:
        if entry.kind not in (EntryKind.ALERT, EntryKind.NOTIFICATION):
            return True
        return "namespace" in (entry.detail.get("labels") or {}) or any(_is_alert(entry, *alert) for alert in named)

    entries = [e for e in journal.entries if own(e)]
    return time_to_alert(entries), time_to_alert(entries, kind=EntryKind.NOTIFICATION)


@dataclass(frozen=True)
class Figures:
    """A scenario's measured times. Computed here once, so summary.md, report.html, `certchaos report` and its
    --json never disagree (report.html once counted other scenarios' alerts in time to alert)."""

    time_to_detect: float | None  # its fault -> the first met detects-expectation
    time_to_recover: float | None  # its revert (or a game day's injection) -> the first met recovers-expectation
    time_to_alert: float | None  # fault -> the scenario's first firing alert (alert_times)
    time_to_notify: float | None  # fault -> its first firing notification at the receiver
    detected_by: str | None = None  # the evidence time to detect was measured on (journal.detected_by)


def figures(journal: Journal) -> Figures:
    return Figures(journal.time_to_detect(), journal.time_to_recover(), *alert_times(journal),
                   detected_by(journal.entries))


def load_journal(path: Path) -> Journal:
    """Journal.load; a malformed journal (a missing key, a kind outside the closed set) is a JournalError too,
    so one bad file is a row saying so, never a crash of the report."""
    try:
        return Journal.load(path)
    except JournalError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise JournalError(f"{path}: malformed journal: {error!r}") from error


@dataclass(frozen=True)
class Row:
    """One scenario's line in summary.md (and report.html's table)."""

    scenario: str
    verdict: str
    time_to_detect: float | None
    time_to_recover: float | None
    journal: Path
    failure: str
    evidence: str = ""
    time_to_alert: float | None = None  # fault -> the scenario's first firing alert
    time_to_notify: float | None = None  # fault -> its first firing notification at the receiver
    detected_by: str | None = None  # what time to detect was measured on

    @classmethod
    def of(cls, path: Path) -> Row:
        if path.name == SKIP_RECORD:
            record = json.loads(path.read_text())
            return cls(record["node_id"], record["verdict"], None, None, path, record.get("reason", ""))
        try:
            journal = load_journal(path)
        except JournalError as error:
            return cls.unreadable(path, error)
        return cls.of_journal(path, journal)

    @classmethod
    def unreadable(cls, path: Path, error: Exception) -> Row:
        return cls(str(path.parent.name), UNREADABLE, None, None, path, str(error))

    @classmethod
    def of_journal(cls, path: Path, journal: Journal) -> Row:
        message = (journal.error or {}).get("message", "")
        measured = figures(journal)
        return cls(journal.scenario.node_id, str(journal.status or "unfinished"), measured.time_to_detect,
                   measured.time_to_recover, path, message.strip().splitlines()[0] if message.strip() else "",
                   _evidence(journal), measured.time_to_alert, measured.time_to_notify, measured.detected_by)

    def to_json(self, directory: Path) -> dict[str, Any]:
        """The row for `certchaos report --json`: seconds as numbers (null: never happened), the journal's path
        relative to the report dir."""
        try:
            journal = str(self.journal.relative_to(directory))
        except ValueError:
            journal = str(self.journal)
        return {"scenario": self.scenario, "verdict": self.verdict, "time_to_detect": self.time_to_detect,
                "detected_by": self.detected_by,
                "time_to_alert": self.time_to_alert, "time_to_notify": self.time_to_notify,
                "time_to_recover": self.time_to_recover, "journal": journal, "failure": self.failure,
                "evidence": self.evidence}


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


def detect_cell(seconds: float | None, by: str | None) -> str:
    """'3.4s by ACME client': the time and the evidence it was measured on."""
    return _seconds(seconds) + (f" by {by}" if seconds is not None and by else "")


def _alert_seconds(firing: float | None, notified: float | None) -> str:
    """'125.0s / 126.0s': fault to firing, fault to notification; '-' for what never happened."""
    return "-" if firing is None and notified is None else f"{_seconds(firing)} / {_seconds(notified)}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def read_rows(directory: Path) -> list[Row]:
    """A row per journal or skip record under `directory`, by scenario directory."""
    return [Row.of(path) for path in find_rows(directory)]


def summary_markdown(directory: Path, rows: list[Row] | None = None, preface: str = "") -> str:
    """summary.md's text: one table row per journal or skip record under `directory` (`rows`, when read
    already) and a totals line; `preface` (Markdown: `certchaos explore`'s schedules) goes before the table."""
    directory = Path(directory)
    rows = read_rows(directory) if rows is None else rows
    lines = [f"# certchaos run {directory.name}", "", *([preface.rstrip(), ""] if preface else []),
             "| scenario | verdict | time to detect | time to alert (firing / notified) | time to recover | journal "
             "| failure or reason | evidence |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(cell) for cell in (
            row.scenario, row.verdict, detect_cell(row.time_to_detect, row.detected_by),
            _alert_seconds(row.time_to_alert, row.time_to_notify), _seconds(row.time_to_recover),
            str(row.journal.relative_to(directory)), row.failure, row.evidence)) + " |")
    verdicts = [*Status, SKIPPED, NOT_APPLICABLE]
    counts = {verdict: sum(row.verdict == verdict for row in rows) for verdict in verdicts}
    totals = ", ".join(f"{count} {verdict}" for verdict, count in counts.items())
    others = len(rows) - sum(counts.values())
    lines += ["", f"Totals: {len(rows)} scenarios: {totals}" + (f", {others} unreadable or unfinished" if others else "")]
    lines += [f"\n{line}" for line in pairing_lines(directory)]
    lines += _known_issues(directory, rows)
    lines += _not_passed(directory, rows)
    return "\n".join(lines) + "\n"


def _known_issues(directory: Path, rows: list[Row]) -> list[str]:
    """The scenarios that found a known bug of the release under test: what it is, and its evidence's journal."""
    known = [row for row in rows if row.verdict == Status.KNOWN_ISSUE]
    if not known:
        return []
    lines = ["", f"Known issues of the releases under test (they do not fail the run): {len(known)}"]
    lines += [f"- {row.scenario}: {row.failure or 'no failure recorded'} ({row.journal.relative_to(directory)})"
              for row in known]
    return lines


def _not_passed(directory: Path, rows: list[Row]) -> list[str]:
    """The rows that neither passed, found a known issue nor were skipped, again at the very end with their
    failure: what a CI log's tail shows is then what failed and why, not the last rows of the table."""
    bad = [row for row in rows if row.verdict not in (Status.PASSED, Status.KNOWN_ISSUE, SKIPPED, NOT_APPLICABLE)]
    if not bad:
        return []
    lines = ["", f"Not passed: {len(bad)} of {len(rows)}"]
    for row in bad:
        lines.append(f"- {row.scenario}: {row.verdict}: {row.failure or 'no failure recorded'} "
                     f"({row.journal.relative_to(directory)})")
        lines += _last_moves(row.journal)
    return lines


def _last_moves(path: Path) -> list[str]:
    """A not-passed scenario's failure beyond its first line, and the last objects, events and faults its journal
    saw (nothing when it cannot be read: its row says so)."""
    try:
        journal = load_journal(path)
    except JournalError:
        return []
    further = ((journal.error or {}).get("message") or "").strip().splitlines()[1:]
    lines = ["    " + line for line in further[:FAILURE_LINES_SHOWN]]
    moves = [entry for entry in journal.entries if entry.kind in _MOVES][-LAST_MOVES_SHOWN:]
    if moves:
        lines.append("    last in its journal:")
        lines += ["      " + line for line in lifecycle(moves).splitlines()]
    # The lifecycle cuts each detail to a line: the Events that said why are shown again, nearly whole.
    warnings = list(dict.fromkeys(_one_line(readable(str(entry.detail.get("message", "")))) for entry in moves
                                  if entry.kind is EntryKind.K8S_EVENT and entry.detail.get("type") == "Warning"))
    if warnings:
        lines.append("    its last Warning Events, whole:")
        lines += [f"      {text[:WARNING_WIDTH]}" for text in warnings[-WARNINGS_SHOWN:]]
    return lines


def pairing_lines(directory: Path) -> list[str]:
    """One line per cert-manager/Kubernetes pairing the journals ran on (environment.pairing), saying whether
    cert-manager's documentation supports it: a run with --allow-unsupported-kubernetes says so where it is read."""
    seen: dict[tuple, dict] = {}
    for path in find_journals(directory):
        try:
            pairing = json.loads(path.read_text()).get("environment", {}).get("pairing")
        except (OSError, ValueError):
            continue  # its row says it is unreadable
        if pairing:
            seen.setdefault((pairing["cert_manager"], pairing["kubernetes"]), pairing)
    lines = []
    for pairing in seen.values():
        said = "UNSUPPORTED" if pairing["support"] == "unsupported" else pairing["support"]
        where = (f" (its documentation lists {pairing['supported_kubernetes']}: {pairing['source']})"
                 if pairing["supported_kubernetes"] else "")
        lines.append(f"cert-manager {pairing['cert_manager']} on Kubernetes {pairing['kubernetes']}: {said}{where}")
    return lines


def write_summary(directory: Path, rows: list[Row] | None = None, preface: str = "") -> Path | None:
    """Write <directory>/summary.md (of `rows`, when read already; `preface` before the table); None (and
    nothing written) when the directory holds no journal or skip record."""
    directory = Path(directory)
    if not (rows if rows is not None else find_rows(directory)):
        return None
    path = directory / SUMMARY
    path.write_text(summary_markdown(directory, rows, preface))
    return path


def scenario_story(journal: Journal) -> str:
    """A scenario's header and lifecycle, as printed by `certchaos report`."""
    lines = [f"{journal.scenario.node_id}: {journal.status or 'unfinished'}"]
    if journal.scenario.failure:
        lines.append(f"  failure: {journal.scenario.failure}")
    measured = figures(journal)
    lines.append(f"  time to detect: {detect_cell(measured.time_to_detect, measured.detected_by)}, "
                 f"time to alert: {_seconds(measured.time_to_alert)} (notified: {_seconds(measured.time_to_notify)}), "
                 f"time to recover: {_seconds(measured.time_to_recover)}")
    lines.append(f"  journal: {journal.path}")
    lines.append(lifecycle(journal.entries))
    return "\n".join(lines)
