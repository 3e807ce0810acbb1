"""certchaos pytest plugin: options, markers, the `certchaos_scenario` fixture, verdicts and the run's summary.md.

Installed, it is loaded into every pytest run (entry point `certchaos`), so it acts only where it is asked, as
pytest-asyncio's strict mode does: in a session that activates it (`-p certchaos`, or `certchaos = true` in the
pytest config), on tests asking for `certchaos_scenario`; elsewhere only on tests marked `@pytest.mark.certchaos`.
Anything else sees one option group (`--certchaos-*`), the ini key and the marker: no generic fixture, no hook that
acts (tests/unit/test_pytest_plugin_optin.py runs an unrelated project to prove it).

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
from harness.chaos.known_issues import KnownIssue
from harness.chaos.scenario import Scenario, resolve_time_scale, status_for
from harness.run_state import RUN, STATE, RunState, run_state
from harness.stack.protocol import DESCRIPTIONS

# The lab fixtures (certchaos_stack, certchaos_lab, ...) read the options registered here.
pytest_plugins = ["harness.fixtures"]

PLUGIN = "certchaos"  # the entry point's name: `-p certchaos`, the ini key, the marker, the options' prefix
REPORT_DIR_KEY = "certchaos_report_dir"  # passed from the xdist controller so workers share one run dir
ACTIVE_KEY = "certchaos_active"  # likewise whether the session asked for certchaos
DIR_NAME_LIMIT = 120  # journal dir names stay well under the 255-byte file name limit
# A scenario's needs, as capabilities of its provider (harness.stack.protocol): requires(node=True) asks for
# nodes; a scenario on the lab (the `lab` fixture, directly or through timeline, issuers, webhook proxies) asks
# for the lab's network (fake DNS, Pebble, Toxiproxy, metrics reachable by cert-manager).
REQUIREMENTS = {"node": "nodes"}
LAB_FIXTURE_NEEDS = ("lab_network",)
NOT_APPLICABLE_PREFIX = "not applicable: "  # a skip reason that says the provider cannot run the scenario
# The fixtures certchaos gives (here and in harness.fixtures); a test that is not certchaos's asking for one is
# told how to ask for certchaos instead of starting a lab behind the back of a session that did not.
FIXTURES = ("certchaos_scenario", "certchaos_stack", "certchaos_lab", "certchaos_kube", "certchaos_namespace",
            "certchaos_acme_issuer", "certchaos_route53_issuer", "certchaos_route53_role_issuer",
            "certchaos_ca_issuer", "certchaos_isolated_webhook", "certchaos_timeline",
            "certchaos_ingress_controller", "certchaos_http01_issuer")
ACTIVE = pytest.StashKey[bool]()
REPORT_DIR = pytest.StashKey[Path]()
REPORTS = pytest.StashKey["_ScenarioReports"]()
MARKER = ('certchaos(failure=None): a certchaos scenario, with a journal and a verdict; in a session that '
          'activates certchaos (`-p certchaos`, or `certchaos = true` in the pytest config) tests using the '
          '`certchaos_scenario` fixture get it automatically; failure= overrides the module docstring\'s first '
          'line, e.g. @pytest.mark.certchaos(failure="TXT record not yet visible to the CA\'s resolver")')
# Registered only in a session that activates certchaos: elsewhere these generic names are the project's own.
SCENARIO_MARKERS = (
    "requires(node=False, **capabilities): what the scenario needs from the stack (node, or any "
    "harness.stack.protocol.Capabilities name); on a provider without it the scenario is not-applicable, "
    "e.g. @pytest.mark.requires(node=True) for a Secret mounted in a pod",
    "exclusive: a scenario that disturbs the shared lab (restarts the controller) or times the shared controller "
    "(others' challenges would hold its workers); `certchaos run` runs it on a lab of its own, one at a time, "
    "e.g. @pytest.mark.exclusive",
    "known_issue(component, fixed_in, match, why): the scenario finds a known bug of `component` releases before "
    "`fixed_in`; there a deviation whose message matches the regex `match` is the verdict known-issue (listed, not "
    "failing the run) and a pass deviates (the bug should have shown), e.g. @pytest.mark.known_issue("
    "component='cert-manager-webhook', fixed_in='v1.13.0', match='s/mime', why='...')",
)
NOT_ACTIVE = ("certchaos is not active for this test. Fix: mark it @pytest.mark.certchaos, set `certchaos = true` "
              "in the pytest config ([tool.pytest.ini_options] or pytest.ini), or run pytest with -p certchaos")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(PLUGIN, "certchaos: cert-manager chaos scenarios (act only where certchaos is asked for)")
    parser.addini(PLUGIN, type="bool", default=False,
                  help="certchaos: treat every test using the certchaos_scenario fixture as a scenario in this "
                       "project, as -p certchaos does (default: only tests marked @pytest.mark.certchaos)")
    group.addoption("--certchaos-provider", choices=providers.NAMES, default=providers.DEFAULT,
                    help="stack provider: local processes on loopback, or a kind cluster with cert-manager installed "
                         "by its chart and the lab on the kind network (needs `certchaos images build`) "
                         "(default: local)")
    group.addoption("--certchaos-worker-nodes", type=int, metavar="N", default=0,
                    help="kind: worker nodes beside the control plane; the node-failure scenarios need 2 (default: 0)")
    group.addoption("--certchaos-bin-dir", metavar="DIR", default=None,
                    help="directory of user-built binaries that take precedence over the cache (default: "
                         "$CERTCHAOS_BIN_DIR, else none)")
    group.addoption("--certchaos-report-dir", metavar="DIR", default=None,
                    help="where journals and summary.md go (default: reports/<UTC timestamp>/ under rootdir)")
    group.addoption("--certchaos-keep-stack", action="store_true", default=False,
                    help="keep the stack's run dir (logs, kubeconfig, certs) after the session (default: removed)")
    group.addoption("--certchaos-time-scale", metavar="FACTOR", default=None,
                    help="multiply every deadline by FACTOR on slow machines (default: $CERTCHAOS_TIME_SCALE or 1)")
    group.addoption("--certchaos-allow-skips", action="store_true", default=False,
                    help="skipped scenarios do not fail the run (default: they do; not-applicable ones never do, they "
                         "are listed; -k deselection is not a skip)")
    group.addoption("--certchaos-alert-rules", metavar="FILE", default=None,
                    help="the user's alert rules (rule file or PrometheusRule) the lab's Prometheus loads "
                         "(default: none)")
    group.addoption("--certchaos-alert-rules-mode", choices=("add", "replace"), default="add",
                    help="add: beside the default rules; replace: instead of them (default: add)")
    group.addoption("--certchaos-reloader-image", metavar="IMAGE", default=None,
                    help="kind: another Stakater Reloader image (already in Docker) for the reload scenarios, "
                         "installed with its default settings (default: certchaos.local/reloader:v1.4.22, built "
                         "by `certchaos images build`)")


def _asked_for(config: pytest.Config) -> bool:
    """Whether the session activates certchaos: `-p certchaos` (also through addopts) or the ini key; an xdist
    worker takes its controller's answer."""
    worker_input = getattr(config, "workerinput", {})
    if ACTIVE_KEY in worker_input:
        return worker_input[ACTIVE_KEY]
    plugins = [name.strip() for name in (config.getoption("plugins", default=None) or [])]
    return PLUGIN in plugins or config.getini(PLUGIN)


def pytest_configure(config: pytest.Config) -> None:
    active = config.stash[ACTIVE] = _asked_for(config)
    config.addinivalue_line("markers", MARKER)
    config.stash[REPORT_DIR] = _report_dir(config)  # a path only: made when the first journal is written
    config.stash[REPORTS] = _ScenarioReports()
    config.pluginmanager.register(config.stash[REPORTS], "certchaos-reports")
    if active:
        for line in SCENARIO_MARKERS:
            config.addinivalue_line("markers", line)
        try:
            _run_state(config)  # a bad time scale is a usage error before anything starts
        except HarnessError as error:
            raise pytest.UsageError(str(error)) from None


def _run_state(config: pytest.Config) -> RunState:
    """The run's state, made when certchaos first acts: at configure in an active session, else at the first
    test marked certchaos (an unrelated run never reads $CERTCHAOS_TIME_SCALE)."""
    if STATE not in config.stash:
        config.stash[STATE] = RunState(config.stash[REPORT_DIR],
                                       resolve_time_scale(config.getoption("--certchaos-time-scale")),
                                       config.getoption("--certchaos-provider"))
    return config.stash[STATE]


def _report_dir(config: pytest.Config) -> Path:
    worker_input = getattr(config, "workerinput", {})
    if REPORT_DIR_KEY in worker_input:
        return Path(worker_input[REPORT_DIR_KEY])
    option = config.getoption("--certchaos-report-dir")
    if option:
        return config.invocation_params.dir / option
    run_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return config.rootpath / "reports" / run_id


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller: give every worker the same report dir and the session's activation."""
    node.workerinput[REPORT_DIR_KEY] = str(node.config.stash[REPORT_DIR])
    node.workerinput[ACTIVE_KEY] = node.config.stash[ACTIVE]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an active session a test asking for certchaos_scenario is a scenario (`-m certchaos` selects them)."""
    if not config.stash[ACTIVE]:
        return
    for item in items:
        if "certchaos_scenario" in getattr(item, "fixturenames", ()) and item.get_closest_marker(PLUGIN) is None:
            item.add_marker(PLUGIN)
        known = item.get_closest_marker("known_issue")
        if known is not None:
            try:
                KnownIssue.from_marker(known.kwargs)
            except ValueError as bad:
                raise pytest.UsageError(f"{item.nodeid}: {bad}") from None


def _journal_dir(item: pytest.Item) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{item.path.stem}.{item.name}").strip("-")
    return name[:DIR_NAME_LIMIT]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Start the run before any fixture, so a stack that fails to start still leaves a harness-error journal.
    A test certchaos is not active for that asks for its fixtures errors here, before any of them starts."""
    marker = item.get_closest_marker(PLUGIN)
    if marker is None:
        if not item.config.stash[ACTIVE]:
            asked = [name for name in FIXTURES if name in getattr(item, "fixturenames", ())]
            if asked:
                pytest.fail(f"{item.nodeid} asks for {', '.join(asked)}, but {NOT_ACTIVE}", pytrace=False)
        return
    state = _run_state(item.config)
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
    """The capabilities a scenario needs: its requires(...) marker's, and the lab's network if it uses the lab
    (certchaos_lab, directly or through another fixture such as the catalogue's `lab`)."""
    requires = item.get_closest_marker("requires")
    needs = [REQUIREMENTS.get(name, name) for name, wanted in (requires.kwargs if requires else {}).items() if wanted]
    if "certchaos_lab" in getattr(item, "fixturenames", ()):
        needs += [need for need in LAB_FIXTURE_NEEDS if need not in needs]
    return needs


@pytest.fixture
def certchaos_scenario(request: pytest.FixtureRequest) -> Iterator[Scenario]:
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
    report.certchaos_scenario = True  # what the session's count reads (it survives xdist's serialisation)
    status, error = _outcome(call, report)
    if status is None:
        del item.stash[RUN]
        run_state(item.config).running.pop(item.nodeid, None)  # skipped: a skip record instead of a journal
        reason = _skip_reason(report)
        verdict = NOT_APPLICABLE if reason.startswith(NOT_APPLICABLE_PREFIX) else SKIPPED
        write_skip_record(run.journal.path.parent, item.nodeid, verdict, reason)
        return report
    if call.when == "call":
        status, error = _known_issue(item, report, status, error)
    run.conclude(status, error, call.when)
    if call.when == "teardown":
        _finish(run, run_state(item.config))
        run_state(item.config).running.pop(item.nodeid, None)
    return report


def _known_issue(item: pytest.Item, report: pytest.TestReport, status: Status,
                 error: BaseException | None) -> tuple[Status, BaseException | None]:
    """The call's verdict under the scenario's known_issue marker, if the release under test has that bug: its
    deviation is known-issue (reported to pytest as xfailed), a pass deviates (as a strict xfail's pass fails)."""
    marker = item.get_closest_marker("known_issue")
    if marker is None or status not in (Status.PASSED, Status.DEVIATED):
        return status, error
    issue = KnownIssue.from_marker(marker.kwargs)  # checked at collection
    components = run_state(item.config).components
    if not issue.affects(components):
        return status, error
    known = issue.describe(components)
    if status is Status.DEVIATED and issue.explains(str(error)):
        report.outcome, report.wasxfail = "skipped", known
        return Status.KNOWN_ISSUE, AssertionError(f"{known}\n{error}")  # the summary's row shows the first line
    if status is Status.PASSED:
        missing = AssertionError(f"expected to find the {known}; it did not show (/{issue.match}/ not seen): the "
                                 "check may be blind, or this build carries the fix")
        report.outcome, report.longrepr = "failed", str(missing)
        return Status.DEVIATED, missing
    return status, error


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


class _ScenarioReports:
    """Whether any scenario reported, and which were skipped, where the session's exit status is decided: the
    xdist controller sees every worker's reports in pytest_runtest_logreport (which gets no config, hence a plugin
    object). A not-applicable scenario (the provider cannot run it, e.g. no node on local) is listed in the
    summary but not counted: the catalogue on local passes without kind's scenarios, and says which it did not run."""

    def __init__(self) -> None:
        self.seen = False
        self.skips: list[str] = []  # node ids of scenarios that did not run

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not getattr(report, "certchaos_scenario", False):
            return
        self.seen = True
        if report.skipped and not hasattr(report, "wasxfail"):
            if not _skip_reason(report).startswith(NOT_APPLICABLE_PREFIX):
                self.skips.append(report.nodeid)


def _finish(run: Scenario, state: RunState) -> None:
    # The stack fixture may have filled the components after the run started: take them (and the pairing they
    # make) now, or the session's first scenario records no pairing.
    run.journal.environment.update(environment_facts(state.provider, state.components))
    run.finish()


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Iterator[None]:
    """After the runner tore fixtures down (reverting faults; after Ctrl-C this is where it happens), save
    the runs that got no teardown report and write summary.md. A session where no scenario ran is left alone."""
    config = session.config
    try:
        return (yield)
    finally:
        state = config.stash.get(STATE, None)
        for run in state.running.values() if state is not None else ():
            interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED
            run.conclude(Status.INTERRUPTED if interrupted else Status.HARNESS_ERROR, phase="session")
            _finish(run, state)
        reports = config.stash[REPORTS]
        ran = reports.seen or (state is not None and state.running)
        if state is not None:
            state.running.clear()
        if ran and not hasattr(config, "workerinput"):
            if config.stash[REPORT_DIR].is_dir():
                write_summary(config.stash[REPORT_DIR])
                write_report_html(config.stash[REPORT_DIR])
            skips = reports.skips
            if skips and not config.getoption("--certchaos-allow-skips") and session.exitstatus == pytest.ExitCode.OK:
                # A scenario that did not run proved nothing: the run is not a pass unless the user said so.
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
