"""Reports: the lifecycle lines up, summary.md has one row per journal and survives a bad one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.report.journal import Clock, Journal, EntryKind, ScenarioInfo, Status
from harness.report.summary import (
    NOT_APPLICABLE, SUBJECT_WIDTH, alert_times, lifecycle, scenario_story, summary_markdown, write_skip_record,
    write_summary,
)


# Observer kinds: their lifecycle line shows every detail key.
OBSERVED_KINDS = [EntryKind.RESOURCE_CONDITION, EntryKind.K8S_EVENT, EntryKind.METRIC_SAMPLE, EntryKind.DNS_LOG, EntryKind.NOTE]


@given(st.lists(st.tuples(st.floats(0, 1e6), st.sampled_from(OBSERVED_KINDS), st.text(min_size=1, max_size=80)),
                min_size=1, max_size=8))
def test_lifecycle_columns_line_up_whatever_the_offsets_kinds_and_subjects(rows):
    now = {"t": 0.0}
    journal = Journal("unused.json", ScenarioInfo("n"), clock=Clock(lambda: now["t"], lambda: 0.0))
    for offset, kind, subject in sorted(rows):
        now["t"] = offset
        journal.record(kind, subject, note="multi\nline")
    lines = lifecycle(journal.entries).splitlines()
    assert len(lines) == len(rows)
    kind_columns = {line.index("s  ") + 3 for line in lines}
    assert len(kind_columns) == 1  # every kind starts in the same column
    detail_columns = {line.index("note=multi line") for line in lines}
    assert len(detail_columns) == 1  # and so does the detail, on one line
    assert all(len(subject) <= SUBJECT_WIDTH or "..." in line for (_, _, subject), line in zip(sorted(rows), lines))


def test_summary_has_a_row_per_journal_escapes_pipes_and_lists_an_unreadable_journal(tmp_path):
    assert write_summary(tmp_path) is None and not (tmp_path / "summary.md").exists()
    journal = Journal(tmp_path / "a.test_one" / "journal.json", ScenarioInfo("test_a.py::test_one[x|y]"))
    journal.record(EntryKind.NOTE, "hello")
    journal.finish(Status.DEVIATED, {"type": "ExpectationFailed", "message": "Expected a | b\nmore", "phase": "call"})
    journal.save()
    (tmp_path / "b.test_two").mkdir()
    (tmp_path / "b.test_two" / "journal.json").write_text('{"schema": "certchaos.journal/v0"}')

    text = summary_markdown(tmp_path)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows[0] == ("| test_a.py::test_one[x\\|y] | deviated | - | - | - | a.test_one/journal.json | "
                       "Expected a \\| b |  |")
    assert rows[1].startswith("| b.test_two | unreadable |") and "certchaos.journal/v0" in rows[1]
    assert text.rstrip().endswith(
        "Totals: 2 scenarios: 0 passed, 0 known-issue, 1 deviated, 0 harness-error, 0 interrupted, 0 skipped, 0 not-applicable, "
        "1 unreadable or unfinished\n\nNot passed: 2 of 2\n"
        "- test_a.py::test_one[x|y]: deviated: Expected a | b (a.test_one/journal.json)\n"
        "    more\n"  # the failure's further lines, then what its journal saw last: evidence in a CI log
        "    last in its journal:\n"
        "          +0.000s  note  hello\n"
        "- b.test_two: unreadable: " + rows[1].split(" | ")[6] + " (b.test_two/journal.json)")
    assert write_summary(tmp_path).read_text() == text


def test_a_failed_scenarios_warning_events_are_shown_whole_without_the_go_bytes_they_quote(tmp_path):
    journal = Journal(tmp_path / "a.test_one" / "journal.json", ScenarioInfo("test_a.py::test_one"))
    denied = ('Failed to create CertificateRequest: admission webhook "webhook.cert-manager.io" denied the request: '
              'spec.request: Invalid value: []byte{0x2d, 0x2d, 0x2d, 0x2d, 0x2d, 0x42}: csr key usages do not match '
              'specified usages, these should match if both are set: [[3]: "s/mime" != "email protection"]')
    for _ in range(3):  # the same Event again: shown once
        journal.record(EntryKind.K8S_EVENT, "Certificate ns/client", type="Warning", reason="RequestFailed",
                       message=denied)
    journal.record(EntryKind.K8S_EVENT, "Certificate ns/client", type="Normal", reason="Issuing", message="x" * 300)
    journal.finish(Status.DEVIATED, {"type": "ExpectationFailed", "message": "Expected issued", "phase": "call"})
    journal.save()
    text = summary_markdown(tmp_path)
    whole = text.split("    its last Warning Events, whole:\n", 1)[1].splitlines()
    assert whole == ['      Failed to create CertificateRequest: admission webhook "webhook.cert-manager.io" denied '
                     'the request: spec.request: Invalid value: []byte{...}: csr key usages do not match specified '
                     'usages, these should match if both are set: [[3]: "s/mime" != "email protection"]']


def test_evidence_is_the_last_expectations_and_a_skip_record_is_a_row(tmp_path):
    journal = Journal(tmp_path / "a.test_one" / "journal.json", ScenarioInfo("test_a.py::test_one"))
    for subject, state in (("Certificate ns/a", "old"), ("Certificate ns/b", {"Ready": "True"})):
        journal.record(EntryKind.EXPECTATION_MET, subject, expected="Ready=True", state=state)
    journal.record(EntryKind.EXPECTATION_MISSED, "Challenge ns/c", expected="to show | REFUSED", last="pending")
    journal.finish(Status.DEVIATED, {"type": "ExpectationFailed", "message": "Expected ...", "phase": "call"})
    journal.save()
    write_skip_record(tmp_path / "a.test_two", "test_a.py::test_two", NOT_APPLICABLE, "needs a node")

    rows = [line for line in summary_markdown(tmp_path).splitlines() if line.startswith("| test_a.py")]
    assert rows[0].endswith("| Certificate ns/b Ready=True: met, saw {'Ready': 'True'}; "
                            "Challenge ns/c to show \\| REFUSED: MISSED, saw pending |")
    assert rows[1] == "| test_a.py::test_two | not-applicable | - | - | - | a.test_two/skipped.json | needs a node |  |"


NS = {"namespace": "ns-a", "name": "web"}
ACME = {"host": "127.0.0.1:4001"}


def _alert_journal(tmp_path, now):
    """A CA outage: another scenario's ACME errors fire first (another host), then this one's, then its paged
    NotReady; the last expectations are about recovery, the alert one comes before them."""
    journal = Journal(tmp_path / "a.test_ca" / "journal.json", ScenarioInfo("test_ca.py::test_down"),
                      clock=Clock(lambda: now[0], lambda: now[0]), environment={})
    at = lambda t: now.__setitem__(0, t)  # noqa: E731 - the clock of the story below
    at(5), journal.record(EntryKind.FAULT_APPLIED, "ProxyDown(...)", fault_id=1)
    at(8), journal.record(EntryKind.ALERT, "alert CertManagerAcmeRequestErrors firing",
                          alertname="CertManagerAcmeRequestErrors", state="firing", labels={"host": "127.0.0.1:9"})
    at(20), journal.record(EntryKind.ALERT, "alert CertManagerAcmeRequestErrors firing",
                           alertname="CertManagerAcmeRequestErrors", state="firing", labels=dict(ACME))
    at(21), journal.record(EntryKind.NOTIFICATION, "notification CertManagerAcmeRequestErrors firing",
                           alertname="CertManagerAcmeRequestErrors", status="firing", labels={"host": "127.0.0.1:9"})
    at(22), journal.record(EntryKind.NOTIFICATION, "notification CertManagerAcmeRequestErrors firing",
                           alertname="CertManagerAcmeRequestErrors", status="firing", labels=dict(ACME))
    at(25), journal.record(EntryKind.EXPECTATION_MET, "alert CertManagerAcmeRequestErrors for the CA host",
                           expected="firing", state={"alert": "CertManagerAcmeRequestErrors", "labels": dict(ACME),
                                                     "active": [{"state": "firing", "labels": {
                                                         "alertname": "CertManagerAcmeRequestErrors", **ACME}}]})
    at(30), journal.record(EntryKind.ALERT, "alert CertManagerCertificateNotReady firing",
                           alertname="CertManagerCertificateNotReady", state="firing", labels=dict(NS))
    at(40), journal.record(EntryKind.FAULT_REVERTED, "ProxyDown(...)", fault_id=1)
    for subject in ("Certificate ns-a/web", "Secret ns-a/web"):
        at(now[0] + 10), journal.record(EntryKind.EXPECTATION_MET, subject, expected="issued", state="ok",
                                        recovers=subject.startswith("Certificate"), fault_id=1)
    return journal


def test_time_to_alert_counts_only_the_scenarios_own_alerts(tmp_path):
    now = [0.0]
    journal = _alert_journal(tmp_path, now)
    # Its ACME errors (named by an expectation) fired 15 s after the fault, paged 17 s after; the other host's
    # earlier ones are another scenario's.
    assert alert_times(journal) == (15, 17)
    entries = [e for e in journal.entries if not (e.kind is EntryKind.ALERT and e.detail["labels"] == ACME)]
    journal._entries = entries  # without its own ACME alert: the namespaced NotReady is the first of its own
    assert alert_times(journal) == (25, 17)


def test_time_to_alert_is_a_summary_column_and_in_the_story(tmp_path):
    now = [0.0]
    journal = _alert_journal(tmp_path, now)
    journal.finish(Status.PASSED)
    journal.save()
    write_skip_record(tmp_path / "a.test_two", "test_a.py::test_two", NOT_APPLICABLE, "needs a node")
    text = summary_markdown(tmp_path)
    assert "| time to detect | time to alert (firing / notified) | time to recover |" in text
    row = next(line for line in text.splitlines() if line.startswith("| test_ca.py"))
    assert row.startswith("| test_ca.py::test_down | passed | - | 15.0s / 17.0s | 10.0s |"), row
    assert "time to detect: -, time to alert: 15.0s (notified: 17.0s), time to recover: 10.0s" in \
        scenario_story(journal)


def test_the_evidence_shows_the_alert_that_decided_and_its_log(tmp_path):
    now = [0.0]
    journal = _alert_journal(tmp_path, now)
    journal.finish(Status.PASSED)
    journal.save()
    row = next(line for line in summary_markdown(tmp_path).splitlines() if line.startswith("| test_ca.py"))
    evidence = row.rsplit(" | ", 1)[1]
    # The met alert expectation is shown before the last two, compactly, with its alert's own transitions.
    assert evidence.startswith("alert CertManagerAcmeRequestErrors for the CA host firing: met, saw "
                               "firing (alert log: firing +20.0s, notified firing "
                               "+22.0s); Certificate ns-a/web issued: met"), evidence

    # A missed silence: the evidence names the alert that fired, however long its labels.
    missed = Journal(tmp_path / "b.test_quiet" / "journal.json", ScenarioInfo("test_b.py::test_quiet"), environment={})
    gave_up = ("stopped holding after 3.0s: " + repr({"labels": {"namespace": "ns-b"}, "active": [
        {"state": "firing", "labels": {"alertname": "CertManagerCertificateNotReady", "issuer_name": "x" * 200, **NS},
         "since": "2026-11-28T08:00:00Z"}]}))
    missed.record(EntryKind.EXPECTATION_MISSED, "alerts of ns-b", expected="none firing", gave_up=gave_up,
                  last={"held_for": 2.0, "state": {"labels": {"namespace": "ns-b"}, "active": []}})
    missed.finish(Status.DEVIATED, {"type": "ExpectationFailed", "message": "Expected none", "phase": "call"})
    missed.save()
    row = next(line for line in summary_markdown(tmp_path).splitlines() if line.startswith("| test_b.py"))
    assert row.endswith("| alerts of ns-b none firing: MISSED, stopped holding after 3.0s: "
                        "CertManagerCertificateNotReady firing |"), row
