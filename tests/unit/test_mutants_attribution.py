"""Which scenarios ran beside each statement block (harness/mutants/attribution.py): growth intervals from cumulative
snapshots, their overlap with the scenarios' journal spans, the processes found in GOCOVERDIR, scenarios.json read
back by line, the -k expression checked against pytest's own matching, and the sample's side (owned, estimate).
The same on a real coverage binary: test_coverage.py's toy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _pytest.mark import KeywordMatcher
from _pytest.mark.expression import Expression
from hypothesis import given, strategies as st

from harness.errors import HarnessError
from harness.mutants import attribution, runner, sample
from harness.mutants.attribution import ScenarioMap, Span, keyword
from harness.mutants.catalogue import Edit, Mutant
from harness.mutants.coverage import MODULE
from harness.mutants.generate import Candidate

# --- growth and overlap -----------------------------------------------------------------------------------


def test_a_block_grew_in_each_interval_between_snapshots_in_which_its_cumulative_count_rose():
    snapshots = [(10.0, {"a": 1, "b": 0, "c": 0}), (15.0, {"a": 1, "b": 2, "c": 0}), (20.0, {"a": 3, "b": 2, "c": 0})]
    assert attribution.growth(5.0, snapshots) == {"a": [(5.0, 10.0), (15.0, 20.0)], "b": [(10.0, 15.0)]}
    # "c" ran as the process started and never again (its construction): what it decided holds for its whole life.
    at_start = [(10.0, {"a": 1, "c": 1}), (15.0, {"a": 2, "c": 1}), (20.0, {"a": 2, "c": 1})]
    assert attribution.growth(5.0, at_start) == {"a": [(5.0, 10.0), (10.0, 15.0)], "c": [(5.0, 20.0)]}
    assert attribution.growth(5.0, []) == {}


def test_coalesce_widens_by_the_margin_sorts_and_joins_what_then_touches_or_overlaps():
    assert attribution.coalesce([(10, 11), (0, 1), (1.5, 3)], margin=1) == [(-1, 4), (9, 12)]
    assert attribution.coalesce([(0, 1), (1, 2), (3, 4)], margin=0) == [(0, 2), (3, 4)]
    assert attribution.coalesce([(0, 1), (3, 4)], margin=1) == [(-1, 5)]  # 2 - 1 <= 1 + 1
    assert attribution.coalesce([]) == []


def spans(**named: tuple[float, float]) -> list[Span]:
    return [Span(name, started, ended) for name, (started, ended) in named.items()]


def test_a_block_is_attributed_to_the_scenarios_whose_span_overlaps_a_growth_interval_widened_by_the_margin():
    grew = {"during": [(10.0, 15.0)], "before": [(0.0, 2.0)], "twice": [(10.0, 15.0), (40.0, 45.0)]}
    running = spans(ends_at_begin=(3.0, 10.0), starts_at_end=(15.0, 30.0), inside=(11.0, 12.0),
                    around=(9.0, 16.0), late=(41.0, 50.0))
    assert attribution.attribute(grew, running, margin=0) == {
        "during": ["around", "inside"],  # the spans touching (10, 15] only at an end do not count
        "before": [],  # grew only while no scenario ran (a lab's start)
        "twice": ["around", "inside", "late"]}
    widened = attribution.attribute(grew, running, margin=1)
    assert widened["during"] == ["around", "ends_at_begin", "inside", "starts_at_end"]
    assert widened["before"] == []  # 3 is not before 2 + 1


times = st.integers(min_value=0, max_value=60).map(float)
interval = st.tuples(times, st.integers(min_value=1, max_value=10)).map(lambda pair: (pair[0], pair[0] + pair[1]))


@given(grew=st.dictionaries(st.sampled_from("abcd"), st.lists(interval, max_size=4)),
       running=st.lists(interval, max_size=6), margin=st.sampled_from([0.0, 0.5, 1.0, 3.0]))
def test_a_block_is_attributed_to_exactly_the_scenarios_overlapping_one_of_its_widened_intervals(grew, running, margin):
    """Against the definition, span by span and interval by interval (spans of positive length, as journals have)."""
    named = [Span(f"s{index}", started, ended) for index, (started, ended) in enumerate(running)]
    attributed = attribution.attribute(grew, named, margin)
    assert set(attributed) == set(grew)
    for block, intervals in grew.items():
        assert attributed[block] == sorted({span.scenario for span in named for begin, end in intervals
                                            if span.started < end + margin and span.ended > begin - margin})


@given(intervals=st.lists(interval, min_size=1, max_size=4), data=st.data())
def test_a_scenario_whose_span_holds_a_growth_interval_is_never_missed(intervals, data):
    begin, end = data.draw(st.sampled_from(intervals))
    holder = Span("holder", begin - data.draw(times), end + data.draw(times))
    assert "holder" in attribution.attribute({"block": intervals}, [holder], margin=0)["block"]


# --- the processes in GOCOVERDIR and the journals ------------------------------------------------------------

NS = 1_000_000_000


def snapshot_dir(counters: Path, started: float, pid: int, snapshots: list[float], meta: str = "h") -> Path:
    folder = counters / f"process.{int(started * NS)}.{pid}"
    folder.mkdir(parents=True)
    if snapshots:
        (folder / f"covmeta.{meta}").write_text("")
    for at in snapshots:
        (folder / f"covcounters.{meta}.{pid}.{int(at * NS)}").write_text("")
    return folder


def exit_write(counters: Path, pid: int, at: float, meta: str = "h") -> Path:
    path = counters / f"covcounters.{meta}.{pid}.{int(at * NS)}"
    path.write_text("")
    return path


def test_processes_sharing_a_pid_each_get_their_own_exit_time_write_and_an_ambiguous_one_goes_to_none(tmp_path):
    """Two labs' webhooks are both pid 6 in their netjails: one after the other, each exit-time write follows its
    own writer's last snapshot; two that stopped together cannot be told apart."""
    first = snapshot_dir(tmp_path, 100, 6, [105, 110])
    second = snapshot_dir(tmp_path, 200, 6, [205, 210])
    other_binary = snapshot_dir(tmp_path, 150, 6, [155], meta="other")
    snapshot_dir(tmp_path, 300, 7, [])  # SIGKILLed before its first snapshot: an empty directory
    together = [snapshot_dir(tmp_path, 400, 8, [405, 410]), snapshot_dir(tmp_path, 401, 8, [406, 411])]
    writes = {at: exit_write(tmp_path, pid, at) for pid, at in [(6, 112), (6, 213), (8, 412), (9, 500)]}
    found = attribution.find_processes(tmp_path)
    assert [process.started for process in found] == [100, 150, 200, 400, 401]  # by start; the empty one is none
    by_start = {process.started: process for process in found}
    assert by_start[100].snapshots == (*sorted(first.glob("covcounters.*")), writes[112])
    assert by_start[200].snapshots == (*sorted(second.glob("covcounters.*")), writes[213])
    assert by_start[150].snapshots == tuple(other_binary.glob("covcounters.*"))  # another binary's pid 6
    assert by_start[150].meta == other_binary / "covmeta.other"
    assert [by_start[process].snapshots[-1].parent for process in (400, 401)] == together  # 412: either's, so neither's
    assert all(writes[500] not in process.snapshots for process in found)  # exited before a snapshot


def test_process_growth_reads_each_processs_snapshots_in_time_order_from_its_start(tmp_path):
    snapshot_dir(tmp_path, 100, 6, [110, 105])
    snapshot_dir(tmp_path, 200, 7, [205])
    exit_write(tmp_path, 6, 112)
    counts = {105: {"x": 1, "y": 0}, 110: {"x": 1, "y": 1}, 112: {"x": 2, "y": 1}, 205: {"x": 1, "y": 0}}
    grew = attribution.process_growth(attribution.find_processes(tmp_path),
                                      lambda process, path: counts[round(attribution.snapshot_time(path))])
    assert grew == {"x": [(100, 105), (110, 112), (200, 205)], "y": [(105, 110)]}


def journal(run_dir: Path, node_id: str, started: float, ended: float | None, entries: list[float] = ()) -> Path:
    path = run_dir / node_id.rsplit("::", 1)[-1] / "journal.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"scenario": {"node_id": node_id}, "started_at": started, "ended_at": ended,
                                "entries": [{"at": at} for at in entries]}))
    return path


def test_journal_spans_name_scenarios_as_collection_does_and_an_unfinished_one_ends_at_its_last_entry(tmp_path):
    journal(tmp_path, "scenarios/test_a.py::test_done[x]", 10.0, 20.0, [12.0])
    journal(tmp_path, "scenarios/test_a.py::test_cut", 30.0, None, [31.0, 35.5, 33.0])
    journal(tmp_path, "scenarios/test_b.py::test_cut_at_once", 40.0, None)
    assert attribution.journal_spans(tmp_path) == [Span("test_a.py::test_cut", 30.0, 35.5),
                                                   Span("test_b.py::test_cut_at_once", 40.0, 40.0),
                                                   Span("test_a.py::test_done[x]", 10.0, 20.0)]


def test_a_journal_that_cannot_be_read_is_one_error_naming_it_and_the_fix(tmp_path):
    path = journal(tmp_path, "scenarios/test_a.py::test_x", 10.0, 20.0)
    path.write_text('{"scenario": {}, "started_at": 1')
    with pytest.raises(HarnessError, match=f"{path}: not a scenario journal .*Fix: move it out"):
        attribution.journal_spans(tmp_path)


def test_measure_writes_the_blocks_with_indices_of_the_sorted_scenarios(tmp_path):
    snapshot_dir(tmp_path / "counters", 100, 6, [105, 110])
    journal(tmp_path / "run", "scenarios/test_b.py::test_y", 104.0, 106.0)
    journal(tmp_path / "run", "scenarios/test_a.py::test_x", 106.5, 109.0)
    counts = {105: {"pkg/f.go:1.1,2.2": 1, "pkg/f.go:3.1,3.9": 0}, 110: {"pkg/f.go:1.1,2.2": 1, "pkg/f.go:3.1,3.9": 4}}
    measured = attribution.measure("go", tmp_path / "counters", tmp_path / "run", tmp_path,
                                   read=lambda process, path: counts[round(attribution.snapshot_time(path))])
    assert measured["scenarios"] == ["test_a.py::test_x", "test_b.py::test_y"]
    # the first block ran as the process started, never again: its whole life, (100, 110]; the second (105, 110]
    assert measured["blocks"] == {"pkg/f.go:1.1,2.2": [0, 1], "pkg/f.go:3.1,3.9": [0, 1]}
    assert (measured["schema"], measured["processes"], measured["snapshots"]) == (attribution.SCHEMA, 1, 2)
    assert "2 blocks of the claimed packages grew, 2 of them while scenarios ran" in attribution.summary(measured)
    assert ScenarioMap.load(attribution.write(measured, tmp_path).parent).scenarios("pkg/f.go", [3]) == {
        "test_a.py::test_x", "test_b.py::test_y"}


# --- scenarios.json read back -----------------------------------------------------------------------------

MEASURED = {"schema": attribution.SCHEMA, "scenarios": ["test_a.py::test_x", "test_b.py::test_y", "test_c.py::test_z"],
            "blocks": {"pkg/util/pki/csr.go:10.22,11.11": [0], "pkg/util/pki/csr.go:11.11,13.3": [1],
                       "pkg/util/pki/csr.go:20.2,22.3": [], "pkg/util/pki/match.go:5.30,7.2": [0, 2]}}


@pytest.mark.parametrize("file, lines, found", [
    ("pkg/util/pki/csr.go", [10], {"test_a.py::test_x"}),
    ("pkg/util/pki/csr.go", [11], {"test_a.py::test_x", "test_b.py::test_y"}),  # the condition's and the body's
    ("pkg/util/pki/csr.go", [13], {"test_b.py::test_y"}),
    ("pkg/util/pki/csr.go", [14, 15], set()),  # no block
    ("pkg/util/pki/csr.go", [21], set()),  # grew only while no scenario ran
    ("pkg/util/pki/csr.go", [15, 21, 12], {"test_b.py::test_y"}),  # a mutant of several lines: any of them
    (f"{MODULE}/pkg/util/pki/match.go", [6], {"test_a.py::test_x", "test_c.py::test_z"}),  # the import path too
    ("pkg/util/pki/other.go", [10], set()),
])
def test_a_lines_scenarios_are_those_of_every_block_touching_it(file, lines, found):
    assert ScenarioMap(MEASURED).scenarios(file, lines) == found


def test_a_report_dir_without_scenarios_json_has_no_map(tmp_path):
    assert ScenarioMap.load(tmp_path) is None


@pytest.mark.parametrize("content", [
    json.dumps({**MEASURED, "schema": "certchaos.coverage-scenarios/v0"}),
    json.dumps({"schema": attribution.SCHEMA}),
    json.dumps({**MEASURED, "blocks": {"pkg/util/pki/csr.go:10.22,11.11": [7]}}),
    json.dumps({**MEASURED, "blocks": {"pkg/util/pki/csr.go": [0]}}),
    json.dumps({**MEASURED, "blocks": [1, 2]}),
    json.dumps({**MEASURED, "scenarios": 3}),
    json.dumps([1]),
    "{not json",
])
def test_a_scenarios_json_of_another_shape_is_one_error_saying_how_to_write_it_again(tmp_path, content):
    (tmp_path / attribution.SCENARIOS_JSON).write_text(content)
    with pytest.raises(HarnessError, match=r"scenarios\.json: not a scenario attribution .*Fix: `certchaos coverage "
                                           r"report .*` writes it again"):
        ScenarioMap.load(tmp_path)


# --- the -k expression, against pytest's own matching ---------------------------------------------------------


def selects(expression: str, scenario: str) -> bool:
    """Whether pytest's -k selects the scenario: its names as KeywordMatcher.from_item gathers them for an item
    of scenarios/ (the directory, the module, a class, the item's name with its parameters)."""
    path, bracket, parameters = scenario.partition("[")
    names = ["scenarios", *path.split("::")]
    names[-1] += bracket + parameters
    return Expression.compile(expression).evaluate(KeywordMatcher(set(names)))


def test_keyword_selects_its_scenarios_each_by_module_and_name():
    asked = ["test_b.py::test_y", "test_a.py::test_x[p1]", "test_a.py::test_w"]
    assert keyword(asked) == "(test_a.py and (test_w or test_x[p1])) or (test_b.py and (test_y))"
    catalogue = [*asked, "test_a.py::test_x[p2]", "test_b.py::test_w", "test_a.py::test_y", "test_c.py::test_x[p1]"]
    assert [scenario for scenario in catalogue if selects(keyword(asked), scenario)] == asked


def test_keyword_refuses_what_would_select_the_whole_catalogue_or_nothing():
    with pytest.raises(ValueError, match="no scenarios"):
        keyword([])
    with pytest.raises(ValueError, match="not a scenario id"):
        keyword(["test_a.py"])


scenario_ids = st.builds(
    lambda module, cls, test, parameters: (f"test_{module}.py::" + (f"Test{cls}::" if cls else "") + f"test_{test}"
                                           + (f"[{parameters}]" if parameters is not None else "")),
    st.text("ab_", min_size=1, max_size=3), st.one_of(st.none(), st.text("AB", min_size=1, max_size=2)),
    st.text("ab_", min_size=1, max_size=4), st.one_of(st.none(), st.text("ab -=:.[]/(),'", min_size=1, max_size=6)))


@given(catalogue=st.lists(scenario_ids, min_size=1, max_size=12, unique=True), data=st.data())
def test_keyword_compiles_and_selects_every_scenario_asked_for(catalogue, data):
    """Superset, never fewer: names that hold one another, parameters -k cannot spell (a space, "=", "(", ...),
    "::" inside a parameter, classes."""
    asked = data.draw(st.lists(st.sampled_from(catalogue), min_size=1, unique=True))
    expression = keyword(asked)
    assert all(selects(expression, scenario) for scenario in asked), expression


def test_keyword_selects_through_a_real_pytest_collection(tmp_path):
    """As `certchaos run -k` will: a test whose name holds an asked one's comes along (test_y_more), a parameter -k
    cannot spell brings its siblings (x=1), nothing else does."""
    (tmp_path / "test_alpha.py").write_text(
        "import pytest\n\n"
        "def test_y(): pass\n\ndef test_y_more(): pass\n\n"
        "@pytest.mark.parametrize('p', ['a b', 'plain', 'x=1', 'other'])\ndef test_p(p): pass\n\n"
        "class TestGroup:\n    def test_in_class(self): pass\n\n    def test_z(self): pass\n")
    (tmp_path / "test_beta.py").write_text("def test_y(): pass\n\ndef test_z(): pass\n")
    asked = ["test_alpha.py::test_y", "test_alpha.py::test_p[x=1]", "test_alpha.py::test_p[plain]",
             "test_alpha.py::TestGroup::test_in_class", "test_beta.py::test_z"]
    assert sorted(runner.collect(keyword(asked), tmp_path)) == sorted([
        *asked, "test_alpha.py::test_y_more", "test_alpha.py::test_p[a b]", "test_alpha.py::test_p[other]"])


def test_keyword_selects_exactly_the_asked_scenarios_of_the_real_catalogue():
    """Every third scenario of scenarios/, collected with its -k: no name in the catalogue holds another's, so the
    selection is exact and `sample --coverage`'s "runs N of M scenarios" counts what runs."""
    catalogue = runner.collect(None)
    asked = catalogue[::3]
    assert len(catalogue) > 10 and sorted(runner.collect(keyword(asked))) == sorted(asked)


# --- the sample's side ----------------------------------------------------------------------------------------


def candidate(line: int, original: str) -> Candidate:
    mutant = Mutant("gen-pki-csr-11-negate", "generated", "", "a check", ("controller",),
                    (Edit("pkg/util/pki/csr.go", original, original),))
    return Candidate(mutant, "pki", "pkg/util/pki/csr.go", line, "negate", original, original)


def test_an_executed_mutant_is_owned_by_the_attributed_scenarios_the_catalogue_still_has():
    scenarios = ScenarioMap(MEASURED)
    now = {"test_a.py::test_x", "test_c.py::test_z"}  # test_b.py::test_y was renamed since the coverage run
    owned, found = sample.owned(candidate(10, "if x > 2 {\n"), scenarios, now)
    assert found == ["test_a.py::test_x"] and owned.mutant.owner == keyword(found)
    assert owned.mutant.name == "gen-pki-csr-11-negate" and owned.line == 10
    spanning = candidate(12, "return x *\n  2\n")  # lines 12-13: the body's block only
    assert sample.owned(spanning, scenarios, now | {"test_b.py::test_y"})[1] == ["test_b.py::test_y"]
    assert sample.owned(spanning, scenarios, now) == (spanning, [])  # whole catalogue: its scenario is gone
    unattributed = candidate(21, "y++\n")
    assert sample.owned(unattributed, scenarios, now) == (unattributed, [])  # grew only outside every scenario


SECONDS = {"scenarios/test_a.py::test_x": 100.0, "scenarios/test_b.py::test_y[p]": 300.0, "scenarios/test_c.py::t": 50.0}


@pytest.mark.parametrize("scenarios, workers, seconds", [
    (["test_a.py::test_x"], 4, 100.0),
    (["test_a.py::test_x", "test_b.py::test_y[p]", "test_c.py::t"], 1, 450.0),  # one worker: their sum
    (["test_a.py::test_x", "test_b.py::test_y[p]", "test_c.py::t"], 2, 300.0),  # the longest, not 225
    (["test_a.py::test_x", "test_c.py::t"], 1, 150.0),
    (["test_new.py::test_unmeasured"], 1, 300.0),  # one not measured counts as the longest
    ([], 4, 0.0),
])
def test_a_runs_estimate_is_its_longest_scenario_or_their_sum_shared_by_the_workers(scenarios, workers, seconds):
    assert sample.estimate(scenarios, SECONDS, workers) == seconds
    assert sample.estimate(scenarios, {}, workers) == 0.0  # nothing measured: no estimate
