"""The scenario run on a fake clock: rollback always happens, once per fault and newest first; the verdict
follows the rules; time-to-detect/recover come from the right entries; the journal round-trips.

Hypothesis generates whole scenario programs (nested faults, expectations met or missed at random
times, notes, raises including Ctrl-C) and plays them against the real run object.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.chaos.fault import BaseFault, CallableFault, Fault
from harness.report.journal import Clock, Journal, EntryKind, ScenarioInfo, Status
from harness.chaos.scenario import (ExpectationFailed, FaultFailed, ObserverFailed, RollbackFailed, Scenario,
                              ScenarioMisuse, resolve_time_scale, status_for)
from harness.wait import Hopeless, Seen, WaitTimeout

TICK = 0.25  # poll interval on the fake clock; a power of two so sums of ticks are exact floats


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.now, wall=lambda: 1_700_000_000.0 + self.now)

    def wait_for(self, condition, *, subject, expected, timeout, interval=TICK, on_change=None):
        """harness.wait.wait_for's contract on fake time: poll, record changes, time out at the deadline."""
        deadline, previous, polls = self.now + timeout, object(), 0
        while True:
            polls += 1
            seen = condition()
            if seen.ok:
                return seen.state
            if on_change is not None and seen.state != previous:
                on_change(seen.state)
            previous = seen.state
            if self.now >= deadline:
                raise WaitTimeout(subject, expected, timeout, seen.state, polls)
            self.advance(min(interval, deadline - self.now))


def make_run(path: Path, clock: FakeClock, time_scale: float = 1.0) -> Scenario:
    journal = Journal(path, ScenarioInfo("tests/unit/test_scenario.py::program"), clock=clock.clock())
    return Scenario(journal, time_scale=time_scale, wait=clock.wait_for, interval=TICK)


# -- the program model ----------------------------------------------------------------------------

@dataclass(repr=False)
class FlakyFault(BaseFault):
    """Logs apply/revert to a shared list; may raise halfway through either."""

    name: str
    log: list = field(compare=False)
    fail_apply: bool = False
    fail_revert: bool = False
    interrupt_revert: bool = False

    def apply(self) -> None:
        self.log.append(("apply", self.name))
        if self.fail_apply:
            raise RuntimeError(f"{self.name}: apply broke halfway")

    def revert(self) -> None:
        self.log.append(("revert", self.name))
        if self.interrupt_revert:
            raise KeyboardInterrupt
        if self.fail_revert:
            raise RuntimeError(f"{self.name}: revert broke")

    def __repr__(self) -> str:
        flags = "".join(f", {flag}=True" for flag in ("fail_apply", "fail_revert", "interrupt_revert")
                        if getattr(self, flag))
        return f"FlakyFault({self.name!r}, log{flags})"


@dataclass(frozen=True)
class Advance:
    seconds: float


@dataclass(frozen=True)
class Expect:
    holds_after: float | None  # None: never holds
    within: float
    detects: bool = False
    recovers: bool = False


@dataclass(frozen=True)
class Raise:
    what: str  # "interrupt" | "error" | "harness" | "assert"


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class WithFault:
    fail_apply: bool
    fail_revert: bool
    interrupt_revert: bool
    body: tuple

ticks = st.integers(0, 12).map(lambda n: n * TICK)
expects = st.builds(
    lambda holds_after, within, flag: Expect(holds_after, within, flag in ("detects", "both"),
                                             flag in ("recovers", "both")),
    st.one_of(ticks, ticks, ticks, st.none()), ticks, st.sampled_from(["plain", "detects", "recovers", "both"]))
leaf_steps = st.one_of(  # expectations weighted up, raises down, so programs get past their first steps
    st.builds(Advance, ticks), expects, expects, expects,
    st.builds(Note, st.sampled_from(["resolver cache flushed", "ünïcode ✓"])),
    st.builds(Raise, st.sampled_from(["interrupt", "error", "harness", "assert"])),
)
flaky = st.sampled_from([False, False, False, False, True])  # mostly healthy faults: most programs get far


def with_fault(bodies):
    return st.builds(WithFault, flaky, flaky, flaky, bodies)


bodies = st.recursive(
    st.lists(leaf_steps, max_size=4).map(tuple),
    lambda children: st.lists(st.one_of(leaf_steps, with_fault(children)), max_size=4).map(tuple),
    max_leaves=14,
)
steady_steps = st.one_of(st.builds(Advance, ticks), st.builds(Expect, ticks, ticks))
# A scenario's shape: steady steps, a fault (anything inside, nested faults too), then anything.
shapes = st.builds(lambda before, fault, after: (*before, fault, *after),
                   st.lists(steady_steps, max_size=2), with_fault(bodies), bodies)


def met(flag: str):
    return st.builds(lambda holds, slack: Expect(holds, holds + slack, flag == "detects", flag == "recovers"),
                     ticks, ticks)


# The story a scenario tells (detected inside the fault, recovered after it), with noise around it.
stories = st.builds(
    lambda before, flags, inside, detect, recover, after: (*before, WithFault(*flags, (*inside, detect)), recover,
                                                           *after),
    st.lists(steady_steps, max_size=2), st.tuples(flaky, flaky, flaky), bodies, met("detects"), met("recovers"),
    bodies)
programs = st.one_of(shapes, stories)

RAISES = {"interrupt": KeyboardInterrupt, "error": ValueError, "harness": HarnessError, "assert": AssertionError}


@dataclass
class Model:
    """What the test itself knows happened, from its own clock: independent of the journal."""

    clock: FakeClock
    log: list = field(default_factory=list)
    stack: list = field(default_factory=list)  # (name, applied at)
    last_reverted: tuple | None = None  # (name, reverted at, ok)
    ttd: float | None = None
    ttr: float | None = None
    revert_failed: bool = False
    names: int = 0


def play(run: Scenario, model: Model, body: tuple) -> None:
    for step in body:
        if isinstance(step, Advance):
            model.clock.advance(step.seconds)
        elif isinstance(step, Note):
            run.note(step.text)
        elif isinstance(step, Raise):
            raise RAISES[step.what](f"step raised {step.what}")
        elif isinstance(step, Expect):
            play_expect(run, model, step)
        else:
            play_fault(run, model, step)


def play_expect(run: Scenario, model: Model, step: Expect) -> None:
    misuse = (step.detects and step.recovers) or (step.detects and not model.stack) or (
        step.recovers and (model.stack or model.last_reverted is None))
    started = model.clock.now
    holds_at = None if step.holds_after is None else started + step.holds_after
    condition = lambda: Seen(holds_at is not None and model.clock.now >= holds_at, f"t={model.clock.now - started}")
    if misuse:
        with pytest.raises(ScenarioMisuse):
            run.expect(condition, subject="Certificate ns/web", expected="Ready=True", within=step.within,
                       detects=step.detects, recovers=step.recovers)
        raise ScenarioMisuse("re-raised by the model to end the program like the run would")
    if step.holds_after is None or step.holds_after > step.within:
        with pytest.raises(ExpectationFailed):
            run.expect(condition, subject="Certificate ns/web", expected="Ready=True", within=step.within,
                       detects=step.detects, recovers=step.recovers)
        assert model.clock.now == started + step.within
        raise ExpectationFailed("re-raised by the model", subject="", expected="", timeout=0, last=None, polls=0)
    run.expect(condition, subject="Certificate ns/web", expected="Ready=True", within=step.within,
               detects=step.detects, recovers=step.recovers)
    assert holds_at <= model.clock.now < holds_at + TICK  # met at the first poll after it started holding
    if step.detects and model.ttd is None:
        model.ttd = model.clock.now - model.stack[-1][1]
    if step.recovers and model.ttr is None:
        name, reverted_at, ok = model.last_reverted
        model.ttr = model.clock.now - reverted_at if ok else None


def play_fault(run: Scenario, model: Model, step: WithFault) -> None:
    model.names += 1
    fault = FlakyFault(f"f{model.names}", model.log, step.fail_apply, step.fail_revert, step.interrupt_revert)
    model.stack.append((fault.name, model.clock.now))
    try:
        with run.fault(fault):
            play(run, model, step.body)
    finally:
        # The run has reverted it by now, whatever happened; the model follows.
        model.stack.pop()
        ok = not (step.fail_revert or step.interrupt_revert)
        model.revert_failed |= not ok
        model.last_reverted = (fault.name, model.clock.now, ok)


def drive(run: Scenario, model: Model, program: tuple) -> BaseException | None:
    """Like the pytest plugin: play (the call), rollback (the fixture's teardown), finish."""
    escaped = None
    try:
        play(run, model, program)
    except BaseException as error:  # noqa: BLE001 - the outcome under test
        escaped = error
    run.conclude(status_for(escaped), escaped, "call")
    try:
        run.rollback()
    except BaseException as error:  # noqa: BLE001
        run.conclude(status_for(error), error, "teardown")
    run.finish()
    return escaped


def expected_status(escaped: BaseException | None, model: Model) -> Status:
    if isinstance(escaped, KeyboardInterrupt):
        return Status.INTERRUPTED
    if model.revert_failed or (escaped is not None and not isinstance(escaped, AssertionError)):
        return Status.HARNESS_ERROR
    return Status.DEVIATED if escaped is not None else Status.PASSED


@settings(max_examples=300, deadline=None)  # deadline=None: saving a journal touches the disk
@given(programs)
def test_any_program_reverts_every_fault_once_newest_first_and_gets_the_right_verdict(program):
    clock = FakeClock()
    model = Model(clock)
    with tempfile.TemporaryDirectory() as directory:
        run = make_run(Path(directory) / "journal.json", clock)
        escaped = drive(run, model, program)

        # Rollback: every apply (also one that broke halfway) has exactly one revert, newest first.
        open_faults = []
        for action, name in model.log:
            if action == "apply":
                open_faults.append(name)
            else:
                assert open_faults and open_faults[-1] == name, f"{name} reverted out of order: {model.log}"
                open_faults.pop()
        assert open_faults == [] and run.applied == ()

        entries = run.journal.entries
        applied = [e.detail["fault_id"] for e in entries if e.kind is EntryKind.FAULT_APPLIED]
        reverted = [e.detail["fault_id"] for e in entries if e.kind in (EntryKind.FAULT_REVERTED, EntryKind.FAULT_REVERT_FAILED)]
        assert sorted(applied) == sorted(reverted) and len(set(applied)) == len(applied)
        assert all(e.kind in EntryKind for e in entries)
        assert [e.offset for e in entries] == sorted(e.offset for e in entries)

        # Verdict.
        assert run.journal.status is expected_status(escaped, model)
        event(f"status {run.journal.status}")  # --hypothesis-show-statistics shows the mix of cases
        event(f"faults applied: {min(len(applied), 3)}{'+' if len(applied) >= 3 else ''}")
        event(f"time to detect {'measured' if model.ttd is not None else 'none'}, "
              f"to recover {'measured' if model.ttr is not None else 'none'}")

        # Time to detect / recover: from the journal, equal to what the test's own clock measured.
        assert run.time_to_detect() == model.ttd
        assert run.time_to_recover() == model.ttr
        assert all(t is None or t >= 0 for t in (run.time_to_detect(), run.time_to_recover()))

        # Round trip.
        loaded = Journal.load(run.journal.path)
        assert loaded.to_dict() == run.journal.to_dict()
        assert (loaded.time_to_detect(), loaded.time_to_recover()) == (model.ttd, model.ttr)


# -- examples -------------------------------------------------------------------------------------

def test_a_missed_expectation_says_what_when_what_was_seen_what_came_close_the_faults_and_the_journal(tmp_path):
    clock = FakeClock()
    run = make_run(tmp_path / "journal.json", clock, time_scale=2)
    states = iter(["Issuing", "Issuing", "Pending", "Pending", "Failed: NXDOMAIN"] + ["Failed: SERVFAIL"] * 100)
    lag = CallableFault("propagation lag 30s", print, print)
    with pytest.raises(ExpectationFailed) as raised:
        with run.fault(lag):
            clock.advance(1.5)
            run.expect(lambda: Seen(False, next(states)), subject="Certificate ns/web", expected="Ready=True",
                       within=5, detects=True)
    message = str(raised.value)
    first = message.splitlines()[0]
    assert first.startswith("Expected Certificate ns/web Ready=True within 10s (5s x time scale 2) (by ")
    assert first.endswith("it has: Failed: SERVFAIL")
    near = message[message.index("near misses"):message.index("fault timeline")]
    assert "4 distinct states seen" in near
    assert [s for s in ("Issuing", "Pending", "Failed: NXDOMAIN", "Failed: SERVFAIL") if s in near] == \
        ["Issuing", "Pending", "Failed: NXDOMAIN", "Failed: SERVFAIL"]
    assert "     +0.000s  fault-applied" in message.split("fault timeline")[1]
    assert "CallableFault('propagation lag 30s', on_apply=builtins.print" in message
    assert message.rstrip().endswith(f"journal: {tmp_path / 'journal.json'}")
    assert raised.value.last == "Failed: SERVFAIL" and raised.value.timeout == 10
    assert isinstance(raised.value, AssertionError) and status_for(raised.value) is Status.DEVIATED
    missed = [e for e in run.journal.entries if e.kind is EntryKind.EXPECTATION_MISSED]
    assert missed[0].detail["last"] == "Failed: SERVFAIL" and missed[0].detail["timeout"] == 10


def test_a_revert_that_raises_is_recorded_does_not_stop_older_reverts_and_fails_the_block(tmp_path):
    clock, log = FakeClock(), []
    run = make_run(tmp_path / "journal.json", clock)
    with pytest.raises(RollbackFailed, match="f2: revert broke"):
        with run.fault(FlakyFault("f1", log)):
            with run.fault(FlakyFault("f2", log, fail_revert=True)):
                pass
    assert log == [("apply", "f1"), ("apply", "f2"), ("revert", "f2"), ("revert", "f1")]
    kinds = [e.kind for e in run.journal.entries if e.kind.startswith("fault")]
    assert kinds == [EntryKind.FAULT_APPLIED, EntryKind.FAULT_APPLIED, EntryKind.FAULT_REVERT_FAILED, EntryKind.FAULT_REVERTED]
    run.rollback()  # already raised once: the fixture's teardown does not raise it again
    assert run.finish() is Status.HARNESS_ERROR


def test_a_revert_failure_under_a_missed_expectation_keeps_the_expectation_and_rollback_raises_later(tmp_path):
    clock, log = FakeClock(), []
    run = make_run(tmp_path / "journal.json", clock)
    with pytest.raises(ExpectationFailed):
        with run.fault(FlakyFault("f1", log, fail_revert=True)):
            run.expect(lambda: Seen(False, "no"), subject="x", expected="y", within=1)
    with pytest.raises(RollbackFailed, match="f1: revert broke"):
        run.rollback()


def test_a_fault_whose_apply_breaks_is_reverted_and_surfaces_as_a_harness_error(tmp_path):
    clock, log = FakeClock(), []
    run = make_run(tmp_path / "journal.json", clock)
    with pytest.raises(FaultFailed, match=r"applying FlakyFault\('f1', log, fail_apply=True\) failed"):
        with run.fault(FlakyFault("f1", log, fail_apply=True)):
            pytest.fail("the block must not run")
    assert log == [("apply", "f1"), ("revert", "f1")]
    assert status_for(FaultFailed("x")) is Status.HARNESS_ERROR


def test_a_condition_that_gives_up_fails_the_expectation_at_once_saying_why(tmp_path):
    clock = FakeClock()
    run = make_run(tmp_path / "journal.json", clock)

    def condition():
        raise Hopeless("cert-manager controller exited with status 2")

    with pytest.raises(ExpectationFailed, match="gave up early: cert-manager controller exited with status 2"):
        run.expect(condition, subject="Certificate ns/web", expected="Ready=True", within=60)
    assert clock.now == 1000.0  # no poll waited for the 60s deadline


def test_a_fault_describes_itself_by_its_docstring_unless_it_says_more():
    assert FlakyFault("f1", []).describe() == "Logs apply/revert to a shared list; may raise halfway through either."
    assert CallableFault("webhook down", print, print).describe() == "webhook down"


def test_steady_state_phase_is_chosen_by_position_and_refused_during_a_fault(tmp_path):
    clock = FakeClock()
    run = make_run(tmp_path / "journal.json", clock)
    ok = lambda: Seen(True, "Ready=True")
    run.steady_state(ok, subject="Certificate ns/web", expected="Ready=True", within=1)
    with run.fault(CallableFault("noop", print, print)):
        with pytest.raises(ScenarioMisuse, match="steady_state"):
            run.steady_state(ok, subject="Certificate ns/web", expected="Ready=True", within=1)
    run.steady_state(ok, subject="Certificate ns/web", expected="Ready=True", within=1)
    phases = [e.subject for e in run.journal.entries if e.kind is EntryKind.PHASE]
    assert phases == ["steady-state-before", "method", "rollback", "steady-state-after"]


def test_an_observer_failing_on_its_thread_stops_the_wait_and_is_raised_in_the_test_thread(tmp_path):
    clock = FakeClock()
    run = make_run(tmp_path / "journal.json", clock)
    polls = []

    def condition():
        polls.append(clock.now)
        if len(polls) == 3:
            run.observer_failed("metrics scraper", ConnectionError("connection refused"))
        return Seen(False, "waiting")

    with pytest.raises(ObserverFailed, match="metrics scraper: ConnectionError: connection refused"):
        run.expect(condition, subject="x", expected="y", within=60)
    assert len(polls) == 3  # not the 240 polls of the full deadline
    run.conclude(Status.PASSED)
    assert run.finish() is Status.HARNESS_ERROR


def test_ctrl_c_during_a_revert_still_reverts_the_older_faults_then_interrupts(tmp_path):
    clock, log = FakeClock(), []
    run = make_run(tmp_path / "journal.json", clock)
    with pytest.raises(KeyboardInterrupt):
        with run.fault(FlakyFault("f1", log)):
            with run.fault(FlakyFault("f2", log, interrupt_revert=True)):
                pass
    assert log[-2:] == [("revert", "f2"), ("revert", "f1")]


@pytest.mark.parametrize(("option", "env", "expected"), [(None, None, 1.0), (None, "2.5", 2.5), ("3", "2.5", 3.0)])
def test_time_scale_comes_from_the_option_else_the_environment(option, env, expected):
    assert resolve_time_scale(option, {} if env is None else {"CERTCHAOS_TIME_SCALE": env}) == expected


@given(st.one_of(st.text(), st.floats(allow_nan=True, allow_infinity=True)))
def test_a_time_scale_that_is_not_a_positive_number_is_refused_clearly(raw):
    try:
        scale = float(raw)
    except ValueError:
        scale = math.nan
    if raw != "" and not (math.isfinite(scale) and scale > 0):
        with pytest.raises(HarnessError, match="CERTCHAOS_TIME_SCALE"):
            resolve_time_scale(raw)
    else:
        assert resolve_time_scale(raw) == (1.0 if raw == "" else scale)


def test_faults_satisfy_the_protocol_and_their_repr_is_python():
    fault = CallableFault("webhook down", print, print)
    assert isinstance(fault, Fault)
    assert eval(repr(fault), {"CallableFault": CallableFault, "builtins": __import__("builtins")}) == fault


def _leader_election_scenario(monkeypatch, clock: FakeClock, taken_over_after: float):
    """scenarios/test_leader_election.py with the lab replaced: a standby that waits at once, and a Lease that
    another replica takes `taken_over_after` seconds (fake time) after the leader was stopped."""
    import contextlib
    import importlib.util

    path = Path(__file__).parents[2] / "scenarios" / "test_leader_election.py"
    spec = importlib.util.spec_from_file_location("leader_election_scenario", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stopped: list[float] = []
    standby = type("Standby", (), {"name": "standby", "log_contains": staticmethod(lambda text: lambda: Seen(True, text))})
    monkeypatch.setattr(module, "standby_controller", lambda info, log_dir: contextlib.nullcontext(standby))
    monkeypatch.setattr(module.Controller, "of", staticmethod(lambda info: None))
    monkeypatch.setattr(module, "ControllerStopped", lambda controller: CallableFault(
        "leader stopped", lambda: stopped.append(clock.now), lambda: None))
    monkeypatch.setattr(module, "lease_view", lambda *args: {"holder": "leader"})
    monkeypatch.setattr(module, "lease_taken_over", lambda *args: lambda: Seen(
        bool(stopped) and clock.now - stopped[0] >= taken_over_after, "holder: leader"))
    lab = type("Lab", (), {"info": None})()
    return lambda run: module.test_a_gracefully_stopped_leader_hands_the_lease_over_at_once(run, lab, None, None)


@pytest.mark.parametrize("time_scale", [1, 2])
def test_the_leader_lease_limit_fails_an_unreleased_lease_at_any_time_scale(tmp_path, monkeypatch, time_scale):
    """An unreleased Lease is free only after its 60 s duration: the handover limit (30 s) must fail it even
    when a slow machine doubles every wait, and still pass a released one taken over after 5 s."""
    clock = FakeClock()
    unreleased = _leader_election_scenario(monkeypatch, clock, taken_over_after=60)
    with pytest.raises(ExpectationFailed, match=r"within 30s \(a limit of the spec: not scaled\)"):
        unreleased(make_run(tmp_path / "unreleased.json", clock, time_scale=time_scale))
    released = _leader_election_scenario(monkeypatch, clock, taken_over_after=5)
    released(make_run(tmp_path / "released.json", clock, time_scale=time_scale))


def test_time_to_detect_names_its_evidence_and_a_harness_probe_says_so(tmp_path):
    from harness.report.journal import detected_by
    from harness.report.summary import detect_cell

    clock = FakeClock()
    for probe, by in ((False, "ACME client"), (True, "Certificate create (harness probe)")):
        run = make_run(tmp_path / f"{probe}.json", clock)
        with run.fault(CallableFault("CA down", lambda: None, lambda: None)):
            clock.advance(3)
            run.expect(lambda: Seen(True, "seen"), subject=by.removesuffix(" (harness probe)"), expected="it",
                       within=1, detects=True, probe=probe)
        assert detected_by(run.journal.entries) == by
        assert detect_cell(run.time_to_detect(), by) == f"3.0s by {by}"


def test_faults_applied_without_nesting_are_reverted_in_any_order_once_and_the_rest_by_the_rollback(tmp_path):
    clock, log = FakeClock(), []
    run = make_run(tmp_path / "journal.json", clock)
    f1, f2 = FlakyFault("f1", log), FlakyFault("f2", log)
    run.apply(f1)
    run.apply(f2)
    run.revert(f1)  # the older one first: an explored schedule's order, which `with` blocks cannot express
    assert run.applied == (f2,)
    with pytest.raises(ScenarioMisuse, match="not applied"):
        run.revert(f1)
    run.apply(FlakyFault("f3", log, fail_revert=True))
    with pytest.raises(RollbackFailed, match="f3: revert broke"):
        run.rollback()  # newest first: f3 (raises), then f2 all the same
    assert log == [("apply", "f1"), ("apply", "f2"), ("revert", "f1"), ("apply", "f3"), ("revert", "f3"),
                   ("revert", "f2")]
    assert not run.applied
    ids = [(e.kind, e.detail["fault_id"]) for e in run.journal.entries if e.kind.startswith("fault")]
    assert ids == [(EntryKind.FAULT_APPLIED, 1), (EntryKind.FAULT_APPLIED, 2), (EntryKind.FAULT_REVERTED, 1),
                   (EntryKind.FAULT_APPLIED, 3), (EntryKind.FAULT_REVERT_FAILED, 3), (EntryKind.FAULT_REVERTED, 2)]
