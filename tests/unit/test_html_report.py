"""report.html: one row and one timeline per journal, lanes and marks where the entries put them, every journal
string escaped, an unreadable journal listed (not a crash), nothing fetched from elsewhere."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.report.html import REPORT_HTML, report_html, timeline_svg, write_report_html
from harness.report.journal import Clock, EntryKind, Journal, ScenarioInfo, Status
from harness.report.summary import NOT_APPLICABLE, write_skip_record
from harness.report.svg import LABEL_WIDTH, RIGHT_MARGIN, WIDTH

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & </svg><img src=x onerror=1> \'q\''


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.now, wall=lambda: 1_700_000_000.0 + self.now)


def story(directory, name="test_x.py::test_story", status=Status.PASSED, error=None, subject="Certificate ns/web"):
    """A scenario on a fake clock: steady state, a fault applied at 10 s and reverted at 40 s, detected at 12 s,
    recovered at 55 s, with one of each observer entry."""
    time = FakeTime()
    journal = Journal(directory / re.sub(r"[^\w.]", "_", name.replace("::", "."))[:80] / "journal.json",
                      ScenarioInfo(name, "the DNS credential loses its permission", "Spec: renewal stalls"),
                      clock=time.clock(), environment={})

    def at(seconds, kind, subj, **detail):
        time.now = seconds
        return journal.record(kind, subj, **detail)

    at(0, EntryKind.PHASE, "steady-state-before")
    at(1, EntryKind.RESOURCE_CONDITION, subject, conditions={"Ready": {"status": "True"}}, changed=["Ready"])
    at(2, EntryKind.METRIC_SAMPLE, "certmanager_certificate_ready_status", labels={"condition": "True"}, value=1.0)
    at(9, EntryKind.PHASE, "method")
    at(10, EntryKind.FAULT_APPLIED, "TsigPolicyNarrowed(key='k')", fault_id=1, description="no writes", started=9.9)
    at(11, EntryKind.DNS_LOG, "DNS update zone.", rcode="REFUSED", changes=["add _acme-challenge TXT"])
    at(11.5, EntryKind.DNS_LOG, "DNS query _acme-challenge.web. TXT", rcode="NXDOMAIN")
    at(12, EntryKind.EXPECTATION_MET, subject, expected="the refusal visible", state={"reason": "REFUSED"},
       detects=True, recovers=False, fault_id=1, started=10.5)
    at(13, EntryKind.K8S_EVENT, subject, type="Warning", reason="PresentError", message="REFUSED")
    at(14, EntryKind.METRIC_SAMPLE, "certmanager_certificate_ready_status", labels={"condition": "True"}, value=1.0)
    at(15, EntryKind.METRIC_SAMPLE, "certmanager_certificate_ready_status", labels={"condition": "True"}, value=0.0)
    # The scenario's own alert (its namespace); another scenario's alerts are in test_report_figures.py.
    at(20, EntryKind.ALERT, "alert NotReady firing", alertname="NotReady", state="firing", labels={"namespace": "ns"})
    at(21, EntryKind.NOTIFICATION, "notification NotReady firing", alertname="NotReady", status="firing",
       labels={"namespace": "ns"})
    at(25, EntryKind.OBSERVED, "served by web-0", state={"pod": "web-0", "serial": "ab12"})
    at(40, EntryKind.FAULT_REVERTED, "TsigPolicyNarrowed(key='k')", fault_id=1, started=39.9)
    at(41, EntryKind.PHASE, "steady-state-after")
    at(50, EntryKind.OBSERVED, "served by web-0", state={"pod": "web-0", "serial": "cd34"})
    at(55, EntryKind.EXPECTATION_MET, subject, expected="Ready=True again", state={"Ready": "True"},
       detects=False, recovers=True, fault_id=1, started=41.0)
    if status is not Status.PASSED:
        at(58, EntryKind.EXPECTATION_MISSED, subject, expected="renewed", last={"revision": 1}, started=56.0)
    time.now = 60
    journal.finish(status, error)
    journal.save()
    return journal


def lanes(svg_text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg_text)  # well-formed XML, or this raises
    return {g.get("data-lane"): g for g in root.iter(f"{SVG}g") if g.get("class") == "lane"}


def x_of(seconds: float, end: float) -> float:
    return round(LABEL_WIDTH + (WIDTH - LABEL_WIDTH - RIGHT_MARGIN) * seconds / end, 1)


def test_lanes_spans_and_marks_sit_where_the_entries_put_them(tmp_path):
    svg = timeline_svg(story(tmp_path))
    found = lanes(svg)
    for lane in ("phases", "faults", "expectations", "Certificate", "Events", "DNS queries", "DNS updates",
                 "metrics (changes)", "alerts, notifications", "served by web-0"):
        assert lane in found, (lane, sorted(found))
    assert "Challenge" not in found  # no entries, no empty lane
    fault = found["faults"].find(f"{SVG}rect[@class='span fault']")
    assert float(fault.get("x")) == x_of(10, 60)
    assert abs(float(fault.get("x")) + float(fault.get("width")) - x_of(40, 60)) < 0.2
    refused = [t for t in found["DNS updates"].iter(f"{SVG}line") if "bad" in t.get("class")]
    assert len(refused) == 1 and float(refused[0].get("x1")) == x_of(11, 60)
    assert "REFUSED" in refused[0].find(f"{SVG}title").text
    metric_changes = list(found["metrics (changes)"].iter(f"{SVG}line"))
    assert [float(t.get("x1")) for t in metric_changes] == [x_of(15, 60)]  # the 1.0 repeat is no change
    served = [t for t in found["served by web-0"].iter(f"{SVG}line")]
    assert [("info" in t.get("class")) for t in served] == [True, True]  # two serials, two changes
    warning = [t for t in found["Events"].iter(f"{SVG}line") if "bad" in t.get("class")]
    assert len(warning) == 1
    marks = {g.get("class"): g for g in ET.fromstring(svg).iter(f"{SVG}g") if "mark" in (g.get("class") or "")}
    assert float(marks["mark detect"].find(f"{SVG}line").get("x1")) == x_of(12, 60)
    assert "2.0s after the fault" in marks["mark detect"].find(f"{SVG}text").text
    assert float(marks["mark recover"].find(f"{SVG}line").get("x1")) == x_of(55, 60)
    assert "15.0s after the fault" in marks["mark recover"].find(f"{SVG}text").text


def test_a_fault_never_reverted_runs_to_the_end_and_no_detect_mark_without_a_detection(tmp_path):
    time = FakeTime()
    journal = Journal(tmp_path / "j.json", ScenarioInfo("n"), clock=time.clock(), environment={})
    time.now = 5
    journal.record(EntryKind.FAULT_APPLIED, "ProxyDown()", fault_id=1)
    time.now = 30
    journal.record(EntryKind.EXPECTATION_MISSED, "Certificate ns/a", expected="Ready", last="False", started=6)
    journal.finish(Status.DEVIATED)
    root = ET.fromstring(timeline_svg(journal))
    open_fault = next(r for r in root.iter(f"{SVG}rect") if r.get("class") == "span fault-open")
    assert float(open_fault.get("x")) + float(open_fault.get("width")) == x_of(30, 30)
    assert not [g for g in root.iter(f"{SVG}g") if "mark" in (g.get("class") or "")]


class _Text(HTMLParser):
    """The text a browser would show, and every tag and attribute, to check escaping and self-containment."""

    def __init__(self) -> None:
        super().__init__()
        self.text, self.tags, self.attrs = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data):
        self.text.append(data)


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=60))
def test_every_journal_string_is_escaped(tmp_path_factory, text):
    directory = tmp_path_factory.mktemp("run")
    hostile = HOSTILE + text
    story(directory, name=f"test_x.py::test_{hostile}", status=Status.DEVIATED,
          error={"type": "ExpectationFailed", "message": hostile, "phase": "call"}, subject=f"Certificate {hostile}")
    page = report_html(directory)
    parsed = _Text()
    parsed.feed(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags  # the hostile markup stayed text
    assert not [name for name, _ in parsed.attrs if name.startswith("on")]
    shown = "".join(parsed.text)
    assert HOSTILE in shown  # shown as written, not swallowed
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        ET.fromstring(svg)  # still well-formed


def test_the_page_has_a_row_per_scenario_evidence_and_errors_and_fetches_nothing(tmp_path):
    story(tmp_path, "test_a.py::test_passes")
    story(tmp_path, "test_b.py::test_deviates", status=Status.DEVIATED,
          error={"type": "ExpectationFailed", "message": "Expected renewed by +60s\nlast seen revision 1",
                 "phase": "call"})
    write_skip_record(tmp_path / "c.test_skip", "test_c.py::test_skip", NOT_APPLICABLE, "needs a node")
    (tmp_path / "d.test_bad").mkdir()
    (tmp_path / "d.test_bad" / "journal.json").write_text("{not json")
    (tmp_path / "e.test_malformed").mkdir()
    (tmp_path / "e.test_malformed" / "journal.json").write_text(json.dumps(
        {"schema": "certchaos.journal/v1", "scenario": {"node_id": "m"}, "started_at": 0,
         "entries": [{"kind": "no-such-kind", "subject": "s", "at": 0, "offset": 0}]}))

    path = write_report_html(tmp_path)
    assert path == tmp_path / REPORT_HTML
    page = path.read_text()
    parsed = _Text()
    parsed.feed(page)
    shown = " ".join(" ".join(parsed.text).split())
    rows = re.findall(r"<tr><td>(.*?)</tr>", page)
    assert len(rows) == 5  # by directory: c (skip), d (bad JSON), e (bad kind), test_a, test_b
    skip, bad, malformed, passes, deviates = rows
    assert "test_a.py::test_passes" in passes and "passed" in passes and "2.0s" in passes and "15.0s" in passes
    assert "10.0s / 11.0s" in passes  # time to alert: firing / notified, from the fault at 10 s
    assert "deviated" in deviates and "Expected renewed by +60s" in deviates
    assert NOT_APPLICABLE in skip and "needs a node" in skip
    assert "unreadable" in bad and "cannot read journal" in bad
    assert "unreadable" in malformed and "no-such-kind" in malformed  # a kind outside the closed set, not a crash
    assert "MISSED at +58.0s" in shown and "last seen revision 1" in shown and 'saw: {"revision": 1}' in shown
    assert "met at +12.0s [detects]" in shown and "met at +55.0s [recovers]" in shown
    assert shown.count("<svg") == 0 and page.count("<svg") == 2  # a timeline per readable journal only
    # Self-contained: no script, no link, no external reference of any kind.
    assert "script" not in parsed.tags and "link" not in parsed.tags
    assert not [value for name, value in parsed.attrs if name in ("src", "href") and not value.startswith("#")]
    assert "url(" not in page and "@import" not in page


def test_nothing_to_report_writes_nothing(tmp_path):
    assert write_report_html(tmp_path) is None and not (tmp_path / REPORT_HTML).exists()
