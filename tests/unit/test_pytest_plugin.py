"""The plugin end to end through pytester: verdicts from outcomes, one journal per scenario, summary.md,
rollback in teardown and after Ctrl-C, options, markers, and nothing written for sessions without scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.report.journal import Journal, EntryKind, Status

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def certchaos_project(pytester: pytest.Pytester) -> None:
    """Each pytester project asks for certchaos as this repository does (`certchaos = true` in its config) and
    gives `scenario` as the catalogue's conftest.py does (tests/unit/test_pytest_plugin_optin.py: the other ways)."""
    pytester.makeini("[pytest]\ncertchaos = true\n")
    pytester.makeconftest("""
        import pytest

        @pytest.fixture
        def scenario(certchaos_scenario):
            return certchaos_scenario
    """)

SCENARIOS = '''
"""Webhook unavailable: the admission webhook does not answer.

Spec: creating cert-manager resources is rejected with a clear error; recovery resumes issuance.
"""
import pytest
from harness.errors import HarnessError
from harness.chaos.fault import CallableFault
from harness.run_state import run_state
from harness.wait import Seen


def nothing():
    pass


def broken_revert():
    raise RuntimeError("toxiproxy is gone")


@pytest.fixture
def stack(pytestconfig):
    run_state(pytestconfig).components["cert-manager"] = "v1.11.5"  # what the stack fixture will do


@pytest.fixture
def broken_stack():
    raise HarnessError("kube-apiserver: exited with status 1")


def test_passes(scenario, stack):
    scenario.steady_state(lambda: Seen(True, "Ready=True"), subject="Certificate ns/web", expected="Ready=True",
                          within=1)
    with scenario.fault(CallableFault("webhook down", nothing, nothing)):
        scenario.expect(lambda: Seen(True, "rejected"), subject="Certificate ns/new", expected="to be rejected",
                        within=1, detects=True)
    scenario.expect(lambda: Seen(True, "Ready=True"), subject="Certificate ns/new", expected="Ready=True",
                    within=1, recovers=True)


def test_deviates(scenario):
    with scenario.fault(CallableFault("webhook down", nothing, nothing)):
        scenario.expect(lambda: Seen(False, "admitted"), subject="Certificate ns/new", expected="to be rejected",
                        within=0.2, interval=0.05)


def test_stack_breaks(broken_stack, scenario):
    pass


def test_revert_fails(scenario):
    with scenario.fault(CallableFault("proxy down", nothing, broken_revert)):
        pass


def test_harness_raises(scenario):
    raise HarnessError("dns: 127.0.0.1:53 is already in use")


def test_left_applied_is_reverted_in_teardown(scenario):
    scenario.fault(CallableFault("left applied", nothing, nothing)).__enter__()


@pytest.mark.certchaos(failure="a failure named by the marker")
def test_marker_names_the_failure(scenario):
    pass


@pytest.mark.skip(reason="needs kind")
def test_skipped(scenario):
    pass


def test_not_a_scenario():
    pass
'''

EXPECTED = {
    "test_passes": Status.PASSED,
    "test_deviates": Status.DEVIATED,
    "test_stack_breaks": Status.HARNESS_ERROR,
    "test_revert_fails": Status.HARNESS_ERROR,
    "test_harness_raises": Status.HARNESS_ERROR,
    "test_left_applied_is_reverted_in_teardown": Status.PASSED,
    "test_marker_names_the_failure": Status.PASSED,
}


def journals(directory: Path) -> dict[str, Journal]:
    return {path.parent.name.split(".", 1)[1]: Journal.load(path) for path in directory.rglob("journal.json")}


def test_each_scenario_gets_a_journal_with_its_verdict_and_the_run_a_summary(pytester: pytest.Pytester):
    pytester.makepyfile(test_webhook=SCENARIOS)
    result = pytester.runpytest("--certchaos-report-dir", "out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=3, errors=1, skipped=1)

    found = journals(pytester.path / "out")
    assert {name: journal.status for name, journal in found.items()} == EXPECTED
    passed = found["test_passes"]
    assert passed.scenario.node_id == "test_webhook.py::test_passes"
    assert passed.scenario.failure == "Webhook unavailable: the admission webhook does not answer."
    assert passed.scenario.spec.startswith("creating cert-manager resources is rejected")
    assert passed.environment["components"] == {"cert-manager": "v1.11.5"}
    assert passed.environment["provider"] == "local"
    assert passed.time_to_detect() is not None and passed.time_to_recover() is not None
    assert found["test_marker_names_the_failure"].scenario.failure == "a failure named by the marker"
    assert found["test_deviates"].error["message"].startswith("Expected Certificate ns/new to be rejected within")
    assert found["test_stack_breaks"].error["phase"] == "setup"
    assert "toxiproxy is gone" in found["test_revert_fails"].error["message"]
    left = [e.kind for e in found["test_left_applied_is_reverted_in_teardown"].entries if e.kind.startswith("fault")]
    assert left == [EntryKind.FAULT_APPLIED, EntryKind.FAULT_REVERTED]

    summary = (pytester.path / "out" / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| test_webhook.py::")]
    assert len(rows) == len(EXPECTED) + 1  # the skipped scenario has a row too
    html = (pytester.path / "out" / "report.html").read_text()
    assert all(name in html for name in ("test_passes", "test_deviates")), "report.html lacks the scenarios"
    deviated = next(row for row in rows if "::test_deviates " in row)
    assert "| deviated |" in deviated and "Expected Certificate ns/new to be rejected within 0.2s" in deviated
    assert "test_webhook.test_deviates/journal.json" in deviated
    assert "Certificate ns/new to be rejected: MISSED, saw admitted" in deviated  # the evidence that decided it
    passed_row = next(row for row in rows if "::test_passes " in row)
    assert "Certificate ns/new to be rejected: met, saw rejected; Certificate ns/new Ready=True: met" in passed_row
    skipped = next(row for row in rows if "::test_skipped " in row)
    assert "| skipped |" in skipped and "needs kind" in skipped
    assert ("Totals: 8 scenarios: 3 passed, 0 known-issue, 1 deviated, 3 harness-error, 0 interrupted, 1 skipped, "
            "0 not-applicable") in summary


def test_ctrl_c_reverts_the_applied_fault_and_saves_an_interrupted_journal(pytester: pytest.Pytester):
    pytester.makepyfile(test_interrupt='''
        from harness.chaos.fault import CallableFault

        def nothing():
            pass

        def test_interrupted(scenario):
            scenario.fault(CallableFault("dns lag", nothing, nothing)).__enter__()
            raise KeyboardInterrupt
    ''')
    result = pytester.inline_run("--certchaos-report-dir", "out", "-p", "no:cacheprovider", no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    (journal,) = journals(pytester.path / "out").values()
    assert journal.status is Status.INTERRUPTED
    assert [e.kind for e in journal.entries if e.kind.startswith("fault")] == [EntryKind.FAULT_APPLIED, EntryKind.FAULT_REVERTED]
    assert "0 passed, 0 known-issue, 0 deviated, 0 harness-error, 1 interrupted" in (pytester.path / "out" / "summary.md").read_text()


def test_a_session_without_scenarios_writes_nothing_and_one_with_them_writes_under_reports(pytester: pytest.Pytester):
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists()

    pytester.makepyfile(test_one_scenario="def test_one(scenario):\n    scenario.note('hi')\n")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    (run_dir,) = (pytester.path / "reports").iterdir()
    assert len(run_dir.name) == len("20260101T000000Z") and run_dir.name.endswith("Z")
    assert (run_dir / "test_one_scenario.test_one" / "journal.json").is_file()
    assert (run_dir / "summary.md").is_file()


def test_time_scale_option_reaches_the_journal_and_a_bad_one_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makepyfile(test_scale="def test_one(scenario):\n    pass\n")
    pytester.runpytest("--certchaos-report-dir", "out", "--certchaos-time-scale", "3", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    (journal,) = journals(pytester.path / "out").values()
    assert journal.time_scale == 3

    result = pytester.runpytest("--certchaos-time-scale", "fast", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*time scale 'fast' is not a positive number*"])


def test_scenario_tests_are_marked_and_the_markers_are_documented(pytester: pytest.Pytester):
    pytester.makepyfile(test_marks="def test_scenario(scenario):\n    pass\n\ndef test_plain():\n    pass\n")
    pytester.runpytest("-m", "certchaos", "--certchaos-report-dir", "out", "-p", "no:cacheprovider").assert_outcomes(
        passed=1, deselected=1)
    markers = pytester.runpytest("--markers").stdout.str()
    assert all(f"@pytest.mark.{marker}" in markers
               for marker in ("certchaos(failure=None)", "requires(node=False", "exclusive")), markers


def test_xdist_workers_share_the_default_report_dir_and_the_controller_writes_the_summary(pytester: pytest.Pytester):
    pytester.makepyfile(test_many="""
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_each(scenario, n):
            scenario.note(f"worker scenario {n}")
    """)
    pytester.runpytest("-n", "2", "-p", "no:cacheprovider").assert_outcomes(passed=4)
    (run_dir,) = (pytester.path / "reports").iterdir()
    assert len(list(run_dir.rglob("journal.json"))) == 4
    assert "Totals: 4 scenarios: 4 passed" in (run_dir / "summary.md").read_text()
    assert "test_each[3]" in (run_dir / "report.html").read_text()  # a run with nothing skipped has one too


def test_report_command_prints_the_summary_and_the_lifecycle_of_what_did_not_pass(pytester: pytest.Pytester, capsys):
    from harness.cli.main import main

    pytester.makepyfile(test_webhook=SCENARIOS)
    pytester.runpytest("--certchaos-report-dir", "out", "-p", "no:cacheprovider")
    capsys.readouterr()
    assert main(["report", str(pytester.path / "out")]) == 1  # the run's verdict: a scenario deviated
    out = capsys.readouterr().out
    assert out.startswith("# certchaos run out")
    assert "test_webhook.py::test_deviates: deviated" in out and "expectation-missed" in out
    assert "test_webhook.py::test_passes: passed" not in out

    path = pytester.path / "out" / "test_webhook.test_passes" / "journal.json"
    assert main(["report", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "test_webhook.py::test_passes: passed"
    kinds = [line.split()[1] for line in lines if line.lstrip().startswith("+")]
    assert kinds.count("phase") == 4 and kinds.count("expectation-met") == 3 and len(kinds) >= 9
    assert json.loads(path.read_text())["status"] == "passed"

    assert main(["report", str(pytester.path / "nowhere")]) == 2
    assert "no such report dir" in capsys.readouterr().err


SKIPPING = """
import pytest


def test_passes(scenario):
    pass


@pytest.mark.skip(reason="needs kind")
def test_skipped(scenario):
    pass


@pytest.mark.requires(node=True)
def test_mounts_the_secret(scenario):
    pass


@pytest.mark.skip(reason="not a scenario")
def test_plain_skip():
    pass
"""


def test_a_scenario_that_did_not_run_is_listed_and_fails_the_run_unless_allowed_or_deselected(pytester: pytest.Pytester):
    pytester.makepyfile(test_skips=SKIPPING)
    alone = pytester.runpytest("--certchaos-report-dir", "not-applicable", "-k", "passes or mounts", "-p", "no:cacheprovider")
    alone.assert_outcomes(passed=1, skipped=1)
    assert alone.ret == pytest.ExitCode.OK  # not applicable on the provider: listed, not a failure
    assert "1 not-applicable" in (pytester.path / "not-applicable" / "summary.md").read_text()
    result = pytester.runpytest("--certchaos-report-dir", "out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    summary = (pytester.path / "out" / "summary.md").read_text()
    rows = {line.split(" | ")[0][2:]: line for line in summary.splitlines() if line.startswith("| test_skips.py::")}
    assert "| skipped |" in rows["test_skips.py::test_skipped"] and "needs kind" in rows["test_skips.py::test_skipped"]
    mounts = rows["test_skips.py::test_mounts_the_secret"]
    assert "| not-applicable |" in mounts and "needs a node" in mounts and "provider local" in mounts
    assert "test_skips.py::test_plain_skip" not in rows  # not a scenario: pytest's own business
    assert "1 passed, 0 known-issue, 0 deviated, 0 harness-error, 0 interrupted, 1 skipped, 1 not-applicable" in summary

    allowed = pytester.runpytest("--certchaos-report-dir", "allowed", "--certchaos-allow-skips", "-p", "no:cacheprovider")
    assert allowed.ret == pytest.ExitCode.OK
    deselected = pytester.runpytest("--certchaos-report-dir", "deselected", "-k", "passes", "-p", "no:cacheprovider")
    assert deselected.ret == pytest.ExitCode.OK
    assert "0 skipped" in (pytester.path / "deselected" / "summary.md").read_text()


def test_skips_on_xdist_workers_fail_the_run_too(pytester: pytest.Pytester):
    pytester.makepyfile(test_skips=SKIPPING)
    result = pytester.runpytest("-n", "2", "--certchaos-report-dir", "out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "1 skipped, 1 not-applicable" in (pytester.path / "out" / "summary.md").read_text()


END_CHECKS = '''
"""Leftovers: an issuance leaves its challenge record behind.

Spec: nothing is left once issued.
"""
from harness.wait import Seen

ran = []


def leftover(scenario):
    scenario.add_end_check(lambda: scenario.verify(lambda: Seen(False, "TXT record left"), subject="lifecycle of ns",
                                                   expected="no record left", within=0.2))


def test_own_steps_pass_but_the_end_check_fails(scenario):
    leftover(scenario)


def test_own_steps_fail_first(scenario):
    scenario.add_end_check(lambda: ran.append("end check"))
    assert False, "own expectation missed"


def test_end_checks_did_not_run_for_a_failed_scenario():
    assert ran == []
'''


def test_an_end_check_that_fails_makes_a_passing_scenario_deviate_and_is_skipped_after_a_failure(
        pytester: pytest.Pytester):
    pytester.makepyfile(test_leftovers=END_CHECKS)
    result = pytester.runpytest("--certchaos-report-dir", "out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    found = journals(pytester.path / "out")
    ended = found["test_own_steps_pass_but_the_end_check_fails"]
    assert ended.status is Status.DEVIATED and ended.error["phase"] == "call"
    assert ended.error["message"].startswith("Expected lifecycle of ns no record left within 0.2s")
    phases = [e.subject for e in ended.entries if e.kind is EntryKind.PHASE]
    assert phases == ["invariants"]
    assert found["test_own_steps_fail_first"].status is Status.DEVIATED


KNOWN_ISSUES = '''
import pytest
from harness.run_state import run_state

BUG = dict(component="cert-manager-webhook", fixed_in="v1.13.0", match=r"s/mime", why="usages named at random")


@pytest.fixture(params=["v1.11.5", "v1.13.0", "unknown"])
def webhook(request, pytestconfig):
    run_state(pytestconfig).components["cert-manager-webhook"] = {"version": request.param}


@pytest.mark.known_issue(**BUG)
def test_finds_the_bug(scenario, webhook):
    assert False, 'denied: [3]: "s/mime" != "email protection"'


@pytest.mark.known_issue(**BUG)
def test_finds_another_bug(scenario, webhook):
    assert False, "denied: spec.issuerRef.kind"


@pytest.mark.known_issue(**BUG)
def test_finds_nothing(scenario, webhook):
    pass
'''


def test_a_known_bug_found_in_a_release_before_its_fix_is_a_known_issue_and_nothing_else_is(
        pytester: pytest.Pytester):
    pytester.makepyfile(test_known=KNOWN_ISSUES)
    result = pytester.runpytest("--certchaos-report-dir", "out", "-p", "no:cacheprovider")
    # Before the fix only the bug's own deviation is excused; a pass there deviates (the check went blind).
    result.assert_outcomes(passed=2, failed=6, xfailed=1)
    found = {name: journal.status for name, journal in journals(pytester.path / "out").items()}
    assert found == {
        "test_finds_the_bug-v1.11.5": Status.KNOWN_ISSUE, "test_finds_the_bug-v1.13.0": Status.DEVIATED,
        "test_finds_the_bug-unknown": Status.DEVIATED,
        "test_finds_another_bug-v1.11.5": Status.DEVIATED, "test_finds_another_bug-v1.13.0": Status.DEVIATED,
        "test_finds_another_bug-unknown": Status.DEVIATED,
        "test_finds_nothing-v1.11.5": Status.DEVIATED, "test_finds_nothing-v1.13.0": Status.PASSED,
        "test_finds_nothing-unknown": Status.PASSED}
    known = journals(pytester.path / "out")["test_finds_the_bug-v1.11.5"].error["message"]
    assert known.startswith("known issue of cert-manager-webhook v1.11.5 (fixed in v1.13.0): usages named at random")
    blind = journals(pytester.path / "out")["test_finds_nothing-v1.11.5"].error["message"]
    assert "it did not show" in blind
    summary = (pytester.path / "out" / "summary.md").read_text()
    assert "1 passed" not in summary and "2 passed, 1 known-issue, 6 deviated" in summary
    assert "Known issues of the releases under test (they do not fail the run): 1" in summary


@pytest.mark.parametrize("marker, said", [
    ('fixed_in="soon", match="x"', "*test_bug: known_issue needs component, fixed_in (a version such as v1.13.0)*"),
    ('fixed_in="v1.13.0", match="s/mime("', "*test_bug: known_issue's match 's/mime(' is no regular expression*")])
def test_a_known_issue_marker_without_its_fix_release_or_with_a_bad_regex_is_a_usage_error(
        pytester: pytest.Pytester, marker, said):
    pytester.makepyfile(test_known=f'''
import pytest

@pytest.mark.known_issue(component="cert-manager-webhook", {marker}, why="y")
def test_bug(scenario):
    pass
''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([said])
