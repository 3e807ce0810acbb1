"""One explored example on a live lab: the verbs a schedule is made of, the invariants after every step and the
liveness check at its end. The Hypothesis machine (machine.py) draws the steps; a replayed scenario
(replay.py) runs a saved schedule through the same object, so both judge by one implementation.

What touches the lab is a `World` (world.py: the live one); unit tests give a fake world whose end-state facts
the real invariants (harness.chaos.invariants) judge.
"""

from __future__ import annotations

from typing import Any, Protocol

from harness.chaos.fault import Fault
from harness.chaos.invariants import AT_EVERY_STEP, SETTLE, lifecycle_condition
from harness.chaos.scenario import Scenario
from harness.explore.faults import EXPLORABLE, model_of
from harness.explore.liveness import MARGIN, liveness_bound
from harness.explore.schedule import INJECT, REVERT, Ran, Step, applied_after, faulted_span
from harness.observe.conditions.general import all_of, holds_throughout
from harness.stack.timings import ISSUANCE, issuance_backoff
from harness.wait import Condition, WaitTimeout, wait_for

# A fault that refuses DNS updates is applied once the namespace's challenges are cleaned up: one issuance at
# most (its 60 s DNS-01 wait and validation), else it is applied anyway and the journal says so.
QUIET_WITHIN = ISSUANCE
WATCH_INTERVAL = 2.0  # seconds between looks at the Certificates during a wait step: the journal's resolution
WAIT_MARGIN = 30  # a wait step's polls on a loaded machine


class World(Protocol):
    """What an example does to, and reads from, the lab."""

    namespace: str

    def dns_names(self, certificate: str, count: int) -> list[str]: ...
    def create(self, certificate: str, dns_names: list[str]) -> None: ...
    def change(self, certificate: str, dns_names: list[str]) -> None: ...
    def renew(self, certificate: str) -> None: ...
    def make_fault(self, name: str) -> Fault: ...
    def challenges_gone(self) -> Condition: ...
    def watch(self, certificates: list[str]) -> Condition: ...
    def settled(self, certificate: str) -> Condition: ...
    def done_issuing(self, certificate: str) -> Condition: ...
    def failed_attempts(self, certificate: str) -> tuple[int, bool]: ...
    """(status.failedIssuanceAttempts or 0, Ready=True)"""
    def backdate_last_failure(self, certificate: str, seconds: float) -> None: ...
    def capture(self) -> dict[str, Any]: ...


class ExploreSession:
    """The state of one example: its Certificates (name -> DNS name count), the faults applied, the steps run."""

    def __init__(self, scenario: Scenario, world: World, faults: tuple[str, ...]):
        self.scenario, self.world, self.faults = scenario, world, faults
        self.model = model_of(faults)  # the schedule's state, as the machine drew it
        self.applied: dict[str, Fault] = {}  # the faults applied now, as objects to revert
        self.ran: list[Ran] = []
        self.restarts = 0
        self.instant = self.model.instant

    @property
    def certificates(self) -> dict[str, int]:
        return self.model.certificates

    @property
    def subject(self) -> str:
        return f"Certificates of {self.world.namespace}"

    # -- steps ----------------------------------------------------------------------------------

    def run(self, step: Step) -> None:
        """Run one step and record it (the journal note "step" and `ran`)."""
        scenario = self.scenario
        started = scenario.journal.now()
        scenario.note("step", step=repr(step), index=len(self.ran))
        try:
            getattr(self, f"_{step.action}")(step)
            self.model.apply(step)
        finally:  # a step that failed is part of the schedule that failed
            self.ran.append(Ran(step, started, scenario.journal.now()))

    def _create(self, step: Step) -> None:
        self.world.create(step.certificate, self.world.dns_names(step.certificate, step.names))

    def _change(self, step: Step) -> None:
        self.world.change(step.certificate, self.world.dns_names(step.certificate, step.names))

    def _renew(self, step: Step) -> None:
        self.world.renew(step.certificate)

    def _inject(self, step: Step) -> None:
        explorable = EXPLORABLE[step.fault]
        if explorable.quiet_zone:
            try:
                wait_for(self.world.challenges_gone(), subject=f"Challenges of {self.world.namespace}",
                         expected="cleaned up before DNS updates are refused", timeout=QUIET_WITHIN)
            except WaitTimeout as error:
                self.scenario.note(f"{step.fault} applied while Challenges are still in progress",
                                   last=error.last)
        fault = self.scenario.apply(self.world.make_fault(step.fault))
        if explorable.instant:
            self.scenario.revert(fault)
            self.restarts += 1
        else:
            self.applied[step.fault] = fault

    def _revert(self, step: Step) -> None:
        self.scenario.revert(self.applied.pop(step.fault))

    def _wait(self, step: Step) -> None:
        names = sorted(self.certificates)
        self.scenario.expect(holds_throughout(self.world.watch(names), step.seconds), subject=self.subject,
                             expected=f"watched for {step.seconds:g}s", within=step.seconds + WAIT_MARGIN,
                             interval=WATCH_INTERVAL)

    # -- judging --------------------------------------------------------------------------------

    def check_step(self) -> None:
        """The invariants that hold at every moment (harness.chaos.invariants.AT_EVERY_STEP), polled until they
        hold (a Secret and its status are written one after the other) for at most the invariants' settling time."""
        self.scenario.expect(lifecycle_condition(self.world.capture, lambda: list(self.scenario.journal.entries),
                                                 checks=AT_EVERY_STEP),
                             subject=f"lifecycle of {self.world.namespace} after step {len(self.ran)}",
                             expected="every Ready Secret valid and matching its revision, no re-issue without a "
                                      "cause, no controller panic", within=SETTLE)

    def finish(self, end_checks: bool = True) -> None:
        """Revert what is still applied (as steps, so a replay does the same), then liveness: every Certificate Ready
        and done issuing within the bound (liveness.py), a failed issuance's documented backoff declared elapsed;
        then the scenario's end checks (the lifecycle invariants; under pytest the plugin runs them)."""
        for name in reversed(applied_after((r.step for r in self.ran), self.instant)):
            self.run(Step(REVERT, fault=name))
        names = sorted(self.certificates)
        if names:
            self._live(names)
        if end_checks:
            self.scenario.verify_end()

    def _live(self, names: list[str]) -> None:
        bound = liveness_bound(faulted_span(self.ran, self.instant), self.restarts)
        reverted = any(r.step.action in (INJECT, REVERT) for r in self.ran)
        wait = self.scenario.expect if reverted else self.scenario.steady_state
        flags = {"recovers": True} if reverted else {}
        wait(all_of(*(self.world.settled(name) for name in names)), subject=self.subject,
             expected="each Ready and done issuing, or failed and waiting out the issuance backoff",
             within=bound, **flags)
        backing_off = []
        for name in names:
            failed, ready = self.world.failed_attempts(name)
            if failed and not ready:
                backing_off.append(name)
                self.world.backdate_last_failure(name, issuance_backoff(failed))
                self.scenario.note(f"Certificate {name}: the issuance backoff after {failed} failures "
                                   f"({issuance_backoff(failed)} s, documented) declared elapsed")
        self.scenario.steady_state(all_of(*(self.world.done_issuing(name) for name in names)), subject=self.subject,
                                   expected="every one Ready with a valid certificate and done issuing",
                                   within=(ISSUANCE + MARGIN) if backing_off else MARGIN)

