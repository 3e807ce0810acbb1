"""The Hypothesis state machine over one live lab. Its rules draw a schedule (create, change and renew
Certificates, inject and revert the explorable faults, let time pass) against a model of what the schedule has
made; preconditions (never early returns) keep it meaningful: no write of ours while the webhook is down, a fault
reverted only when applied. At teardown the judge (ScheduleJudge) runs the schedule on the lab, in a fresh
namespace: each step, the invariants after it, liveness at the end.

Drawing first and running at the end lets the judge run each schedule once: Hypothesis's shrinker asks again for
schedules it has seen (other choices, the same steps) and for extensions of a schedule that already failed at
step k, and a live run takes minutes. The judge answers those from the run it made, so shrinking spends lab time
only on new schedules. The budget (time, and a shrink budget once something failed) ends the run between steps
with BudgetSpent, which Hypothesis lets through; the runner keeps every failing schedule it saw, so the smallest
survives a shrink cut short.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from harness.explore.faults import model_of
from harness.explore.schedule import CHANGE, CREATE, INJECT, RENEW, REVERT, WAIT, Step
from harness.explore.session import ExploreSession

MAX_CERTIFICATES = 2  # two Certificates make re-issue and readiness interleave; more only slow an example down
CERTIFICATES = tuple(f"crt-{i}" for i in range(MAX_CERTIFICATES))  # Model.next_certificate's names
NAMES = st.integers(1, 2)  # DNS names per Certificate: changing between 1 and 2 is a RequestChanged re-issue
# Seconds a wait step lets pass: under the self-check's retry period, a DNS-01 wait, an issuance and a backoff.
WAITS = st.sampled_from([5, 15, 30, 60, 120])


class StopExploring(KeyboardInterrupt):
    """Ends the whole run from inside an example. A KeyboardInterrupt because that is what Hypothesis's engine lets
    through untouched (no shrinking, no saving, no replay); any other exception it records, and one that ends a test
    case earlier than the same choices did before makes it raise FlakyStrategyDefinition instead."""


class HarnessBroke(StopExploring):
    """A step failed for the harness's reasons (a fault that would not apply, an API that went away): no verdict on
    cert-manager, nothing to shrink; the run stops."""


class BudgetSpent(StopExploring):
    """The exploration's time (or shrink) budget is spent: the run stops between steps."""


@dataclass
class Budget:
    """Monotonic deadlines: `until` for the exploration, `shrink_until` once a failure was found."""

    seconds: float
    shrink_seconds: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    until: float = field(default=0.0)
    shrink_until: float | None = None

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.until = self.started + self.seconds

    def failed(self) -> None:
        """A failure was found: shrinking may go on for the shrink budget from now (past the exploration's)."""
        if self.shrink_until is None:
            self.shrink_until = self.clock() + self.shrink_seconds

    @property
    def spent(self) -> bool:
        return self.clock() >= (self.until if self.shrink_until is None else self.shrink_until)

    def check(self) -> None:
        if self.spent:
            raise BudgetSpent("shrink budget spent" if self.shrink_until is not None else "time budget spent")


class ScheduleJudge:
    """Runs a schedule on a fresh example (`open_example` -> ExploreSession; `close_example(session, outcome)`
    reverts, records and removes it) unless its verdict is known: the same steps ran, or a prefix of them failed.
    A missed expectation is re-raised for Hypothesis to shrink; any other error stops the run (HarnessBroke)."""

    def __init__(self, open_example: Callable[[], ExploreSession],
                 close_example: Callable[[ExploreSession, BaseException | None], None], budget: Budget):
        self.open_example, self.close_example, self.budget = open_example, close_example, budget
        self.passed: set[tuple[Step, ...]] = set()
        self.failed: dict[tuple[Step, ...], AssertionError] = {}  # a failing prefix (or whole schedule): its error
        self.answered = 0  # schedules judged from an earlier run

    def known(self, steps: tuple[Step, ...]) -> AssertionError | bool | None:
        """The error of a failing prefix, True for a schedule that passed, None when it must run."""
        failing = [error for prefix, error in self.failed.items() if steps[:len(prefix)] == prefix]
        if failing:
            return failing[0]
        return True if steps in self.passed else None

    def __call__(self, steps: tuple[Step, ...]) -> None:
        known = self.known(steps)
        if known is not None:
            self.answered += 1
            if known is not True:
                raise known
            return
        self.budget.check()
        try:
            session = self.open_example()
        except Exception as error:  # a namespace that could not be set up: the harness's, never a verdict
            raise HarnessBroke(f"setting up an example: {type(error).__name__}: {error}") from error
        outcome: BaseException | None = None
        at = len(steps)  # where a failure counts from: a failing step's prefix, else the whole schedule
        try:
            session.check_step()
            for index, step in enumerate(steps):
                at = index + 1
                self.budget.check()
                session.run(step)
                session.check_step()
            at = len(steps)
            self.budget.check()
            session.finish()
        except AssertionError as error:
            outcome = error
            self.failed[steps[:at]] = error
            raise
        except (StopExploring, KeyboardInterrupt) as error:
            outcome = error
            raise
        except Exception as error:
            outcome = error
            raise HarnessBroke(f"{type(error).__name__}: {error}") from error
        else:
            self.passed.add(steps)
        finally:
            self.close_example(session, outcome)


def make_machine(judge: Callable[[tuple[Step, ...]], None], faults: tuple[str, ...],
                 waits: st.SearchStrategy[float] = WAITS) -> type[RuleBasedStateMachine]:
    """A state machine class drawing schedules of `faults` for `judge` (a ScheduleJudge); `waits` the seconds a
    wait step may last. The budget is the judge's alone, checked only before a schedule must run: Hypothesis's
    final replay of the smallest failure (answered from its run) catches every exception, and one raised before
    the draws end there makes it report FlakyStrategyDefinition instead of the failure."""

    class ExploreLab(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.model = model_of(faults)
            self.steps: list[Step] = []

        def _add(self, step: Step) -> None:
            self.model.apply(step)
            self.steps.append(step)

        # Choices are drawn from fixed lists filtered by the state (never from the state's own list): a fault keeps
        # its index whatever was injected before, so deleting an earlier step while shrinking keeps the later ones.
        def _certificate(self, data) -> str:
            existing = self.model.certificates
            return data.draw(st.sampled_from(CERTIFICATES).filter(lambda name: name in existing), label="certificate")

        @initialize(names=NAMES)
        def first_certificate(self, names):
            self._add(Step(CREATE, certificate=self.model.next_certificate(), names=names))

        @precondition(lambda self: self.model.can_write and len(self.model.certificates) < MAX_CERTIFICATES)
        @rule(names=NAMES)
        def create(self, names):
            self._add(Step(CREATE, certificate=self.model.next_certificate(), names=names))

        @precondition(lambda self: self.model.can_write)
        @rule(data=st.data(), names=NAMES)
        def change(self, data, names):
            self._add(Step(CHANGE, certificate=self._certificate(data), names=names))

        @precondition(lambda self: self.model.can_write)
        @rule(data=st.data())
        def renew(self, data):
            self._add(Step(RENEW, certificate=self._certificate(data)))

        @precondition(lambda self: bool(self.model.injectable()))
        @rule(data=st.data())
        def inject(self, data):
            applied = self.model.applied
            fault = data.draw(st.sampled_from(faults).filter(lambda name: name not in applied), label="fault")
            self._add(Step(INJECT, fault=fault))
            # A fault acts over time: it is watched for a drawn while before anything else happens (a revert a
            # moment later would test nothing).
            self._add(Step(WAIT, seconds=data.draw(waits, label="held for")))

        @precondition(lambda self: bool(self.model.applied))
        @rule(data=st.data())
        def revert(self, data):
            applied = self.model.applied
            self._add(Step(REVERT, fault=data.draw(st.sampled_from(faults).filter(applied.__contains__),
                                                   label="fault")))

        @rule(seconds=waits)
        def wait(self, seconds):
            self._add(Step(WAIT, seconds=seconds))

        def teardown(self):
            judge(tuple(self.steps))

    return ExploreLab
