"""The pytest plugin acts only where it is asked: installed, it is loaded into every pytest run, so an unrelated
project (run in a child pytest as a user would, the listings in process) must see no option but `--certchaos-*`, no fixture but
`certchaos_*`, no marker but `certchaos`, and none of its own `kube`/`namespace`/`scenario` touched; certchaos is
asked for by `-p certchaos`, `certchaos = true` in the pytest config, or @pytest.mark.certchaos."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness.pytest_plugin import FIXTURES, NOT_ACTIVE

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]

UNRELATED_CONFTEST = """
import pytest

@pytest.fixture
def kube():
    return "the project's own kube"

@pytest.fixture
def scenario():
    return "the project's own scenario"
"""

UNRELATED_TESTS = """
import pytest

@pytest.mark.scenario
def test_own_fixtures(kube, scenario):
    assert kube == "the project's own kube" and scenario == "the project's own scenario"

def test_asks_for_a_namespace_nobody_defined(namespace):
    pass
"""


@pytest.fixture
def unrelated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project of its own (config, conftest, tests) with certchaos installed but not asked for; child pytests
    import this worktree's harness. $CERTCHAOS_TIME_SCALE is one certchaos would refuse: no hook may read it."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("CERTCHAOS_TIME_SCALE", "fast")
    monkeypatch.delenv("CERTCHAOS_LAB", raising=False)
    pytester.makeini("[pytest]\nmarkers =\n    scenario: the project's own marker\n")
    pytester.makeconftest(UNRELATED_CONFTEST)
    pytester.makepyfile(test_unrelated=UNRELATED_TESTS)
    return pytester


def _names(output: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, output, re.MULTILINE))


def test_an_unrelated_run_keeps_its_own_fixtures_and_a_missing_one_starts_nothing(unrelated: pytest.Pytester):
    result = unrelated.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", timeout=120)
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # its own verdict, unchanged
    result.stdout.fnmatch_lines(["*fixture 'namespace' not found*"])
    assert not (unrelated.path / "reports").exists(), "certchaos wrote a report for a run that did not ask for it"


@pytest.mark.parametrize("listing, pattern, added", [
    ("--help", r"^\s+(--[a-z][a-z0-9-]*)", r"--certchaos-[a-z-]+"),
    ("--help", r"^  ([a-z][a-z0-9_]*) \([a-z]+\):", r"certchaos"),  # the ini keys
    ("--fixtures", r"^([a-z_][a-z0-9_]*)(?: \[[a-z]+ scope\])? -- ", r"certchaos_[a-z0-9_]+"),
    ("--markers", r"^@pytest\.mark\.([a-z_]+)", r"certchaos"),
])
def test_installed_it_adds_only_prefixed_names_to_an_unrelated_project(unrelated: pytest.Pytester, listing, pattern,
                                                                       added):
    with_it = _names(unrelated.runpytest(listing, "-p", "no:cacheprovider").stdout.str(), pattern)
    without = _names(unrelated.runpytest(listing, "-p", "no:cacheprovider", "-p", "no:certchaos").stdout.str(), pattern)
    assert without and without <= with_it, f"certchaos hid or renamed something of the project's: {without - with_it}"
    extra = with_it - without
    assert extra, f"{listing}: certchaos added nothing, so this compares nothing"
    assert all(re.fullmatch(added, name) for name in extra), f"{listing}: unprefixed: {sorted(extra)}"
    if listing == "--fixtures":
        assert {"kube", "scenario"} <= without and "namespace" not in with_it
        assert extra == set(FIXTURES), "the setup check that tells how to activate certchaos misses some"


def test_a_test_that_asks_for_certchaos_where_it_is_not_active_is_told_how_and_nothing_starts(
        unrelated: pytest.Pytester):
    unrelated.makepyfile(test_asks="def test_lab(certchaos_lab):\n    pass\n")
    result = unrelated.runpytest("test_asks.py", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    assert f"test_asks.py::test_lab asks for certchaos_lab, but {NOT_ACTIVE}" in result.stdout.str()
    assert "certchaos: starting" not in result.stdout.str() and not (unrelated.path / "reports").exists()


SCENARIO = '''
"""A scenario of the user's own: the plugin's fixture by its prefixed name."""
import pytest

{mark}
def test_scenario(certchaos_scenario):
    certchaos_scenario.note("ran")


def test_plain(scenario):
    assert scenario == "the project's own scenario"
'''


@pytest.mark.parametrize("how", ["-p certchaos", "ini", "addopts", "marker", "marker with xdist"])
def test_asked_for_it_runs_the_scenario_with_its_journal_and_summary(unrelated: pytest.Pytester, how: str):
    unrelated.makepyfile(test_mine=SCENARIO.format(mark="@pytest.mark.certchaos" if "marker" in how else ""))
    ini = {"ini": "certchaos = true\n", "addopts": "addopts = -p certchaos\n"}.get(how, "")
    unrelated.makeini(f"[pytest]\nmarkers =\n    scenario: the project's own marker\n{ini}")
    args = ["test_mine.py", "-p", "no:cacheprovider", "--certchaos-report-dir", "out", "--certchaos-time-scale", "2"]
    args += {"-p certchaos": ["-p", "certchaos"], "marker with xdist": ["-n", "2"]}.get(how, [])
    # In process (quicker) but with xdist: its workers are child pytests, as a user's are.
    result = unrelated.runpytest(*args)
    result.assert_outcomes(passed=2)
    journals = sorted(path.parent.name for path in (unrelated.path / "out").rglob("journal.json"))
    assert journals == ["test_mine.test_scenario"], "the project's own `scenario` test got a journal too"
    summary = (unrelated.path / "out" / "summary.md").read_text()
    assert "Totals: 1 scenarios: 1 passed" in summary and "test_plain" not in summary
