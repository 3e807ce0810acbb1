"""report.html: the run's summary table, and per scenario a swimlane timeline and the evidence for its verdict.

One self-contained file (inline CSS and SVG, no script, nothing fetched), written beside summary.md, so it
can be attached to a ticket or opened from a CI artifact. Journals hold arbitrary strings (error messages,
DNS names, fault reprs): every one is escaped. A journal that cannot be read is a row saying so, never a
crash of the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.report.journal import Entry, EntryKind, Journal, JournalError
from harness.report.summary import SKIP_RECORD, UNREADABLE, Row, detect_cell as _detect, figures, find_rows, load_journal
from harness.report.svg import Lane, Mark, Span, Tick, escape, swimlanes

REPORT_HTML = "report.html"
SEEN_LIMIT = 1500  # characters of what an expectation saw; the journal has the rest
RESOURCE_KINDS = ("Certificate", "CertificateRequest", "Order", "Challenge")
REFUSED_RCODES = ("REFUSED", "NOTAUTH", "SERVFAIL")  # an update the DNS server did not accept

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#1b1f24;background:#fff}
h1{font-size:22px}h2{font-size:17px;margin:28px 0 6px;border-top:1px solid #ccd;padding-top:12px}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#eef1f5}td:first-child{word-break:break-all}td.num{text-align:right;white-space:nowrap}
.verdict{font-weight:600;padding:1px 6px;border-radius:3px;white-space:nowrap}
.v-passed{background:#d8f3dc;color:#145a22}.v-known-issue{background:#fff3b0;color:#5c4a00}.v-deviated{background:#ffe1c2;color:#7a3300}
.v-harness-error,.v-unreadable{background:#f9d0d0;color:#7a0010}
.v-interrupted,.v-unfinished,.v-skipped,.v-not-applicable{background:#e4e4ea;color:#333}
pre{background:#f6f8fa;border:1px solid #dde;padding:6px;white-space:pre-wrap;word-break:break-word;font-size:12px}
.muted{color:#667}.met{color:#145a22}.missed{color:#a00010;font-weight:600}
svg.timeline{width:100%;height:auto;font:11px sans-serif;margin:6px 0}
svg .band0{fill:#fbfbfd}svg .band1{fill:#f1f3f7}svg .label{fill:#222}svg .axis{fill:#667;text-anchor:middle}
svg .grid{stroke:#dde;stroke-width:1}svg .tick{stroke-width:2;stroke:#8a94a6}svg .span{fill:#8a94a6}
svg .fault{fill:#e8833a}svg .fault-open{fill:#d9480f}svg .phase{fill:#c9d3e3}
svg .ok,svg .met{fill:#2f9e44;stroke:#2f9e44}svg .bad,svg .missed{fill:#e03131;stroke:#e03131}
svg .span.met,svg .span.missed{fill-opacity:.3}
svg .warn{stroke:#f08c00;fill:#f08c00}svg .info{stroke:#1c7ed6;fill:#1c7ed6}
svg .mark line{stroke-width:2;stroke-dasharray:5 3}svg .mark text{font-weight:600}
svg .detect line{stroke:#c2255c}svg .detect text{fill:#c2255c}svg .recover line{stroke:#2b8a3e}svg .recover text{fill:#2b8a3e}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:14px;height:8px;margin-right:4px}
"""

LEGEND = ('<p class="legend muted"><span><i style="background:#e8833a"></i>fault applied..reverted</span>'
          '<span><i style="background:#2f9e44"></i>met / healthy / True</span>'
          '<span><i style="background:#e03131"></i>missed / refused / Warning / firing</span>'
          '<span><i style="background:#f08c00"></i>False / pending</span>'
          '<span><i style="background:#1c7ed6"></i>DNS update accepted / metric change</span>'
          '<span><i style="background:#1c7ed6"></i>team mark (game day)</span>'
          '<span style="color:#c2255c">- - detect</span><span style="color:#2b8a3e">- - recover</span>'
          ' (hover a mark for its detail)</p>')


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _text(value: Any, limit: int = SEEN_LIMIT) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=repr, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _hover(entry: Entry) -> str:
    return f"+{entry.offset:.3f}s {entry.kind} {entry.subject}: {_text(entry.detail, 400)}"


@dataclass(frozen=True)
class ReportedScenario:
    """One row of the report: a loaded journal, or why there is none (skip record, unreadable file)."""

    row: Row
    journal: Journal | None


def load(path: Path) -> ReportedScenario:
    """The row summary.md has for `path` (the same figures), with its journal when it could be read."""
    if path.name == SKIP_RECORD:
        return ReportedScenario(Row.of(path), None)
    try:
        journal = load_journal(path)
    except JournalError as error:
        return ReportedScenario(Row.unreadable(path, error), None)
    return ReportedScenario(Row.of_journal(path, journal), journal)


# --- lanes -------------------------------------------------------------------------------------------------

def _phase_lane(entries: list[Entry], end: float) -> Lane:
    phases = [e for e in entries if e.kind is EntryKind.PHASE]
    lane = Lane("phases")
    for entry, following in zip(phases, [*phases[1:], None]):
        lane.spans.append(Span(entry.offset, following.offset if following else end, "phase",
                               f"phase {entry.subject} from +{entry.offset:.1f}s"))
    return lane


def _fault_lane(entries: list[Entry]) -> Lane:
    lane = Lane("faults")
    for applied in (e for e in entries if e.kind is EntryKind.FAULT_APPLIED):
        fault_id = applied.detail.get("fault_id")
        reverted = next((e for e in entries if e.kind is EntryKind.FAULT_REVERTED
                         and e.detail.get("fault_id") == fault_id), None)
        description = applied.detail.get("description", "")
        until = f"reverted at +{reverted.offset:.1f}s" if reverted else "never reverted"
        lane.spans.append(Span(applied.offset, reverted.offset if reverted else None,
                               "fault" if reverted else "fault-open",
                               f"{applied.subject}: {description} (applied at +{applied.offset:.1f}s, {until})"))
    for failed in (e for e in entries if e.kind is EntryKind.FAULT_REVERT_FAILED):
        lane.ticks.append(Tick(failed.offset, "bad", "revert FAILED: " + _hover(failed), tall=True))
    return lane


def _expectation_lane(entries: list[Entry]) -> Lane:
    lane = Lane("expectations")
    for entry in entries:
        if entry.kind in (EntryKind.EXPECTATION_MET, EntryKind.EXPECTATION_MISSED):
            met = entry.kind is EntryKind.EXPECTATION_MET
            started = entry.detail.get("started")
            start = started if isinstance(started, (int, float)) else entry.offset
            lane.spans.append(Span(start, entry.offset, "met" if met else "missed",
                                   f"{'met' if met else 'MISSED'}: {entry.subject} {entry.detail.get('expected', '')} "
                                   f"(+{start:.1f}s..+{entry.offset:.1f}s)"))
            # Overlapping waits blur together; the instant each was decided stands out as a tick.
            lane.ticks.append(Tick(entry.offset, "met" if met else "missed",
                                   f"{'met' if met else 'MISSED'} at +{entry.offset:.1f}s: {entry.subject} "
                                   f"{entry.detail.get('expected', '')}", tall=True))
    return lane


def _conditions_css(detail: dict) -> str:
    statuses = [c.get("status") for c in (detail.get("conditions") or {}).values() if isinstance(c, dict)]
    ready = (detail.get("conditions") or {}).get("Ready")
    if isinstance(ready, dict) and ready.get("status") == "True":
        return "ok"
    return "warn" if "False" in statuses else ""


def _resource_lanes(entries: list[Entry]) -> list[Lane]:
    lanes = {kind: Lane(kind) for kind in RESOURCE_KINDS}
    for entry in entries:
        if entry.kind is EntryKind.RESOURCE_CONDITION:
            kind = entry.subject.split(" ", 1)[0]
            lane = lanes.setdefault(kind, Lane(kind))  # a kind added later still gets its lane
            detail = entry.detail if isinstance(entry.detail, dict) else {}
            lane.ticks.append(Tick(entry.offset, _conditions_css(detail), _hover(entry)))
    return [lane for lane in lanes.values() if lane.ticks]


def _event_lane(entries: list[Entry]) -> Lane:
    lane = Lane("Events")
    for entry in entries:
        if entry.kind is EntryKind.K8S_EVENT:
            warning = entry.detail.get("type") == "Warning"
            title = f"{entry.detail.get('type', '')} {entry.detail.get('reason', '')}: {_hover(entry)}"
            lane.ticks.append(Tick(entry.offset, "bad" if warning else "", title, tall=warning))
    return lane


def _dns_lanes(entries: list[Entry]) -> list[Lane]:
    queries, updates = Lane("DNS queries"), Lane("DNS updates")
    for entry in entries:
        if entry.kind is not EntryKind.DNS_LOG:
            continue
        refused = entry.detail.get("rcode") in REFUSED_RCODES
        if entry.subject.startswith("DNS update") or "changes" in entry.detail:
            title = ("REFUSED " if refused else "") + _hover(entry)
            updates.ticks.append(Tick(entry.offset, "bad" if refused else "info", title, tall=refused))
        else:
            queries.ticks.append(Tick(entry.offset, "bad" if refused else "", _hover(entry), tall=refused))
    return [queries, updates]


def _metric_lane(entries: list[Entry]) -> Lane:
    """A tick where a series' value changed: samples repeat every scrape, changes are what tell the story."""
    lane, last = Lane("metrics (changes)"), {}
    for entry in entries:
        if entry.kind is EntryKind.METRIC_SAMPLE:
            series = entry.subject + json.dumps(entry.detail.get("labels"), sort_keys=True, default=repr)
            value = entry.detail.get("value")
            if series in last and last[series] != value:
                lane.ticks.append(Tick(entry.offset, "info", f"{_hover(entry)} (was {last[series]})"))
            last[series] = value
    return lane


def _alert_lane(entries: list[Entry]) -> Lane:
    lane = Lane("alerts, notifications")
    css = {"firing": "bad", "pending": "warn", "resolved": "ok", "inactive": "ok"}
    for entry in entries:
        if entry.kind in (EntryKind.ALERT, EntryKind.NOTIFICATION):
            state = entry.detail.get("state" if entry.kind is EntryKind.ALERT else "status")
            lane.ticks.append(Tick(entry.offset, css.get(state, ""), _hover(entry),
                                   tall=entry.kind is EntryKind.NOTIFICATION))
    return lane


def _served_lanes(entries: list[Entry]) -> list[Lane]:
    """Served certificates (an entry whose detail, or its state, has a serial and names a pod): a lane per pod."""
    lanes: dict[str, Lane] = {}
    serials: dict[str, str] = {}
    for entry in entries:
        detail = entry.detail.get("state") if isinstance(entry.detail.get("state"), dict) else entry.detail
        if "serial" in detail and "pod" in detail:
            pod, serial = str(detail["pod"]), str(detail["serial"])
            lane = lanes.setdefault(pod, Lane(f"served by {pod}"))
            changed = serials.get(pod) != serial  # a new certificate on the wire is the event worth seeing
            serials[pod] = serial
            lane.ticks.append(Tick(entry.offset, "info" if changed else "", f"serial {serial}: {_hover(entry)}",
                                   tall=changed))
    return list(lanes.values())


def _note_lane(entries: list[Entry]) -> Lane:
    lane = Lane("notes")
    lane.ticks = [Tick(e.offset, "", _hover(e)) for e in entries if e.kind is EntryKind.NOTE]
    return lane


def _team_lane(entries: list[Entry]) -> Lane:
    """A game day's team: their marks (ack, note, fixed: green when the harness saw the system healthy then,
    red when not) and a runbook's steps as spans (red when the step failed)."""
    lane = Lane("team (game day)")
    for entry in entries:
        if entry.kind is EntryKind.TEAM:
            fixed = entry.subject == "fixed"
            css = ("ok" if entry.detail.get("true_at_the_time") else "bad") if fixed else "info"
            truth = "" if not fixed else (" (true at the time)" if entry.detail.get("true_at_the_time")
                                          else " (NOT true at the time)")
            lane.ticks.append(Tick(entry.offset, css, f"team: {entry.subject}{truth} {_hover(entry)}", tall=True))
        elif entry.kind is EntryKind.RUNBOOK_STEP:
            started = entry.detail.get("started")
            start = started if isinstance(started, (int, float)) else entry.offset
            ok = entry.detail.get("exit_code") == 0
            lane.spans.append(Span(start, entry.offset, "met" if ok else "missed",
                                   f"runbook {entry.subject}: exit {entry.detail.get('exit_code')} "
                                   f"(+{start:.1f}s..+{entry.offset:.1f}s): {_text(entry.detail.get('output', ''), 300)}"))
    return lane


def _game_marks(entries: list[Entry]) -> list[Mark]:
    """A game day's recovery as the harness saw it (the team repairs, so no recovers-expectation marks it)."""
    recovered = next((e for e in entries if e.kind is EntryKind.GAME and e.subject == "recovered"), None)
    if recovered is None:
        return []
    took = recovered.detail.get("time_to_recover")
    after = f" ({_seconds(took)} after the injection)" if isinstance(took, (int, float)) else ""
    return [Mark(recovered.offset, "recover", f"recovered +{recovered.offset:.1f}s{after}")]


def timeline_svg(journal: Journal) -> str:
    """The scenario's swimlanes with detect and recover marks."""
    entries = list(journal.entries)
    end = max([e.offset for e in entries] + [(journal.ended_at or journal.started_at) - journal.started_at, 0.0])
    lanes = [_phase_lane(entries, end), _fault_lane(entries), _expectation_lane(entries), *_resource_lanes(entries),
             _event_lane(entries), *_dns_lanes(entries), _metric_lane(entries), _alert_lane(entries),
             *_served_lanes(entries), _note_lane(entries), _team_lane(entries)]
    marks = _game_marks(entries)
    measured = figures(journal)
    for flag, css, measure in (("detects", "detect", measured.time_to_detect),
                               ("recovers", "recover", measured.time_to_recover)):
        met = next((e for e in entries if e.kind is EntryKind.EXPECTATION_MET and e.detail.get(flag)), None)
        if met is not None:
            marks.append(Mark(met.offset, css, f"{css} +{met.offset:.1f}s"
                              + (f" ({_seconds(measure)} after the fault)" if measure is not None else "")))
    return swimlanes([lane for lane in lanes if lane.spans or lane.ticks] or [Lane("(no entries)")], end, marks,
                     label=f"timeline of {journal.scenario.node_id}")


# --- page --------------------------------------------------------------------------------------------------

def _verdict(verdict: str) -> str:
    return f'<span class="verdict v-{escape(verdict)}">{escape(verdict)}</span>'


def _alert_cell(row: Row) -> str:
    """Fault -> firing / fault -> notification of the scenario's own alerts (summary.alert_times, as in
    summary.md); '-' when neither happened."""
    if row.time_to_alert is None and row.time_to_notify is None:
        return "-"
    return f"{_seconds(row.time_to_alert)} / {_seconds(row.time_to_notify)}"


def _anchor(index: int) -> str:
    return f"s{index}"


def _summary_table(scenarios: list[ReportedScenario]) -> str:
    rows = []
    for index, scenario in enumerate(scenarios):
        row = scenario.row
        name = escape(row.scenario)
        link = f'<a href="#{_anchor(index)}">{name}</a>' if scenario.journal else name
        rows.append(f"<tr><td>{link}</td><td>{_verdict(row.verdict)}</td><td class=num>{escape(_detect(row.time_to_detect, row.detected_by))}"
                    f"</td><td class=num>{_seconds(row.time_to_recover)}</td><td class=num>{_alert_cell(row)}</td>"
                    f"<td>{escape(row.failure)}</td></tr>")
    return ("<table class=summary><thead><tr><th>scenario</th><th>verdict</th><th>time to detect</th>"
            "<th>time to recover</th><th>time to alert (firing / notified)</th><th>failure or reason</th></tr></thead>"
            "<tbody>" + "".join(rows) + "</tbody></table>")


def _relative(path: Path, directory: Path) -> str:
    try:
        return str(path.relative_to(directory))
    except ValueError:
        return str(path)


def _evidence(journal: Journal) -> str:
    items = []
    for entry in journal.entries:
        if entry.kind in (EntryKind.EXPECTATION_MET, EntryKind.EXPECTATION_MISSED):
            met = entry.kind is EntryKind.EXPECTATION_MET
            flags = [flag for flag in ("detects", "recovers") if entry.detail.get(flag)]
            seen = entry.detail.get("state" if met else "last")
            extra = "" if met else (f" (gave up: {escape(_text(entry.detail['gave_up'], 300))})"
                                    if entry.detail.get("gave_up") else "")
            items.append(f"<li><span class={'met' if met else 'missed'}>{'met' if met else 'MISSED'}</span> "
                         f"at +{entry.offset:.1f}s{' [' + ', '.join(flags) + ']' if flags else ''}: "
                         f"<b>{escape(entry.subject)}</b> {escape(entry.detail.get('expected', ''))}{extra}"
                         f"<pre>saw: {escape(_text(seen))}</pre></li>")
    text = "<ul class=evidence>" + "".join(items) + "</ul>" if items else "<p class=muted>no expectation recorded</p>"
    if journal.error:
        error = journal.error
        text += (f"<p class=missed>{escape(error.get('type', 'error'))} in phase {escape(error.get('phase', '?'))}</p>"
                 f"<pre class=error>{escape(error.get('message', ''))}</pre>")
    return text


def _game_summary(journal: Journal) -> str:
    """A game day's measures (the `game` entry that ended it): the team's times beside the harness's."""
    ended = next((e for e in journal.entries if e.kind is EntryKind.GAME and e.subject == "ended"), None)
    if ended is None:
        return ""
    detail = ended.detail
    marks = "; ".join(f"fixed at +{m.get('after')}s was {'true' if m.get('true_at_the_time') else 'NOT true'} then"
                      for m in detail.get("fixed_marks") or [] if isinstance(m, dict))
    failed = detail.get("failed_step")
    return (f"<p class=game><b>Game day</b> ({escape(detail.get('fault', ''))}, ended: {escape(detail.get('why', ''))}): "
            f"time to acknowledge (team) {_seconds(detail.get('time_to_acknowledge'))}, time to detect (harness) "
            f"{_seconds(detail.get('time_to_detect'))}, time to recover (harness) {_seconds(detail.get('time_to_recover'))}"
            + (f"; {escape(marks)}" if marks else "")
            + (f"; <span class=missed>runbook failed at {escape(failed)}</span>" if failed else "") + "</p>")


def _section(index: int, scenario: ReportedScenario, directory: Path) -> str:
    journal = scenario.journal
    info = journal.scenario
    head = (f'<h2 id="{_anchor(index)}">{escape(info.node_id)} {_verdict(scenario.row.verdict)}</h2>'
            + (f"<p><b>Failure:</b> {escape(info.failure)}</p>" if info.failure else "")
            + (f"<p class=muted><b>Spec:</b> {escape(info.spec)}</p>" if info.spec else "")
            + f"<p>time to detect {escape(_detect(scenario.row.time_to_detect, scenario.row.detected_by))}, time to recover "
              f"{_seconds(scenario.row.time_to_recover)}, time to alert (firing / notified) {_alert_cell(scenario.row)}; "
              f"{len(journal.entries)} entries in <code>{escape(_relative(journal.path, directory))}</code></p>")
    return head + _game_summary(journal) + timeline_svg(journal) + "<h3>Evidence</h3>" + _evidence(journal)


def report_html(directory: Path, preface: str = "") -> str:
    """The whole page for a run directory: `preface` (HTML: `certchaos explore`'s schedules), table, legend, and a
    section per readable journal."""
    directory = Path(directory)
    scenarios = [load(path) for path in find_rows(directory)]
    counts: dict[str, int] = {}
    for scenario in scenarios:
        counts[scenario.row.verdict] = counts.get(scenario.row.verdict, 0) + 1
    totals = ", ".join(f"{count} {verdict}" for verdict, count in sorted(counts.items()))
    unreadable = [s for s in scenarios if s.row.verdict == UNREADABLE]
    body = [f"<h1>certchaos run {escape(directory.name)}</h1>",
            preface, f"<p>{len(scenarios)} scenarios: {escape(totals) or 'none'}</p>", _summary_table(scenarios)]
    if unreadable:
        body.append("<h2>Unreadable journals</h2><ul>" + "".join(
            f"<li>{escape(_relative(s.row.journal, directory))}: <pre>{escape(s.row.failure)}</pre></li>"
            for s in unreadable) + "</ul>")
    body.append(LEGEND)
    body += [_section(index, s, directory) for index, s in enumerate(scenarios) if s.journal is not None]
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<title>certchaos run {escape(directory.name)}</title><style>{CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


def write_report_html(directory: Path, preface: str = "") -> Path | None:
    """Write <directory>/report.html (`preface` before the table); None (nothing written) when the directory holds
    no journal or skip record."""
    directory = Path(directory)
    if not find_rows(directory):
        return None
    path = directory / REPORT_HTML
    path.write_text(report_html(directory, preface), encoding="utf-8")
    return path
