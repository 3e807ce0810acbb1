"""The scenario run: steady state before -> one fault -> expectations -> rollback -> steady state after.

Chaos Toolkit's phases as one typed object. Every step lands in the journal; every applied fault is
reverted exactly once, newest first, also when a step raised or Ctrl-C arrived; a revert that raises is
recorded and turns the verdict into harness-error without stopping the other reverts.

    run.steady_state(certificate_ready(cert), subject="Certificate ns/web", expected="Ready=True", within=60)
    with run.fault(PropagationLag(seconds=30)):
        run.expect(challenge_failed(cert), subject="Challenge for ns/web", expected="to fail validation",
                   within=90, detects=True)
    run.expect(certificate_ready(cert), subject="Certificate ns/web", expected="Ready=True again",
               within=120, recovers=True)
"""

from __future__ import annotations

import datetime
import itertools
import math
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from harness.errors import HarnessError
from harness.chaos.fault import Fault
from harness.report.journal import SEVERITY, Journal, EntryKind, Status, worst
from harness.wait import Condition, Hopeless, WaitTimeout, wait_for

TIME_SCALE_ENV = "CERTCHAOS_TIME_SCALE"
NEAR_MISSES_SHOWN = 5  # enough to see the trend of a condition without burying the first line
STATE_LIMIT = 160  # characters of one state in a failure message; the journal keeps it whole


@dataclass(frozen=True)
class Limit:
    """A deadline that tells right from wrong, given as `within=Limit(30)`: the spec's own bound (a released
    Lease is taken over within 30 s; an unreleased one only after its 60 s duration). The time scale stretches
    waits on a slow machine, never this: at scale 2 a 60 s takeover must still fail a 30 s limit."""

    seconds: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError(f"Limit({self.seconds!r}): give a positive number of seconds")


Within = float | Limit  # a wait (times the time scale) or a Limit (as given)


class ScenarioMisuse(HarnessError):
    """The scenario calls the run out of order (steady state during a fault, detects=True outside one)."""


class FaultFailed(HarnessError):
    """A fault's apply raised: the stack could not be broken the intended way."""


class RollbackFailed(HarnessError):
    """One or more reverts raised; the stack may still be broken."""


class ObserverFailed(HarnessError):
    """An observer raised on its thread; its evidence is missing, so no verdict can be trusted."""


class ExpectationFailed(WaitTimeout):
    """An expectation about the system under test did not hold by its deadline (verdict: deviated)."""

    def __init__(self, message: str, *, subject: str, expected: str, timeout: float, last: Any, polls: int):
        AssertionError.__init__(self, message)
        self.subject, self.expected, self.timeout, self.last, self.polls = subject, expected, timeout, last, polls


def resolve_time_scale(option: float | str | None = None, environ: dict[str, str] | None = None) -> float:
    """The factor every deadline is multiplied by: the option if given, else $CERTCHAOS_TIME_SCALE, else 1."""
    raw = option if option is not None else (os.environ if environ is None else environ).get(TIME_SCALE_ENV)
    if raw is None or raw == "":
        return 1.0
    try:
        scale = float(raw)
    except ValueError:
        scale = math.nan
    if not (math.isfinite(scale) and scale > 0):
        raise HarnessError(f"time scale {raw!r} is not a positive number. Fix: pass --time-scale (pytest: "
                           "--certchaos-time-scale) or set "
                           f"{TIME_SCALE_ENV} to e.g. 2 to double every deadline on a slow machine")
    return scale


def status_for(error: BaseException | None) -> Status:
    """The verdict an outcome stands for: a missed expectation deviates; anything else broke the harness."""
    if error is None:
        return Status.PASSED
    if isinstance(error, KeyboardInterrupt):
        return Status.INTERRUPTED
    if isinstance(error, AssertionError):
        return Status.DEVIATED
    return Status.HARNESS_ERROR


@dataclass(eq=False)
class _Applied:
    fault: Fault
    fault_id: int


class _ObserverAbort(Hopeless):
    """Stops a wait at once when an observer has failed (wait_for lets only Hopeless through)."""


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= STATE_LIMIT else text[: STATE_LIMIT - 1] + "…"


class Scenario:
    """One scenario run. `wait` is the polling loop (harness.wait.wait_for; tests inject one on a fake clock)."""

    def __init__(self, journal: Journal, *, time_scale: float | None = None,
                 wait: Callable[..., Any] = wait_for, interval: float | None = None):
        self.journal = journal
        self.time_scale = resolve_time_scale(time_scale)
        journal.time_scale = self.time_scale
        self._wait_for = wait
        self._interval = interval
        self._ids = itertools.count(1)
        self._applied: list[_Applied] = []
        self._ever_applied = False
        self._last_reverted: _Applied | None = None
        self._phase: str | None = None
        self._revert_failures: list[str] = []
        self._revert_failures_raised = 0
        self._observer_errors: list[str] = []
        self._observer_errors_raised = 0
        self._lock = threading.Lock()
        self._status = Status.PASSED
        self._error: dict[str, str] | None = None
        self._end_checks: list[Callable[[], Any]] = []

    # -- phases -----------------------------------------------------------------------------------

    def _enter(self, phase: str) -> None:
        if phase != self._phase:
            self._phase = phase
            self.journal.record(EntryKind.PHASE, phase)

    def _position(self) -> str:
        if self._applied:
            return "method"
        return "steady-state-after" if self._ever_applied else "steady-state-before"

    @property
    def applied(self) -> tuple[Fault, ...]:
        """Faults currently applied, oldest first."""
        return tuple(applied.fault for applied in self._applied)

    # -- steps ------------------------------------------------------------------------------------

    def steady_state(self, condition: Condition, *, subject: str, expected: str, within: Within,
                     interval: float | None = None) -> Any:
        """Wait until the stack is healthy: before the first fault, or after every fault is reverted."""
        if self._applied:
            raise ScenarioMisuse(f"steady_state({subject!r}) while {self._applied[-1].fault!r} is applied: "
                                 "steady state is checked before the first fault or after the `with run.fault()` "
                                 "block; use run.expect() during a fault")
        return self._expect(condition, subject, expected, within, interval, detects=False, recovers=False,
                            fault_id=None)

    def expect(self, condition: Condition, *, subject: str, expected: str, within: Within,
               detects: bool = False, recovers: bool = False, interval: float | None = None,
               probe: bool = False) -> Any:
        """Wait until `condition` holds, at most `within` seconds (times the time scale; a Limit as given).

        detects=True marks the failure becoming visible (time-to-detect starts at the innermost applied
        fault); probe=True says only the harness's own probe sees it (its request rejected), not cert-manager's
        evidence, and the summary says so. recovers=True marks recovery after the last reverted fault.
        """
        fault_id = None
        if detects and recovers:
            raise ScenarioMisuse(f"expect({subject!r}): detects and recovers exclude each other")
        if detects:
            if not self._applied:
                raise ScenarioMisuse(f"expect({subject!r}, detects=True) outside a fault: "
                                     "call it inside `with run.fault(...)`")
            fault_id = self._applied[-1].fault_id
        if recovers:
            if self._applied:
                raise ScenarioMisuse(f"expect({subject!r}, recovers=True) while {self._applied[-1].fault!r} is "
                                     "applied: call it after the `with run.fault(...)` block")
            if self._last_reverted is None:
                raise ScenarioMisuse(f"expect({subject!r}, recovers=True) before any fault was reverted")
            fault_id = self._last_reverted.fault_id
        return self._expect(condition, subject, expected, within, interval, detects=detects, recovers=recovers,
                            fault_id=fault_id, probe=probe)

    def add_end_check(self, check: Callable[[], Any]) -> None:
        """Register a check that `verify_end` runs once the scenario's own steps passed (the lifecycle
        invariants, harness.chaos.invariants); it fails through `verify`, so the verdict is deviated."""
        self._end_checks.append(check)

    def verify_end(self) -> None:
        """Run the end checks in the order they were added (the pytest plugin calls it after the test)."""
        for check in self._end_checks:
            check()

    def verify(self, condition: Condition, *, subject: str, expected: str, within: Within) -> Any:
        """An expectation of the "invariants" phase: after every fault is reverted, what any run must leave."""
        if self._applied:
            raise ScenarioMisuse(f"verify({subject!r}) while {self._applied[-1].fault!r} is applied")
        return self._expect(condition, subject, expected, within, None, detects=False, recovers=False,
                            fault_id=None, phase="invariants")

    def note(self, text: str, **detail: Any) -> None:
        self.journal.record(EntryKind.NOTE, text, **detail)

    @contextmanager
    def fault(self, fault: Fault) -> Iterator[Fault]:
        """Apply `fault` for the block; on leaving it (however) revert it and anything applied after it."""
        self.check_observers()
        applied = _Applied(fault, next(self._ids))
        try:
            self._apply(applied)
            yield fault
        except BaseException:
            self._unwind(applied, raise_failures=False)
            raise
        self._unwind(applied, raise_failures=True)

    def apply(self, fault: Fault) -> Fault:
        """Apply `fault` until `revert(fault)` or `rollback()`: for schedules whose faults overlap without nesting
        (`certchaos explore`); a scenario's story uses `with run.fault(...)`. A fault whose apply raised is still
        reverted by the rollback."""
        self.check_observers()
        self._apply(_Applied(fault, next(self._ids)))
        return fault

    def revert(self, fault: Fault) -> None:
        """Revert one applied fault now, whatever was applied after it; RollbackFailed if its revert raised."""
        applied = next((a for a in self._applied if a.fault is fault), None)
        if applied is None:
            raise ScenarioMisuse(f"revert({fault!r}): it is not applied")
        try:
            self._revert(applied)
        except Exception:
            self._raise_revert_failures()

    def rollback(self) -> None:
        """Revert every fault still applied, newest first; raise RollbackFailed for failures not yet raised."""
        self._unwind(None, raise_failures=True)
        self._raise_revert_failures()

    # -- observers --------------------------------------------------------------------------------

    def observer_failed(self, observer: str, error: BaseException) -> None:
        """Record an observer's crash (call from its thread); the test thread raises it at its next step."""
        self.journal.record(EntryKind.NOTE, f"observer {observer} failed", error=f"{type(error).__name__}: {error}")
        with self._lock:
            self._observer_errors.append(f"{observer}: {type(error).__name__}: {error}")

    def check_observers(self) -> None:
        """Raise ObserverFailed in the calling thread for observer failures not yet raised."""
        with self._lock:
            unraised = self._observer_errors[self._observer_errors_raised:]
            self._observer_errors_raised = len(self._observer_errors)
        if unraised:
            raise ObserverFailed("observer failed, its evidence is missing:\n  " + "\n  ".join(unraised))

    # -- verdict ----------------------------------------------------------------------------------

    def conclude(self, status: Status, error: BaseException | None = None, phase: str = "call") -> None:
        """Fold one outcome (a pytest phase, an interrupt) into the verdict; the worst outcome wins."""
        if SEVERITY[Status(status)] > SEVERITY[self._status]:
            self._status = Status(status)
            self._error = None if error is None else {
                "type": type(error).__name__, "message": str(error) or type(error).__name__, "phase": phase}

    def finish(self) -> Status:
        """Set the verdict (a failed revert or observer makes it at least harness-error) and save the journal."""
        status = self._status
        if self._revert_failures or self._observer_errors:
            status = worst(status, Status.HARNESS_ERROR)
            if self._error is None or status is not self._status:
                self._error = {"type": "RollbackFailed" if self._revert_failures else "ObserverFailed",
                               "message": "\n".join(self._revert_failures + self._observer_errors),
                               "phase": "rollback" if self._revert_failures else "observer"}
        self.journal.finish(status, self._error)
        self.journal.save()
        return status

    def time_to_detect(self) -> float | None:
        return self.journal.time_to_detect()

    def time_to_recover(self) -> float | None:
        return self.journal.time_to_recover()

    # -- internals --------------------------------------------------------------------------------

    def _apply(self, applied: _Applied) -> None:
        self._enter("method")
        # On the stack before apply runs: a fault that raised halfway is still reverted.
        self._applied.append(applied)
        self._ever_applied = True
        fault, started = applied.fault, self.journal.now()
        common = {"fault_id": applied.fault_id, "description": fault.describe(), "started": started}
        try:
            fault.apply()
        except BaseException as error:
            self.journal.record(EntryKind.FAULT_APPLIED, repr(fault), **common, outcome="failed",
                                error=f"{type(error).__name__}: {error}")
            if isinstance(error, Exception) and not isinstance(error, HarnessError):
                raise FaultFailed(f"applying {fault!r} failed: {type(error).__name__}: {error}") from error
            raise
        self.journal.record(EntryKind.FAULT_APPLIED, repr(fault), **common, outcome="succeeded")

    def _revert(self, applied: _Applied) -> None:
        self._enter("rollback")
        fault, started = applied.fault, self.journal.now()
        common = {"fault_id": applied.fault_id, "description": fault.describe(), "started": started}
        try:
            fault.revert()
        except BaseException as error:
            message = f"{type(error).__name__}: {error}"
            self.journal.record(EntryKind.FAULT_REVERT_FAILED, repr(fault), **common, outcome="failed", error=message)
            self._revert_failures.append(f"{fault!r}: {message}")
            raise
        else:
            self.journal.record(EntryKind.FAULT_REVERTED, repr(fault), **common, outcome="succeeded")
        finally:
            self._applied.remove(applied)
            self._last_reverted = applied

    def _unwind(self, until: _Applied | None, *, raise_failures: bool) -> None:
        """Revert, newest first, every applied fault down to `until` (all when None); each revert runs even
        when one before it raised. A Ctrl-C during a revert is re-raised after the others ran."""
        interrupt: BaseException | None = None
        failed = False
        while self._applied and (until is None or until in self._applied):
            current = self._applied[-1]
            try:
                self._revert(current)
            except Exception:
                failed = True
            except BaseException as error:
                interrupt = interrupt or error
            if current is until:
                break
        if interrupt is not None:
            raise interrupt
        if failed and raise_failures:
            self._raise_revert_failures()

    def _raise_revert_failures(self) -> None:
        unraised = self._revert_failures[self._revert_failures_raised:]
        if unraised:
            self._revert_failures_raised = len(self._revert_failures)
            raise RollbackFailed("reverting faults failed; the stack may still be broken:\n  " + "\n  ".join(unraised))

    def _expect(self, condition: Condition, subject: str, expected: str, within: Within, interval: float | None, *,
                detects: bool, recovers: bool, fault_id: int | None, phase: str | None = None,
                probe: bool = False) -> Any:
        self.check_observers()
        self._enter(phase or self._position())
        limit = isinstance(within, Limit)
        within = within.seconds if limit else within
        timeout = within if limit else within * self.time_scale
        started, started_wall = self.journal.now(), self.journal.clock.wall()
        common = {"expected": expected, "within": within, "limit": limit, "timeout": timeout, "started": started,
                  "phase": self._phase, "detects": detects, "recovers": recovers, "fault_id": fault_id,
                  **({"probe": True} if probe else {})}
        seen: list[tuple[float, Any]] = []

        def on_change(state: Any) -> None:
            seen.append((self.journal.now(), state))
            self.journal.record(EntryKind.OBSERVED, subject, state=state)

        def checked() -> Any:
            if self._observer_errors[self._observer_errors_raised:]:
                raise _ObserverAbort("an observer failed")
            return condition()

        interval = self._interval if interval is None else interval
        options = {} if interval is None else {"interval": interval}
        try:
            state = self._wait_for(checked, subject=subject, expected=expected, timeout=timeout,
                                   on_change=on_change, **options)
        except _ObserverAbort:
            self.journal.record(EntryKind.NOTE, f"stopped waiting for {subject}: an observer failed")
            self.check_observers()
            raise
        except (WaitTimeout, Hopeless) as error:
            gave_up = str(error) if isinstance(error, Hopeless) else None
            last = getattr(error, "last", seen[-1][1] if seen else "<never seen>")
            polls = getattr(error, "polls", len(seen))
            self.journal.record(EntryKind.EXPECTATION_MISSED, subject, **common, last=last, polls=polls, gave_up=gave_up)
            deadline = datetime.datetime.fromtimestamp(started_wall + timeout, datetime.timezone.utc)
            message = self._failure_message(subject, expected, within, limit, timeout, deadline,
                                            started + timeout, last, polls, seen, gave_up)
            raise ExpectationFailed(message, subject=subject, expected=expected, timeout=timeout, last=last,
                                    polls=polls) from (error if gave_up else None)
        except BaseException as error:
            self.journal.record(EntryKind.NOTE, f"stopped waiting for {subject}: {type(error).__name__}")
            raise
        self.journal.record(EntryKind.EXPECTATION_MET, subject, **common, waited=self.journal.now() - started,
                            state=state)
        return state

    def _failure_message(self, subject, expected, within, limit, timeout, deadline, deadline_offset, last, polls,
                         seen, gave_up) -> str:
        from harness.report.summary import lifecycle, offset as format_offset

        scaled = ""
        if limit:
            scaled = " (a limit of the spec: not scaled)"
        elif self.time_scale != 1:
            scaled = f" ({within:g}s x time scale {self.time_scale:g})"
        by = f"by {deadline:%H:%M:%S}Z, +{deadline_offset:.1f}s into the scenario"
        lines = [f"Expected {subject} {expected} within {timeout:g}s{scaled} ({by}), "
                 f"but after {polls} polls it has: {_short(last)}"]
        if gave_up:
            lines.append(f"  gave up early: {gave_up}")
        lines.append(f"  phase: {self._phase}")
        distinct: dict[str, float] = {}
        for offset, state in seen:
            distinct.pop(_short(state), None)
            distinct[_short(state)] = offset  # latest sighting, ordered by it
        if distinct:
            shown = list(distinct.items())[-NEAR_MISSES_SHOWN:]
            lines.append(f"  near misses ({len(distinct)} distinct states seen, last {len(shown)}):")
            lines += [f"    {format_offset(offset)}  {state}" for state, offset in shown]
        faults = [e for e in self.journal.entries
                  if e.kind in (EntryKind.FAULT_APPLIED, EntryKind.FAULT_REVERTED, EntryKind.FAULT_REVERT_FAILED)]
        lines.append("  fault timeline:" if faults else "  fault timeline: no fault applied")
        if faults:
            lines += ["    " + line for line in lifecycle(faults, subject_width=None).splitlines()]
        lines.append(f"  journal: {self.journal.path}")
        return "\n".join(lines)
