"""certchaos pytest plugin: options, markers, the `scenario` fixture, verdicts and the run's summary.md.

Only hooks, options, markers and thin fixtures live here; the logic is in harness.chaos.scenario,
harness.report.journal and harness.report.summary. The lab fixtures (harness.fixtures) fill
`run_state(config)` (harness.run_state): `provider` and `components` (name -> version) land in every
journal written after they are set.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Iterator

import pytest

from harness.errors import HarnessError
from harness.lab import providers
from harness.report.journal import Journal, ScenarioInfo, Status, environment_facts
from harness.report.html import write_report_html
from harness.report.summary import NOT_APPLICABLE, SKIPPED, write_skip_record, write_summary
from harness.chaos.scenario import Scenario, resolve_time_scale, status_for
from harness.run_state import RUN, STATE, RunState, run_state
from harness.stack.protocol import DESCRIPTIONS

# The lab fixtures (stack, kube, namespace, lab, issuers, timeline) read the options registered here.
pytest_plugins = ["harness.fixtures"]

REPORT_DIR_KEY = "certchaos_report_dir"  # passed from the xdist controller so workers share one run dir
DIR_NAME_LIMIT = 120  # journal dir names stay well under the 255-byte file name limit
# A scenario's needs, as capabilities of its provider (harness.stack.protocol): requires(node=True) asks for
# nodes; a scenario on the lab (the `lab` fixture, directly or through timeline, issuers, webhook proxies) asks
# for the lab's network (fake DNS, Pebble, Toxiproxy, metrics reachable by cert-manager).
REQUIREMENTS = {"node": "nodes"}
LAB_FIXTURE_NEEDS = ("lab_network",)
NOT_APPLICABLE_PREFIX = "not applicable: "  # a skip reason that says the provider cannot run the scenario
SKIPS = pytest.StashKey[list]()  # node ids of scenarios that did not run (the controller's count)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("certchaos", "certchaos: cert-manager chaos scenarios")
    group.addoption("--provider", choices=providers.NAMES, default=providers.DEFAULT,
                    help="stack provider: local processes on loopback, or a kind cluster with cert-manager installed "
                         "by its chart and the lab on the kind network (needs `certchaos images build`) "
                         "(default: local)")
    group.addoption("--worker-nodes", type=int, metavar="N", default=0,
                    help="kind: worker nodes beside the control plane; the node-failure scenarios need 2 (default: 0)")
    group.addoption("--bin-dir", metavar="DIR", default=None,
                    help="directory of user-built binaries that take precedence over the cache (default: none)")
    group.addoption("--report-dir", metavar="DIR", default=None,
                    help="where journals and summary.md go (default: reports/<UTC timestamp>/ under rootdir)")
    group.addoption("--keep-stack", action="store_true", default=False,
                    help="keep the stack's run dir (logs, kubeconfig, certs) after the session (default: removed)")
    group.addoption("--time-scale", metavar="FACTOR", default=None,
                    help="multiply every deadline by FACTOR on slow machines (default: $CERTCHAOS_TIME_SCALE or 1)")
    group.addoption("--allow-skips", action="store_true", default=False,
                    help="skipped scenarios do not fail the run (default: they do; not-applicable ones never do, they "
                         "are listed; -k deselection is not a skip)")
    group.addoption("--alert-rules", metavar="FILE", default=None,
                    help="the user's alert rules (rule file or PrometheusRule) the lab's Prometheus loads (default: none)")
    group.addoption("--alert-rules-mode", choices=("add", "replace"), default="add",
                    help="add: beside the default rules; replace: instead of them (default: add)")
    group.addoption("--reloader-image", metavar="IMAGE", default=None,
                    help="kind: Stakater Reloader's image (already in Docker) for the reload scenarios, installed "
                         "with its documented settings (default: certchaos's reloader stand-in)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        'scenario(failure=None): a chaos scenario with a journal and a verdict; tests using the `scenario` '
        'fixture get it automatically; failure= overrides the module docstring\'s first line, e.g. '
        '@pytest.mark.scenario(failure="TXT record not yet visible to the CA\'s resolver")',
    )
    config.addinivalue_line("markers", "integration: needs the real stack, e.g. @pytest.mark.integration")
    config.addinivalue_line(
        "markers", "kind: needs Docker and the kind images (`certchaos images build`); not in `make test`, "
        "run by `make test-kind`, e.g. @pytest.mark.kind")
    config.addinivalue_line(
        "markers", "requires(node=False, **capabilities): what the scenario needs from the stack (node, or any "
        "harness.stack.protocol.Capabilities name); on a provider without it the scenario is not-applicable, "
        "e.g. @pytest.mark.requires(node=True) for a Secret mounted in a pod")
    config.addinivalue_line(
        "markers", "exclusive: a scenario that disturbs the shared lab (restarts the controller); `certchaos run` "
        "runs it after the others, alone, e.g. @pytest.mark.exclusive")
    try:
        time_scale = resolve_time_scale(config.getoption("--time-scale"))
    except HarnessError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[STATE] = RunState(_report_dir(config), time_scale, config.getoption("--provider"))
    config.stash[SKIPS] = []
    config.pluginmanager.register(_SkipCounter(config.stash[SKIPS]), "certchaos-skips")


def _report_dir(config: pytest.Config) -> Path:
    worker_input = getattr(config, "workerinput", {})
    if REPORT_DIR_KEY in worker_input:
        return Path(worker_input[REPORT_DIR_KEY])
    option = config.getoption("--report-dir")
    if option:
        return config.invocation_params.dir / option
    run_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return config.rootpath / "reports" / run_id


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller: give every worker the same report dir."""
    node.workerinput[REPORT_DIR_KEY] = str(run_state(node.config).report_dir)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "scenario" in getattr(item, "fixturenames", ()) and item.get_closest_marker("scenario") is None:
            item.add_marker("scenario")


def _journal_dir(item: pytest.Item) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{item.path.stem}.{item.name}").strip("-")
    return name[:DIR_NAME_LIMIT]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Start the run before any fixture, so a stack that fails to start still leaves a harness-error journal."""
    if item.get_closest_marker("scenario") is None:
        return
    state = run_state(item.config)
    marker = item.get_closest_marker("scenario")
    info = ScenarioInfo.from_docstring(item.nodeid, getattr(getattr(item, "module", None), "__doc__", None))
    if marker.kwargs.get("failure"):
        info = ScenarioInfo(info.node_id, marker.kwargs["failure"], info.spec)
    journal = Journal(state.report_dir / _journal_dir(item) / "journal.json", info,
                      environment=environment_facts(state.provider, state.components))
    run = Scenario(journal, time_scale=state.time_scale)
    item.stash[RUN] = run
    state.running[item.nodeid] = run
    lacking = providers.provider(state.provider).CAPABILITIES.lacking(*scenario_needs(item))
    if lacking:
        pytest.skip(f"{NOT_APPLICABLE_PREFIX}needs {'; '.join(DESCRIPTIONS[need] for need in lacking)}; "
                    f"provider {state.provider} has none")


def scenario_needs(item: pytest.Item) -> list[str]:
    """The capabilities a scenario needs: its requires(...) marker's, and the lab's network if it uses the lab."""
    requires = item.get_closest_marker("requires")
    needs = [REQUIREMENTS.get(name, name) for name, wanted in (requires.kwargs if requires else {}).items() if wanted]
    if "lab" in getattr(item, "fixturenames", ()):
        needs += [need for need in LAB_FIXTURE_NEEDS if need not in needs]
    return needs


@pytest.fixture
def scenario(request: pytest.FixtureRequest) -> Iterator[Scenario]:
    """The scenario run (steady_state, fault, expect, note) writing <report-dir>/<module.test>/journal.json.
    Undo: reverts every fault still applied, newest first; a failed revert errors the test (harness-error)."""
    run = request.node.stash[RUN]
    yield run
    try:
        run.rollback()
    finally:
        run.check_observers()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Once a scenario's own steps passed, its end checks (the lifecycle invariants) decide too: a violation
    fails the call phase, so the verdict is deviated with the evidence."""
    result = yield
    run = item.stash.get(RUN, None)
    if run is not None:
        run.verify_end()
    return result


def _outcome(call: pytest.CallInfo, report: pytest.TestReport) -> tuple[Status | None, BaseException | None]:
    """(verdict, cause) of one phase; None when it was skipped (a skipped scenario has no verdict)."""
    error = call.excinfo.value if call.excinfo is not None else None
    if report.skipped and not hasattr(report, "wasxfail"):
        return None, None
    if error is None:
        return (Status.DEVIATED if report.failed else Status.PASSED), None  # failed without error: xpass(strict)
    if call.when != "call":
        return Status.HARNESS_ERROR, error  # setup and teardown are the harness's business
    if isinstance(error, pytest.fail.Exception):
        # pytest-timeout's "Timeout (>Ns) from pytest-timeout.": every wait has its own deadline, so a
        # whole-test timeout means the harness hung, not that cert-manager deviated.
        return (Status.HARNESS_ERROR if "pytest-timeout" in str(error) else Status.DEVIATED), error
    return status_for(error), error


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    run = item.stash.get(RUN, None)
    if run is None:
        return report
    status, error = _outcome(call, report)
    if status is None:
        del item.stash[RUN]
        run_state(item.config).running.pop(item.nodeid, None)  # skipped: a skip record instead of a journal
        reason = _skip_reason(report)
        verdict = NOT_APPLICABLE if reason.startswith(NOT_APPLICABLE_PREFIX) else SKIPPED
        write_skip_record(run.journal.path.parent, item.nodeid, verdict, reason)
        return report
    run.conclude(status, error, call.when)
    if call.when == "teardown":
        _finish(run, run_state(item.config))
        run_state(item.config).running.pop(item.nodeid, None)
    return report


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


class _SkipCounter:
    """Counts skipped scenarios where the session's exit status is decided: the xdist controller sees every
    worker's reports in pytest_runtest_logreport (which gets no config, hence a plugin object). A
    not-applicable scenario (the provider cannot run it, e.g. no node on local) is listed in the summary but
    not counted: the catalogue on local passes without kind's scenarios, and says which it did not run."""

    def __init__(self, skips: list) -> None:
        self.skips = skips

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail") and "scenario" in report.keywords:
            if not _skip_reason(report).startswith(NOT_APPLICABLE_PREFIX):
                self.skips.append(report.nodeid)


def _finish(run: Scenario, state: RunState) -> None:
    # The stack fixture may have filled the components after the run started: take them now.
    run.journal.environment.update(provider=state.provider, components=dict(state.components))
    run.finish()


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Iterator[None]:
    """After the runner tore fixtures down (reverting faults; after Ctrl-C this is where it happens), save
    the runs that got no teardown report and write summary.md."""
    state = run_state(session.config)
    try:
        return (yield)
    finally:
        for run in state.running.values():
            interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED
            run.conclude(Status.INTERRUPTED if interrupted else Status.HARNESS_ERROR, phase="session")
            _finish(run, state)
        state.running.clear()
        if not hasattr(session.config, "workerinput"):
            if state.report_dir.is_dir():
                write_summary(state.report_dir)
                write_report_html(state.report_dir)
            skips = session.config.stash[SKIPS]
            if skips and not session.config.getoption("--allow-skips") and session.exitstatus == pytest.ExitCode.OK:
                # A scenario that did not run proved nothing: the run is not a pass unless the user said so.
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
