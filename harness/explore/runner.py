"""The exploration run: Hypothesis's engine over the state machine, each example in a fresh namespace of one lab
with its own journal (the scenarios' timeline: resources, Events, metrics, DNS log, alerts), every example and
every failure kept for the report and the replayable scenario.

Shrinking a failure replays shorter schedules on the live lab, minutes each, so it is bounded three ways:
Hypothesis's settings (`max_steps` caps a schedule; shrinking only ever tries shorter or simpler ones), the
shrink budget (a wall-clock deadline from the first failure, checked between steps), and `--no-shrink`. Every
failing schedule seen is kept, so the smallest is written out even when the budget cuts shrinking short.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hypothesis import HealthCheck, Phase, Verbosity, seed as hypothesis_seed, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.internal.conjecture import engine
from hypothesis.stateful import get_state_machine_test
from kubernetes import client

from harness.chaos.invariants import LifecycleCheck
from harness.chaos.scenario import Scenario, status_for
from harness.chaos.timeline import Timeline
from harness.explore.faults import Target
from harness.explore.machine import Budget, BudgetSpent, HarnessBroke, ScheduleJudge, make_machine
from harness.explore.schedule import Ran
from harness.explore.session import ExploreSession
from harness.explore.world import LiveWorld
from harness.lab.issuers import make_acme_issuer
from harness.lab.lab import LabClient
from harness.lab.webhook import isolate_webhook, release_webhook
from harness.report.journal import Journal, ScenarioInfo, Status, environment_facts
from harness.stack.kube import ensure_namespace

SPEC = ("Spec: the lifecycle invariants that hold at every moment hold after every step (docs/invariants.md); once "
        "every fault is reverted every Certificate is Ready with a valid certificate within the liveness bound "
        "(docs/explore.md), and the end state keeps every lifecycle invariant.")


@dataclass
class Example:
    """One explored example as the report shows it."""

    index: int
    namespace: str
    journal: Path
    ran: list[Ran]
    status: Status
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status is Status.DEVIATED

    seconds: float = 0.0  # from the journal's start to its end: the steps, then liveness and the end checks


@dataclass
class _Open:
    session: ExploreSession
    target: Target
    timeline: Timeline
    index: int


@dataclass
class Explorer:
    """Runs the exploration on `lab` and keeps what it saw. `say` prints progress."""

    lab: LabClient
    report_dir: Path
    faults: tuple[str, ...]
    budget: Budget
    seed: int
    max_steps: int = 8
    max_examples: int = 1000  # the time budget ends a run long before; Hypothesis needs a number
    database: Path | None = None
    shrink: bool = True
    time_scale: float = 1.0
    say: Callable[[str], None] = print
    examples: list[Example] = field(default_factory=list)
    error: BaseException | None = None  # what ended the run: the failure Hypothesis reported, a harness error
    ended: str = "not started"
    judge: ScheduleJudge | None = None
    _open: _Open | None = None

    @property
    def failures(self) -> list[Example]:
        return [e for e in self.examples if e.failed]

    def smallest_failure(self) -> Example | None:
        return min(self.failures, key=lambda e: (len(e.ran), e.seconds), default=None)

    def settings(self) -> settings:
        phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if self.shrink else [])
        return settings(max_examples=self.max_examples, stateful_step_count=self.max_steps, deadline=None,
                        phases=phases, report_multiple_bugs=False, print_blob=False, verbosity=Verbosity.quiet,
                        suppress_health_check=list(HealthCheck),
                        database=DirectoryBasedExampleDatabase(str(self.database)) if self.database else None)

    def run(self) -> None:
        self.judge = ScheduleJudge(self.open_example, self.close_example, self.budget)
        test = get_state_machine_test(make_machine(self.judge, self.faults), settings=self.settings())
        test = hypothesis_seed(self.seed)(test)
        # One key per fault set: a schedule saved for other faults would not replay here.
        test._hypothesis_internal_database_key = ("certchaos-explore:" + ",".join(sorted(self.faults))).encode()
        # Hypothesis stops shrinking after 5 minutes (engine.MAX_SHRINKING_SECONDS, documented as the knob to turn);
        # here the shrink budget decides.
        limit = engine.MAX_SHRINKING_SECONDS
        engine.MAX_SHRINKING_SECONDS = max(limit, int(self.budget.shrink_seconds))
        try:
            test()
            self.ended = "max examples run"
        except BudgetSpent as spent:
            self.ended = str(spent)
        except HarnessBroke as broke:
            self.ended, self.error = "harness error", broke
        except AssertionError as failure:  # Hypothesis's final replay of the smallest failure it kept
            self.ended, self.error = "failure found", failure
        except Exception as error:  # noqa: BLE001 - Hypothesis's own complaint (Flaky: a failure that did not repeat)
            self.ended, self.error = f"Hypothesis stopped: {type(error).__name__}", error
        finally:
            engine.MAX_SHRINKING_SECONDS = limit

    # -- one example -----------------------------------------------------------------------------

    def open_example(self) -> ExploreSession:
        index = len(self.examples) + (self._open is not None) + 1
        namespace = f"explore-{index:03d}-{uuid.uuid4().hex[:5]}"
        self.say(f"example {index}: namespace {namespace}")
        undo: list[Callable[[], object]] = []  # what is made so far, undone (newest first) if a later part fails
        try:
            ensure_namespace(self.lab.kube, namespace)
            undo.append(lambda: client.CoreV1Api(self.lab.kube).delete_namespace(namespace,
                                                                                 propagation_policy="Background"))
            issuer = make_acme_issuer(self.lab, namespace)
            undo.append(issuer.close)
            webhook = isolate_webhook(self.lab, namespace)
            undo.append(lambda: release_webhook(self.lab, namespace, webhook))
            target = Target(self.lab, namespace, issuer, webhook)
            journal = Journal(self.report_dir / "examples" / f"{index:03d}" / "journal.json",
                              ScenarioInfo(f"explore::example-{index:03d}",
                                           f"an explored fault schedule (seed {self.seed}, example {index})", SPEC),
                              environment=environment_facts(self.lab.info.provider, self.lab.info.components))
            scenario = Scenario(journal, time_scale=self.time_scale)
            check = LifecycleCheck(scenario, self.lab, namespace)
            scenario.add_end_check(check)
            timeline = Timeline(scenario, self.lab, namespace).start()
        except BaseException:
            for part in reversed(undo):
                try:
                    part()
                except Exception:  # noqa: BLE001 - the error that stopped the setup is the one raised
                    pass
            raise
        session = ExploreSession(scenario, LiveWorld(target, check), self.faults)
        self._open = _Open(session, target, timeline, index)
        return session

    def close_example(self, session: ExploreSession, outcome: BaseException | None) -> None:
        """Revert, stop the observers, judge, save the journal, remove the namespace's parts; every part runs."""
        opened, self._open = self._open, None
        scenario = session.scenario
        status = Status.INTERRUPTED if isinstance(outcome, (BudgetSpent, KeyboardInterrupt)) else status_for(outcome)
        cause = outcome.__cause__ if isinstance(outcome, HarnessBroke) and outcome.__cause__ else outcome
        steps = [scenario.rollback, opened.timeline.stop,
                 lambda: scenario.conclude(status, cause),
                 scenario.finish, opened.target.issuer.close,  # its CA proxy and its ACME fault layer route
                 lambda: release_webhook(self.lab, opened.target.namespace, opened.target.webhook),
                 lambda: client.CoreV1Api(self.lab.kube).delete_namespace(opened.target.namespace,
                                                                          propagation_policy="Background")]
        problems = []
        for step in steps:
            try:
                step()
            except Exception as error:  # noqa: BLE001 - the rest still runs; the first is raised after
                problems.append(error)
        example = Example(opened.index, opened.target.namespace, scenario.journal.path, list(session.ran),
                          scenario.journal.status or status,
                          None if cause is None else f"{type(cause).__name__}: {cause}",
                          (scenario.journal.ended_at or scenario.journal.clock.wall()) - scenario.journal.started_at)
        self.examples.append(example)
        self.say(f"example {example.index}: {example.status} after {len(example.ran)} steps ({example.seconds:.0f}s)"
                 + (f": {example.error.splitlines()[0]}" if example.error else ""))
        if example.failed:
            self.budget.failed()
        if problems and outcome is None:
            raise HarnessBroke(f"cleaning up example {example.index}: {problems[0]}") from problems[0]
