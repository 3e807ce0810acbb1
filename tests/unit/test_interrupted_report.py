"""An interrupted run's report: the lab-start row, summary.md and JUnit when no scenario ran; the interrupted
scenario's JUnit case restored when pytest's interrupted session wrote a nameless one."""

from __future__ import annotations

from xml.etree import ElementTree

from harness.report.interrupted import mark_interrupted_in_junit, record_interrupted_start
from harness.report.journal import Journal, ScenarioInfo, Status

# What pytest's junitxml wrote for a session interrupted in the middle of a test (captured from a kind run).
INTERRUPTED_JUNIT = ('<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" '
                     'errors="0" failures="0" skipped="0" tests="0" time="8.178" hostname="vm">'
                     '<testcase time="2.094" /></testsuite></testsuites>')


def test_an_interrupted_scenario_gets_its_junit_case_back_in_error(tmp_path):
    journal = Journal(tmp_path / "one" / "journal.json", ScenarioInfo("scenarios/test_a.py::test_waits"))
    journal.finish(Status.INTERRUPTED, {"type": "KeyboardInterrupt", "message": "interrupted by the user"})
    journal.save()
    (tmp_path / "junit.xml").write_text(INTERRUPTED_JUNIT)
    mark_interrupted_in_junit(tmp_path)
    suite = ElementTree.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert [(case.get("classname"), case.get("name")) for case in cases] == [("scenarios.test_a", "test_waits")]
    assert cases[0].find("error").get("type") == "interrupted"
    assert cases[0].find("error").get("message") == "interrupted by the user"
    assert (suite.get("tests"), suite.get("errors")) == ("1", "1")
    mark_interrupted_in_junit(tmp_path)  # idempotent: `certchaos run` calls it for each phase's file
    assert len(ElementTree.parse(tmp_path / "junit.xml").getroot().find("testsuite").findall("testcase")) == 1


def test_a_run_interrupted_before_any_scenario_says_so_in_its_summary_and_junit(tmp_path):
    record_interrupted_start(tmp_path, "interrupted by SIGTERM while the kind lab was starting: no scenario ran")
    summary = (tmp_path / "summary.md").read_text()
    assert "| certchaos run: lab start | interrupted |" in summary and "1 interrupted" in summary
    error = ElementTree.parse(tmp_path / "junit.xml").getroot().find("testsuite/testcase/error")
    assert error.get("type") == "interrupted" and "SIGTERM" in error.get("message")


# What pytest-xdist's controller wrote when its worker ended interrupted (captured from a `certchaos run --workers 1`
# given SIGTERM: its workers are interrupted, not the controller, which reports the running test as crashed).
CRASHED_JUNIT = ('<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" '
                 'errors="1" failures="0" skipped="0" tests="2" time="20.497" hostname="vm">'
                 '<testcase classname="scenarios.test_a" name="test_waits" time="1.232"><error message="failed on '
                 'setup with &quot;worker \'gw0\' crashed while running \'scenarios/test_a.py::test_waits\'&quot;">'
                 'worker \'gw0\' crashed</error></testcase>'
                 '<testcase classname="scenarios.test_a" name="test_failed" time="1.0"><failure message="no">'
                 '</failure></testcase></testsuite></testsuites>')


def test_a_scenario_whose_xdist_worker_was_interrupted_is_interrupted_not_crashed(tmp_path):
    for name, status in (("test_waits", Status.INTERRUPTED), ("test_failed", Status.DEVIATED)):
        journal = Journal(tmp_path / name / "journal.json", ScenarioInfo(f"scenarios/test_a.py::{name}"))
        journal.finish(status, {"type": "X", "message": f"{name} ended"})
        journal.save()
    (tmp_path / "junit.xml").write_text(CRASHED_JUNIT)
    for _ in range(2):  # idempotent
        mark_interrupted_in_junit(tmp_path)
        suite = ElementTree.parse(tmp_path / "junit.xml").getroot().find("testsuite")
        outcomes = {case.get("name"): [(child.tag, child.get("type"), child.get("message")) for child in case]
                    for case in suite.findall("testcase")}
        assert outcomes == {"test_waits": [("error", "interrupted", "test_waits ended")],
                            "test_failed": [("failure", None, "no")]}
        assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("2", "1", "1")
