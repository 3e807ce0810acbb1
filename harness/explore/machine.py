"""The Hypothesis state machine over one live lab: each example is a fresh namespace (its own issuer, zone,
TSIG key, CA path and webhook registration) where rules create, change and renew Certificates, inject and
revert the explorable faults and let time pass; the invariants run after every step, liveness at the end.

Rules are verbs; preconditions (never early returns) keep a schedule meaningful: no write of ours while the
webhook is down, a fault reverted only when applied. The budget (time, and a shrink budget once something
failed) ends the run between steps with BudgetSpent, which Hypothesis lets through unshrunk; the
runner keeps every failing schedule it saw, so the smallest one survives a shrink cut short.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from harness.explore.schedule import CHANGE, CREATE, INJECT, RENEW, REVERT, WAIT, Step
from harness.explore.session import ExploreSession

MAX_CERTIFICATES = 2  # two Certificates make re-issue and readiness interleave; more only slow an example down
CERTIFICATES = tuple(f"crt-{i}" for i in range(MAX_CERTIFICATES))  # ExploreSession.next_certificate's names
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


def make_machine(open_example: Callable[[], ExploreSession],
                 close_example: Callable[[ExploreSession, BaseException | None], None],
                 budget: Budget, waits: st.SearchStrategy[float] = WAITS) -> type[RuleBasedStateMachine]:
    """A state machine class whose examples are opened and closed by the runner (harness.explore.runner); `waits`
    the seconds a wait step may last."""

    class ExploreLab(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            budget.check()
            self.session = open_example()
            self.outcome: BaseException | None = None

        def _judged(self, action: Callable[[], None]) -> None:
            """Run `action`: a missed expectation is a failure for Hypothesis to shrink; any other exception is the
            harness's (HarnessBroke); the outcome is kept for teardown either way."""
            try:
                action()
            except (AssertionError, BudgetSpent, KeyboardInterrupt) as error:
                self.outcome = error
                raise
            except Exception as error:
                self.outcome = error
                raise HarnessBroke(f"{type(error).__name__}: {error}") from error

        def _do(self, step: Step) -> None:
            budget.check()
            self._judged(lambda: self.session.run(step))

        @initialize(names=NAMES)
        def first_certificate(self, names):
            self._do(Step(CREATE, certificate=self.session.next_certificate(), names=names))

        @precondition(lambda self: self.session.can_write and len(self.session.certificates) < MAX_CERTIFICATES)
        @rule(names=NAMES)
        def create(self, names):
            self._do(Step(CREATE, certificate=self.session.next_certificate(), names=names))

        # Choices are drawn from fixed lists filtered by the state (never from the state's own list): a fault keeps
        # its index whatever was injected before, so deleting an earlier step while shrinking keeps the later ones.
        def _certificate(self, data) -> str:
            existing = self.session.certificates
            return data.draw(st.sampled_from(CERTIFICATES).filter(lambda name: name in existing), label="certificate")

        @precondition(lambda self: self.session.can_write)
        @rule(data=st.data(), names=NAMES)
        def change(self, data, names):
            self._do(Step(CHANGE, certificate=self._certificate(data), names=names))

        @precondition(lambda self: self.session.can_write)
        @rule(data=st.data())
        def renew(self, data):
            self._do(Step(RENEW, certificate=self._certificate(data)))

        @precondition(lambda self: bool(self.session.injectable()))
        @rule(data=st.data())
        def inject(self, data):
            applied = self.session.applied
            fault = data.draw(st.sampled_from(self.session.faults).filter(lambda name: name not in applied),
                              label="fault")
            self._do(Step(INJECT, fault=fault))
            # A fault acts over time: it is watched for a drawn while before anything else happens (a revert a
            # moment later would test nothing).
            self._do(Step(WAIT, seconds=data.draw(waits, label="held for")))

        @precondition(lambda self: bool(self.session.applied))
        @rule(data=st.data())
        def revert(self, data):
            applied = self.session.applied
            self._do(Step(REVERT, fault=data.draw(st.sampled_from(self.session.faults).filter(applied.__contains__),
                                                  label="fault")))

        @rule(seconds=waits)
        def wait(self, seconds):
            self._do(Step(WAIT, seconds=seconds))

        @invariant()
        def lifecycle_invariants(self):
            if self.outcome is None:
                self._judged(self.session.check_step)

        def teardown(self):
            try:
                if self.outcome is None:
                    budget.check()
                    self._judged(self.session.finish)
            finally:
                close_example(self.session, self.outcome)

    return ExploreLab
