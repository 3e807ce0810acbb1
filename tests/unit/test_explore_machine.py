"""certchaos explore without a lab: schedules, coverage, the liveness bound, the session's verbs and judgement
against a fake world judged by the real lifecycle invariants, the Hypothesis machine finding and shrinking a
planted bug, the budget, the replayable scenario and the command's input checks."""

from __future__ import annotations

import ast
import datetime
import json
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import get_state_machine_test

from harness.chaos.fault import CallableFault
from harness.chaos.scenario import ExpectationFailed, Scenario
from harness.errors import HarnessError
from harness.explore import report
from harness.explore.faults import EXPLORABLE, chosen
from harness.explore.liveness import MARGIN, liveness_bound, pending_retry
from harness.explore.machine import Budget, BudgetSpent, HarnessBroke, ScheduleJudge, make_machine
from harness.explore.replay import TEST_NAME, module_name, scenario_module
from harness.explore.schedule import (
    CHANGE, CREATE, INJECT, RENEW, REVERT, WAIT, Ran, Step, all_pairs, applied_after, faulted_span,
    overlapping_pairs, story,
)
from harness.explore.session import ExploreSession
from harness.report.journal import Journal, ScenarioInfo, Status
from harness.stack.timings import (
    CHALLENGE_BACKOFF_MAX, CONTROLLER_TAKEOVER, ISSUANCE, QUEUE_BACKOFF_MAX, issuance_backoff,
)
from harness.wait import Hopeless, Seen, WaitTimeout

FAULTS = tuple(EXPLORABLE)
INSTANT = frozenset(name for name in FAULTS if EXPLORABLE[name].instant)
NOT_AFTER = 1_900_000_000.0

steps = st.one_of(
    st.builds(Step, st.just(CREATE), certificate=st.sampled_from(["crt-0", "crt-1"]), names=st.integers(1, 2)),
    st.builds(Step, st.just(CHANGE), certificate=st.sampled_from(["crt-0", "crt-1"]), names=st.integers(1, 2)),
    st.builds(Step, st.just(RENEW), certificate=st.sampled_from(["crt-0", "crt-1"])),
    st.builds(Step, st.just(INJECT), fault=st.sampled_from(FAULTS)),
    st.builds(Step, st.just(REVERT), fault=st.sampled_from(FAULTS)),
    st.builds(Step, st.just(WAIT), seconds=st.sampled_from([5, 15, 30.5])),
)


# -- schedules ---------------------------------------------------------------------------------------------------


@given(steps)
def test_a_step_prints_as_the_python_that_makes_it_and_round_trips_as_json(step):
    assert eval(repr(step), {"Step": Step}) == step
    assert Step.from_dict(json.loads(json.dumps(step.to_dict()))) == step


@pytest.mark.parametrize("action, arguments", [("jump", {}), (WAIT, {}), (INJECT, {"seconds": 3}),
                                               (CREATE, {"certificate": "a"}), (RENEW, {"certificate": "a", "fault": "x"})])
def test_a_step_with_the_wrong_arguments_is_refused(action, arguments):
    with pytest.raises(ValueError):
        Step(action, **arguments)


def model_overlaps(schedule: list[Step], instant: frozenset[str]) -> set[frozenset[str]]:
    """The obvious model: after each step, which faults are applied; a pair overlaps if both are at one moment."""
    pairs, applied = set(), set()
    for step in schedule:
        if step.action == INJECT:
            moment = applied | {step.fault}
            pairs |= {frozenset((a, b)) for a in moment for b in moment if a != b}
            if step.fault not in instant:
                applied.add(step.fault)
        elif step.action == REVERT:
            applied.discard(step.fault)
    return pairs


@given(st.lists(steps, max_size=20))
def test_overlapping_pairs_are_the_pairs_applied_at_one_moment(schedule):
    found = overlapping_pairs(schedule, INSTANT)
    assert found == model_overlaps(schedule, INSTANT)
    assert found <= all_pairs(FAULTS)
    assert not set(applied_after(schedule, INSTANT)) & INSTANT


def test_an_instant_fault_pairs_with_what_is_applied_but_never_stays():
    schedule = [Step(INJECT, fault="ca-outage"), Step(INJECT, fault="controller-restart"),
                Step(REVERT, fault="ca-outage"), Step(INJECT, fault="dns-lag")]
    assert overlapping_pairs(schedule, INSTANT) == {frozenset(("ca-outage", "controller-restart"))}
    assert applied_after(schedule, INSTANT) == ("dns-lag",)


@given(st.lists(st.tuples(steps, st.integers(0, 100), st.integers(0, 100)), max_size=12))  # whole seconds: exact sums
def test_the_faulted_span_runs_from_the_first_injection_to_the_last_revert(timed):
    ran, now = [], 0.0
    for step, gap, length in timed:
        ran.append(Ran(step, now + gap, now + gap + length))
        now += gap + length
    span = faulted_span(ran)
    injections = [r for r in ran if r.step.action == INJECT]
    if not injections:
        assert span == 0
    else:  # within the run, and at least as long as any injection and what follows it up to a revert
        assert max(r.ended - r.started for r in injections) <= span <= now
        reverts = [r for r in ran if r.step.action == REVERT and r.started >= injections[0].started]
        assert all(span >= r.ended - injections[0].started for r in reverts)


# -- the liveness bound ------------------------------------------------------------------------------------------


@given(st.floats(0, 10_000), st.floats(0, 10_000), st.integers(0, 3))
def test_the_liveness_bound_grows_with_the_faulted_span_and_stays_within_the_documented_caps(a, b, restarts):
    short, long = sorted((a, b))
    assert liveness_bound(short, restarts) <= liveness_bound(long, restarts)
    assert ISSUANCE + MARGIN <= liveness_bound(long, restarts)
    assert liveness_bound(long, restarts) <= (max(CHALLENGE_BACKOFF_MAX, QUEUE_BACKOFF_MAX) + ISSUANCE + MARGIN
                                              + CONTROLLER_TAKEOVER)
    assert liveness_bound(long, 1) - liveness_bound(long, 0) == pytest.approx(CONTROLLER_TAKEOVER)
    # exponential backoff: the retry pending after a span of failures is at most the span plus the base
    assert pending_retry(long) <= long + 5


def test_no_fault_no_retry_pending():
    assert pending_retry(0) == 0 and liveness_bound(0) == ISSUANCE + MARGIN
    with pytest.raises(ValueError):
        liveness_bound(-1)


# -- the session on a fake world ---------------------------------------------------------------------------------


def iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeWorld:
    """cert-manager as a model: a Certificate is issued at once (revision 1, its Secret matching), unless `bug`
    says otherwise. `bug(applied faults, ever overlapped pairs)` returns what breaks: "secret" (a Ready
    Certificate's Secret with another key) or "stuck" (never Ready again)."""

    namespace = "ns"

    def __init__(self, bug=lambda applied, overlapped: None):
        self.bug = bug
        self.applied: list[str] = []
        self.overlapped: set[frozenset[str]] = set()
        self.certificates: dict[str, list[str]] = {}
        self.backdated: list[tuple[str, float]] = []
        self.failed: dict[str, int] = {}
        self.events: list[str] = []

    def dns_names(self, name, count):
        return [f"{name}-{i}.ns.certchaos.test" for i in range(count)]

    def create(self, name, names):
        self.certificates[name] = names

    change = create

    def renew(self, name):
        self.events.append(f"renew {name}")

    def make_fault(self, name):
        def apply():
            self.overlapped |= {frozenset((name, other)) for other in self.applied}
            self.applied.append(name)

        def revert():
            self.applied.remove(name)
        return CallableFault(name, apply, revert)

    def challenges_gone(self):
        self.events.append("quiet?")
        return lambda: Seen(True, "none")

    def watch(self, names):
        return lambda: Seen(True, {n: "Ready" for n in names})

    def broken(self):
        return self.bug(tuple(self.applied), self.overlapped)

    def settled(self, name):
        return lambda: Seen(self.broken() != "stuck" or bool(self.failed.get(name)), "stuck" if self.broken() else "ok")

    def done_issuing(self, name):
        return lambda: Seen(self.broken() != "stuck", "stuck" if self.broken() == "stuck" else "Ready")

    def failed_attempts(self, name):
        return self.failed.get(name, 0), False

    def backdate_last_failure(self, name, seconds):
        self.backdated.append((name, seconds))

    def capture(self):
        wrong = self.broken() == "secret"
        return {
            "namespace": "ns", "zone": "ns.certchaos.test.",
            "certificates": [{"name": n, "generation": 1, "secretName": n, "dnsNames": names,
                              "conditions": {"Ready": {"status": "True", "reason": "Ready"}}, "revision": 1,
                              "notBefore": iso(NOT_AFTER - 7776000), "notAfter": iso(NOT_AFTER),
                              "renewalTime": iso(NOT_AFTER - 100)} for n, names in self.certificates.items()],
            "requests": [{"name": f"{n}-1", "certificate": n, "revision": 1,
                          "conditions": {"Ready": {"status": "True"}}, "serial": "abc"} for n in self.certificates],
            "orders": [], "challenges": [], "txtRecords": [], "controllerPanics": [],
            "secrets": [{"name": n, "certificateName": n, "serial": "abc", "dnsNames": names,
                         "notBefore": NOT_AFTER - 7776000, "notAfter": NOT_AFTER, "keyMatches": not wrong,
                         "chainError": None, "chainVerified": True} for n, names in self.certificates.items()],
        }


def once(condition, *, subject, expected, timeout, on_change=None, **_):
    """A wait that looks once (no clock): the fake world answers at once."""
    try:
        seen = condition()
    except Hopeless:
        raise
    if not seen.ok:
        raise WaitTimeout(subject, expected, timeout, seen.state, 1)
    return seen.state


def loop_wait(condition, *, subject, expected, timeout, on_change=None, **_):
    """A wait that polls without pause until the condition holds (a wait step's short window), for 5 s at most."""
    deadline, polls = time.monotonic() + 5, 0
    while time.monotonic() < deadline:
        polls += 1
        seen = condition()
        if seen.ok:
            return seen.state
    raise WaitTimeout(subject, expected, timeout, seen.state, polls)


def make_session(tmp_path, world, faults=FAULTS, wait=loop_wait) -> ExploreSession:
    journal = Journal(tmp_path / "journal.json", ScenarioInfo("explore::test", "", ""))
    return ExploreSession(Scenario(journal, time_scale=1, wait=wait), world, faults)


def test_a_healthy_schedule_passes_every_step_and_liveness(tmp_path):
    world = FakeWorld()
    session = make_session(tmp_path, world)
    for step in (Step(CREATE, certificate="crt-0", names=2), Step(INJECT, fault="ca-outage"),
                 Step(INJECT, fault="dns-refused"), Step(WAIT, seconds=0.2), Step(RENEW, certificate="crt-0"),
                 Step(REVERT, fault="ca-outage")):
        session.run(step)
        session.check_step()
    session.finish()
    # finish reverted what was still applied, as a step a replay repeats
    assert [r.step for r in session.ran][-1] == Step(REVERT, fault="dns-refused")
    assert world.applied == [] and "quiet?" in world.events  # a DNS-refusing fault waited for a quiet zone
    entries = session.scenario.journal.entries
    assert any(e.detail.get("recovers") for e in entries if e.kind == "expectation-met")
    assert [e.detail["step"] for e in entries if e.subject == "step"][0] == "Step('create', certificate='crt-0', names=2)"


def test_the_webhook_fault_stops_the_machines_own_writes_until_reverted(tmp_path):
    session = make_session(tmp_path, FakeWorld())
    assert session.model.can_write
    session.run(Step(INJECT, fault="webhook-down"))
    assert not session.model.can_write and "webhook-down" not in session.model.injectable()
    session.run(Step(REVERT, fault="webhook-down"))
    assert session.model.can_write


def test_an_instant_fault_is_applied_and_reverted_in_its_step_and_adds_a_takeover(tmp_path):
    world = FakeWorld()
    session = make_session(tmp_path, world)
    session.run(Step(INJECT, fault="controller-restart"))
    assert not session.applied and session.restarts == 1 and world.applied == []
    kinds = [e.kind for e in session.scenario.journal.entries]
    assert "fault-applied" in kinds and "fault-reverted" in kinds


def test_a_ready_secret_with_another_key_breaks_the_invariants_at_that_step(tmp_path):
    world = FakeWorld(bug=lambda applied, overlapped: "secret" if "ca-slow" in applied else None)
    session = make_session(tmp_path, world, wait=once)
    session.run(Step(CREATE, certificate="crt-0", names=1))
    session.check_step()
    session.run(Step(INJECT, fault="ca-slow"))
    with pytest.raises(ExpectationFailed, match="private key that does not match"):
        session.check_step()


def test_a_certificate_that_never_recovers_fails_liveness(tmp_path):
    world = FakeWorld(bug=lambda applied, overlapped: "stuck" if overlapped else None)
    session = make_session(tmp_path, world, wait=once)
    for step in (Step(CREATE, certificate="crt-0", names=1), Step(INJECT, fault="ca-outage"),
                 Step(INJECT, fault="dns-lag")):
        session.run(step)
    with pytest.raises(ExpectationFailed, match="Ready and done issuing"):
        session.finish()


def test_a_failed_issuance_waits_out_its_documented_backoff_by_declaring_it_elapsed(tmp_path):
    world = FakeWorld()
    world.failed["crt-0"] = 2
    session = make_session(tmp_path, world)
    session.run(Step(CREATE, certificate="crt-0", names=1))
    session.finish()
    assert world.backdated == [("crt-0", issuance_backoff(2))]


# -- the machine: Hypothesis finds a planted bug and shrinks it -------------------------------------------------


def run_machine(tmp_path, bug, budget, max_steps=10, examples=60, database=None):
    sessions, closed = [], []

    def open_example():
        sessions.append(make_session(tmp_path / str(len(sessions)), FakeWorld(bug), wait=once))
        return sessions[-1]

    def close_example(session, outcome):
        closed.append((list(session.ran), outcome))
        if isinstance(outcome, AssertionError):
            budget.failed()

    judge = ScheduleJudge(open_example, close_example, budget)
    machine = make_machine(judge, FAULTS, waits=st.just(0))  # a fake world needs no time
    test = get_state_machine_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=max_steps, deadline=None, database=database,
        suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink], report_multiple_bugs=False))
    test.opened, test.judge = sessions, judge
    return test, closed


def test_the_machine_finds_two_overlapping_faults_and_shrinks_to_them(tmp_path):
    pair = frozenset(("ca-outage", "dns-lag-ca"))
    test, closed = run_machine(tmp_path, lambda applied, overlapped: "secret" if pair in overlapped else None,
                               Budget(3600, 3600))
    with pytest.raises(ExpectationFailed):
        test()
    failing = [ran for ran, outcome in closed if isinstance(outcome, AssertionError)]
    smallest = min(failing, key=len)
    # shrinking asked again for schedules it had seen, or that extend one that failed: answered, not run again
    assert test.judge.answered > 0 and len(closed) == len({tuple(r.step for r in ran) for ran, _ in closed})
    # the two injections, the first watched a while, after a Certificate or two; the run stops at the failing step
    steps = [r.step for r in smallest]
    assert {s.fault for s in steps if s.action == INJECT} == set(pair) and steps[-1].action == INJECT, steps
    assert len(steps) <= 5 and {s.action for s in steps} <= {CREATE, INJECT, WAIT}, steps


@pytest.mark.parametrize("ticks_allowed", [30, 31, 97])
def test_a_budget_spent_in_the_middle_of_an_example_ends_the_run_not_a_flaky_error(tmp_path, ticks_allowed):
    ticks = iter(range(10**6))
    budget = Budget(ticks_allowed, 0, clock=lambda: next(ticks))  # every look at the clock is a second later
    test, closed = run_machine(tmp_path, lambda applied, overlapped: None, budget, examples=1000,
                               database=DirectoryBasedExampleDatabase(str(tmp_path / "db")))
    with pytest.raises(BudgetSpent):
        test()
    # every example opened was closed (its faults reverted), none judged: cut between steps or between examples
    assert len(closed) == len(test.opened) > 0
    assert all(outcome is None or isinstance(outcome, BudgetSpent) for _, outcome in closed)


def test_a_failure_starts_the_shrink_budget_from_the_moment_it_was_found():
    now = [0.0]
    budget = Budget(100, 20, clock=lambda: now[0])
    now[0] = 90
    budget.failed()
    now[0] = 105
    assert not budget.spent  # past the exploration's budget, within the shrink budget
    now[0] = 111
    with pytest.raises(BudgetSpent, match="shrink"):
        budget.check()


# -- the replayable scenario and the report --------------------------------------------------------------------


@given(st.lists(steps.filter(lambda s: s.action != WAIT or s.seconds), min_size=1, max_size=10), st.integers(0, 2**31))
@settings(max_examples=30, deadline=None)
def test_the_written_scenario_is_a_module_that_replays_the_schedule(schedule, seed):
    ran = [Ran(step, i * 10.0, i * 10.0 + 5) for i, step in enumerate(schedule)]
    text = scenario_module(ran, seed=seed, error='ExpectationFailed: Expected """x""" \\ y', journal="examples/001",
                           command=f"certchaos explore --seed {seed}")
    tree = ast.parse(text)
    assert ast.get_docstring(tree).startswith("Found by `certchaos explore")
    namespace: dict = {}
    exec(compile(text.replace("from harness.scenario_api import Step, replay_schedule", ""), "m", "exec"),
         {"Step": Step, "pytest": pytest}, namespace)
    assert list(namespace["SCHEDULE"]) == schedule and namespace["SEED"] == seed
    assert TEST_NAME in namespace
    lab_wide = any(s.fault and EXPLORABLE[s.fault].lab_wide for s in schedule)
    assert ("@pytest.mark.exclusive" in text) == lab_wide
    assert module_name(ran).startswith("test_explored_") and module_name(ran) == module_name(list(ran))


def test_coverage_counts_the_pairs_applied_together_out_of_all_pairs():
    schedules = [[Step(INJECT, fault="ca-outage"), Step(INJECT, fault="dns-lag"), Step(REVERT, fault="ca-outage")],
                 [Step(INJECT, fault="webhook-down")]]
    cover = report.coverage(schedules, ("ca-outage", "dns-lag", "webhook-down"))
    assert cover["pairs_covered"] == [["ca-outage", "dns-lag"]] and cover["pairs_possible"] == 3
    assert ["ca-outage", "webhook-down"] in cover["pairs_missing"]
    assert cover["injected"] == {"ca-outage": 1, "dns-lag": 1, "webhook-down": 1}
    assert "\n" not in story([Ran(Step(WAIT, seconds=5), 1.0, 6.0)])


def test_faults_are_chosen_by_name_and_the_labs_capabilities():
    assert chosen(None) == FAULTS
    assert chosen("ca-outage, dns-lag") == ("ca-outage", "dns-lag")
    with pytest.raises(HarnessError, match="not explorable"):
        chosen("ca-outage,nope")

    class NoController:
        controller_process = controller_pods = False
    assert "controller-restart" not in chosen(None, NoController())


# -- the command -------------------------------------------------------------------------------------------------


@given(st.integers(0, 5), st.integers(0, 59), st.integers(0, 59))
def test_a_duration_reads_hours_minutes_and_seconds(hours, minutes, seconds):
    from harness.cli.explore import parse_duration

    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{seconds}s" if seconds else "")
    total = hours * 3600 + minutes * 60 + seconds
    if total:
        assert parse_duration(text) == total
        assert parse_duration(str(total)) == total
    else:
        with pytest.raises(HarnessError):
            parse_duration(text or "0")


@pytest.mark.parametrize("options, said", [
    (["--budget", "soon"], "duration 'soon'"), (["--shrink-budget", "0"], "must be positive"),
    (["--max-steps", "0"], "--max-steps 0"), (["--faults", "ca-outage,gremlins"], "gremlins not explorable"),
    (["--time-scale", "-2"], "time scale '-2'"), (["--attach", "/nonexistent/lab.json"], "not a running lab"),
    (["--attach", "/nonexistent/lab.json", "--provider", "kind"], "--provider kind starts a lab"),
])
def test_explore_refuses_bad_input_with_one_message_before_anything_starts(tmp_path, capsys, options, said):
    from harness.cli import main

    report = tmp_path / "report"
    assert main.main(["explore", "--report-dir", str(report), *options]) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1, err
    assert not report.exists()


def test_the_judge_runs_a_schedule_once_and_judges_its_extensions_by_the_prefix_that_failed(tmp_path):
    runs = []
    bug = lambda applied, overlapped: "secret" if "ca-slow" in applied else None  # noqa: E731

    def open_example():
        runs.append(make_session(tmp_path / str(len(runs)), FakeWorld(bug), wait=once))
        return runs[-1]

    judge = ScheduleJudge(open_example, lambda session, outcome: None, Budget(3600, 3600))
    healthy = (Step(CREATE, certificate="crt-0", names=1), Step(RENEW, certificate="crt-0"))
    judge(healthy)
    judge(healthy)
    failing = healthy + (Step(INJECT, fault="ca-slow"),)
    with pytest.raises(ExpectationFailed) as first:
        judge(failing)
    with pytest.raises(ExpectationFailed) as again:
        judge(failing + (Step(WAIT, seconds=5), Step(REVERT, fault="ca-slow")))
    assert again.value is first.value and len(runs) == 2 and judge.answered == 2
    assert [r.step for r in runs[1].ran] == list(failing)  # it stopped at the step whose invariants failed


def test_an_error_of_the_harness_stops_the_run_and_is_not_a_verdict(tmp_path):
    closed = []

    class Broken(FakeWorld):
        def make_fault(self, name):
            raise ConnectionError("toxiproxy went away")

    judge = ScheduleJudge(lambda: make_session(tmp_path, Broken(), wait=once),
                          lambda session, outcome: closed.append(outcome), Budget(3600, 3600))
    with pytest.raises(HarnessBroke, match="toxiproxy went away"):
        judge((Step(CREATE, certificate="crt-0", names=1), Step(INJECT, fault="ca-outage")))
    assert isinstance(closed[0], ConnectionError) and not judge.failed


def test_an_example_that_cannot_be_set_up_stops_the_run_and_is_not_a_verdict():
    def open_example():
        raise ConnectionError("the API server went away")

    judge = ScheduleJudge(open_example, lambda session, outcome: None, Budget(3600, 3600))
    with pytest.raises(HarnessBroke, match="setting up an example: ConnectionError"):  # not for Hypothesis to shrink
        judge((Step(CREATE, certificate="crt-0", names=1),))
    assert not judge.failed and not judge.passed


def test_an_example_whose_setup_fails_half_way_removes_what_it_made(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from harness.explore import runner

    undone = []
    issuer = SimpleNamespace(close=lambda: undone.append("issuer: CA proxy and ACME route"))
    monkeypatch.setattr(runner, "ensure_namespace", lambda kube, namespace: None)
    monkeypatch.setattr(runner, "make_acme_issuer", lambda lab, namespace: issuer)
    monkeypatch.setattr(runner, "isolate_webhook", lambda lab, namespace: (_ for _ in ()).throw(
        ConnectionError("toxiproxy went away")))
    monkeypatch.setattr(runner.client, "CoreV1Api", lambda kube: SimpleNamespace(
        delete_namespace=lambda namespace, **_: undone.append(f"namespace {namespace}")))
    explorer = runner.Explorer(SimpleNamespace(kube=None), tmp_path, ("ca-outage",), Budget(3600, 3600), 1,
                               say=lambda text: None)
    with pytest.raises(ConnectionError):
        explorer.open_example()
    assert undone[0] == "issuer: CA proxy and ACME route" and undone[1].startswith("namespace explore-001-")
    assert explorer._open is None and not explorer.examples


def test_a_closed_example_removes_its_ca_proxy_route_webhook_and_namespace(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from harness.explore import runner
    from harness.explore.faults import Target

    undone = []
    monkeypatch.setattr(runner, "release_webhook", lambda lab, namespace, proxy: undone.append("webhook"))
    monkeypatch.setattr(runner.client, "CoreV1Api", lambda kube: SimpleNamespace(
        delete_namespace=lambda namespace, **_: undone.append("namespace")))
    explorer = runner.Explorer(SimpleNamespace(kube=None), tmp_path, ("ca-outage",), Budget(3600, 3600), 1,
                               say=lambda text: None)
    session = make_session(tmp_path, FakeWorld(), wait=once)
    issuer = SimpleNamespace(close=lambda: undone.append("CA proxy and ACME route"))
    explorer._open = runner._Open(session, Target(None, "ns", issuer, None), SimpleNamespace(stop=lambda: None), 1)
    explorer.close_example(session, None)
    assert undone == ["CA proxy and ACME route", "webhook", "namespace"]
    assert [e.status for e in explorer.examples] == [Status.PASSED]
