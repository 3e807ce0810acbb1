"""Where a catalogue run's time went, from journals written as the plugin writes them."""

import json
from pathlib import Path

import pytest

from harness.report.timing import CatalogueTiming


def _journal(report: Path, node_id: str, started: float, ended: float | None) -> None:
    directory = report / node_id.replace("scenarios/", "").replace(".py::", ".").replace("[", "-").rstrip("]")
    directory.mkdir()
    (directory / "journal.json").write_text(json.dumps(
        {"scenario": {"node_id": node_id}, "started_at": started, "ended_at": ended, "entries": []}))


@pytest.fixture
def report(tmp_path: Path) -> Path:
    # Run from 0 to 400: the lab is up at 30; two workers run a (30-230), b (30-100), c[x] (100-180); the exclusive
    # phase runs d (240-390) after the batch ended at 230.
    _journal(tmp_path, "scenarios/test_a.py::test_long", 30, 230)
    _journal(tmp_path, "scenarios/test_b.py::test_short", 30, 100)
    _journal(tmp_path, "scenarios/test_c.py::test_param[x]", 100, 180)
    _journal(tmp_path, "scenarios/test_d.py::test_exclusive", 240, 390)
    (tmp_path / "junit-exclusive.xml").write_text(
        '<testsuites><testsuite><testcase classname="scenarios.test_d" name="test_exclusive" time="150"/>'
        '<testcase classname="scenarios.test_e" name="test_skipped" time="0"/></testsuite></testsuites>')
    skipped = tmp_path / "test_f.test_needs_a_node"
    skipped.mkdir()
    (skipped / "skipped.json").write_text(json.dumps({"node_id": "scenarios/test_f.py::test_needs_a_node",
                                                      "verdict": "not-applicable", "reason": "needs a node"}))
    return tmp_path


def test_the_breakdown_adds_up_to_the_wall_time_and_names_the_idle_capacity(report):
    timing = CatalogueTiming.from_report(report, 0, 400, workers=2)
    assert [span.name for span in timing.spans if span.exclusive] == ["test_d.test_exclusive"]
    assert timing.longest.node_id == "scenarios/test_a.py::test_long"
    assert timing.not_applicable == ("scenarios/test_f.py::test_needs_a_node",)
    assert timing.ratio == pytest.approx(2.0)
    parts = timing.breakdown()
    assert parts == {"lab start and collection": 30, "scenarios (first start to last end)": 360,
                     "  of which the longest scenario": 200, "teardown and report": 10,
                     "parallel batch (span)": 200, "second lab: exclusive scenarios, then its share of the batch (span)": 150,
                     "idle worker slots": 2 * 200 - (200 + 70 + 80)}
    assert parts["lab start and collection"] + parts["scenarios (first start to last end)"] + parts[
        "teardown and report"] == timing.wall


def test_a_longest_scenario_that_waited_for_a_worker_shows_its_queueing(tmp_path):
    _journal(tmp_path, "scenarios/test_a.py::test_short", 10, 20)
    _journal(tmp_path, "scenarios/test_b.py::test_long", 20, 120)
    timing = CatalogueTiming.from_report(tmp_path, 0, 130, workers=1)
    assert timing.longest_queued == 10
    assert timing.breakdown()["second lab: exclusive scenarios, then its share of the batch (span)"] == 0


def test_a_scenario_still_running_at_the_end_counts_until_the_run_ended(tmp_path):
    _journal(tmp_path, "scenarios/test_a.py::test_cut", 10, None)
    timing = CatalogueTiming.from_report(tmp_path, 0, 50, workers=1)
    assert timing.longest.seconds == 40
