"""One game day: a workload, steady state, one fault the team did not choose, the team's marks (or a
runbook's steps), the system's own recovery watched by the harness, and the journal of it all.

The fault goes through the scenario run (harness.chaos.scenario.Scenario), so it is reverted exactly once,
also on Ctrl-C, and the journal has the same fault entries as any scenario. What the team does is on its
own lane: `team` entries (ack, note, fixed, reveal, quit) and `runbook-step` entries; the game's
milestones are `game` entries (injected, detected, recovered, ended).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from harness.chaos.actions import expire_authorizations, trigger_renewal
from harness.chaos.scenario import Scenario
from harness.stack.timings import ISSUANCE
from harness.gameday.catalogue import GameFault
from harness.gameday.runbook import Step, StepResult, run_step
from harness.gameday.workload import Workload, health, revisions
from harness.lab.lab import LabClient
from harness.report.journal import EntryKind, Status
from harness.wait import Seen, WaitTimeout, wait_for

# Steady state: both certificates issued. An ACME DNS-01 issuance takes ~65 s (cert-manager's 60 s wait after
# the self-check); the CA one seconds. One issuance plus a minute of margin for a loaded machine.
STEADY_STATE = ISSUANCE + 60
# How long an --auto game waits for the harness to see the fault bite before running the runbook anyway:
# the DNS refusal or the ACME error shows within seconds of the renewal (measured 5-15 s); margin for load.
DETECT_WITHIN = 90
MONITOR_INTERVAL = 2.0  # each poll is ~6 API calls and a Prometheus query: 2 s keeps recovery times +-2 s
TICK = 1.0  # the status refresh while waiting for the team's next command (not a synchronisation)
COMMANDS = ("ack", "note", "fixed", "reveal", "quit")


@dataclass
class Outcome:
    """What the game measured; offsets are seconds since the injection."""

    fault: str
    recovered_after: float | None = None
    detected_after: float | None = None
    acknowledged_after: float | None = None
    fixed_marks: list[dict] = field(default_factory=list)  # {"after", "true_at_the_time"}
    steps: list[StepResult] = field(default_factory=list)
    failed_step: StepResult | None = None
    ended: str = ""  # why the game ended: quit, recovered, deadline, runbook, interrupted

    @property
    def recovered(self) -> bool:
        return self.recovered_after is not None


class Monitor:
    """Watches the system on the harness's own evidence while the game runs (a thread around the one polling
    loop): health transitions as `observed` entries, the fault's symptom once (detects=True, so reports draw
    time to detect), and the first healthy poll after the injection as the game's recovery."""

    def __init__(self, scenario: Scenario, healthy, symptom, fault_id: int, injected_at: float, deadline: float):
        self.scenario, self.journal = scenario, scenario.journal
        self._healthy, self._symptom = healthy, symptom
        self.fault_id, self.injected_at, self.deadline = fault_id, injected_at, deadline
        self.latest: Any = "not polled yet"
        self.detected_after: float | None = None
        self.recovered_after: float | None = None
        self.recovered = threading.Event()
        self.detected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gameday-monitor", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> "Monitor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=MONITOR_INTERVAL * 10)

    def _poll(self) -> Seen:
        if self.detected_after is None:
            self._check_symptom()
        try:
            seen = self._healthy()
            healthy, view = seen.ok, seen.state
        except Exception as error:  # noqa: BLE001 - what the harness saw; the game goes on
            healthy, view = False, f"{type(error).__name__}: {error}"
        self.latest = view
        if healthy and self.recovered_after is None:
            self.recovered_after = self.journal.now() - self.injected_at
            self.journal.record(EntryKind.GAME, "recovered", time_to_recover=self.recovered_after, health=view)
            self.recovered.set()
        return Seen(self._stop.is_set(), view)

    def _check_symptom(self) -> None:
        try:
            seen = self._symptom()
        except Exception:  # noqa: BLE001 - not visible yet (a metric endpoint between scrapes)
            return
        if seen.ok:
            self.detected_after = self.journal.now() - self.injected_at
            self.journal.record(EntryKind.EXPECTATION_MET, "the injected fault", expected="its symptom visible",
                                detects=True, recovers=False, fault_id=self.fault_id, started=self.injected_at,
                                waited=self.detected_after, state=seen.state)
            self.detected.set()

    def _run(self) -> None:
        try:
            wait_for(self._poll, subject="the game's system", expected="watched until the game ends",
                     timeout=self.deadline, interval=MONITOR_INTERVAL,
                     on_change=lambda view: self.journal.record(EntryKind.OBSERVED, "system health", state=view))
        except WaitTimeout:
            pass  # the game's deadline: the main loop ends the game
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            self.error = error
            self.scenario.observer_failed("gameday monitor", error)


class GameDay:
    """Runs one game against a lab. `commands` yields the team's lines (None at end of input); `say` prints."""

    def __init__(self, lab: LabClient, fault: GameFault, scenario: Scenario, *, deadline: float, reveal: bool,
                 say: Callable[[str], None], board=None):
        self.lab, self.fault, self.scenario, self.journal = lab, fault, scenario, scenario.journal
        self.deadline, self.reveal_now, self.say, self.board = deadline, reveal, say, board
        self.outcome = Outcome(fault.name)
        self.workload: Workload | None = None
        self.monitor: Monitor | None = None
        self.injected_at: float | None = None
        self._marks: list[str] = []

    # -- before the fault -----------------------------------------------------------------------------

    def prepare(self, workload: Workload) -> None:
        """Wait for the workload's steady state."""
        self.workload = workload
        self.say(f"waiting for the workload in namespace {workload.namespace} to be issued ...")
        self.scenario.steady_state(health(self.lab, workload, {}), subject=f"namespace {workload.namespace}",
                                   expected="certificates issued, webhook admitting, no alert firing",
                                   within=STEADY_STATE, interval=MONITOR_INTERVAL)

    # -- the game ---------------------------------------------------------------------------------------

    def play(self, run_team: Callable[["GameDay"], None]) -> Outcome:
        """Inject the fault, start the monitor, let `run_team` play (interactive or a runbook), then revert."""
        workload, fault = self.workload, self.fault
        wanted = {}
        if fault.renews:
            # A real renewal comes when the 30-day authorizations have expired: it needs a fresh challenge.
            expired = expire_authorizations(self.lab.kube, workload.namespace, workload.acme.name,
                                            workload.acme.directory, self.lab.info.pebble_ca_bundle_path)
            self.scenario.note("authorizations expired at the CA", authorizations=expired)
            wanted = {name: revision + (name == workload.acme_certificate)
                      for name, revision in revisions(self.lab, workload).items()}
        try:
            with self.scenario.fault(fault.make(self.lab, workload)) as injected:
                applied = [e for e in self.journal.entries if e.kind is EntryKind.FAULT_APPLIED][-1]
                self.injected_at = applied.offset
                self.journal.record(EntryKind.GAME, "injected", fault=fault.name, summary=fault.summary,
                                    injector=repr(injected))
                if fault.renews:
                    trigger_renewal(self.lab.kube, workload.namespace, workload.acme_certificate)
                    self.journal.record(EntryKind.NOTE, f"renewal of {workload.acme_certificate} due (cmctl renew)")
                self.say("fault injected: the system is now broken in one way. Find it, fix it, mark your steps.")
                if self.reveal_now:
                    self._reveal("--reveal")
                self.monitor = Monitor(self.scenario, health(self.lab, workload, wanted),
                                       fault.symptom(self.lab, workload), applied.detail["fault_id"],
                                       self.injected_at, self.deadline + STEADY_STATE).start()
                try:
                    run_team(self)
                finally:
                    self.monitor.stop()
        finally:
            self._conclude()
        return self.outcome

    def elapsed(self) -> float:
        return 0.0 if self.injected_at is None else self.journal.now() - self.injected_at

    def past_deadline(self) -> bool:
        return self.elapsed() >= self.deadline

    def snapshot(self) -> dict:
        """What the status board shows: never the fault's name unless revealed."""
        monitor = self.monitor
        return {"elapsed": self.elapsed(), "deadline": self.deadline, "marks": list(self._marks),
                "health": monitor.latest if monitor else "not watching",
                "recovered_after": monitor.recovered_after if monitor else None}

    # -- the team's commands -----------------------------------------------------------------------------

    def command(self, line: str) -> bool:
        """Apply one line the team typed; True when the game should end (quit)."""
        word, _, rest = line.strip().partition(" ")
        word = word.lower()
        if not word:
            return False
        if word not in COMMANDS:
            self.say(f"unknown command {word!r}: use {' | '.join(COMMANDS)}")
            return False
        after = self.elapsed()
        if word == "ack":
            if self.outcome.acknowledged_after is None:
                self.outcome.acknowledged_after = after
            self.journal.record(EntryKind.TEAM, "ack", after=after)
        elif word == "note":
            self.journal.record(EntryKind.TEAM, "note", after=after, text=rest.strip())
        elif word == "fixed":
            self._fixed(after)
        elif word == "reveal":
            self._reveal("the team asked")
        else:
            self.journal.record(EntryKind.TEAM, "quit", after=after)
            self.outcome.ended = "quit"
            return True
        self._marks.append(f"{word} +{after:.0f}s" + (f" {rest.strip()[:30]}" if word == "note" else ""))
        self.say(f"marked {word} at +{after:.1f}s")
        return False

    def _fixed(self, after: float) -> None:
        """The team thinks it is fixed: sample the system now, and say whether the harness agrees."""
        try:
            seen = self.monitor._healthy()
            true, view = seen.ok, seen.state
        except Exception as error:  # noqa: BLE001 - a failing check is "not healthy"
            true, view = False, f"{type(error).__name__}: {error}"
        self.outcome.fixed_marks.append({"after": round(after, 1), "true_at_the_time": true})
        self.journal.record(EntryKind.TEAM, "fixed", after=after, true_at_the_time=true, health=view)
        self.say("the harness agrees: healthy" if true else f"the harness does not see it healthy yet: {view}")

    def _reveal(self, why: str) -> None:
        self.journal.record(EntryKind.TEAM, "reveal", after=self.elapsed(), why=why, fault=self.fault.name)
        self.say(f"the fault is {self.fault.name}: {self.fault.summary}\n  repair: {self.fault.repair}")

    # -- a runbook instead of a team ---------------------------------------------------------------------

    def run_runbook(self, steps: Iterable[Step], env: dict[str, str], step_timeout: float, cwd: Path) -> None:
        """Wait until the harness sees the fault bite (as a page would), run the steps in order until one
        fails, then wait for recovery until the deadline."""
        if not self.monitor.detected.wait(DETECT_WITHIN * self.scenario.time_scale):
            self.say(f"the harness did not see the fault's symptom within {DETECT_WITHIN}s; running the runbook anyway")
        for step in steps:
            self.say(f"runbook {step.title}")
            started = self.journal.now()
            result = run_step(step, env, step_timeout, cwd)
            self.outcome.steps.append(result)
            self.journal.record(EntryKind.RUNBOOK_STEP, step.title, index=step.index, line=step.line,
                                exit_code=result.exit_code, output=result.output, seconds=result.seconds,
                                started=started, after=started - self.injected_at)
            self.say(_indent(result.output.rstrip()) + f"\n  -> exit {result.exit_code} in {result.seconds:.1f}s")
            if not result.ok:
                self.outcome.failed_step, self.outcome.ended = result, "runbook step failed"
                return
        left = max(0.0, self.deadline - self.elapsed())
        self.say(f"runbook done; the harness waits up to {left:.0f}s for the system to recover")
        self.outcome.ended = "recovered" if self.monitor.recovered.wait(left) else "deadline"

    def play_interactively(self, commands: "queue.Queue[str | None]", refresh: Callable[[dict], None]) -> None:
        """The team's loop: commands from the queue, the status refreshed every TICK, until quit, until the
        system recovered after the team's `fixed`, or the deadline."""
        ended_input = False
        while True:
            refresh(self.snapshot())
            if self.monitor.recovered.is_set() and self.outcome.fixed_marks:
                self.outcome.ended = "recovered"
                return
            if self.past_deadline():
                self.outcome.ended = "deadline"
                return
            if ended_input:
                self.monitor.recovered.wait(TICK)
                continue
            try:
                line = commands.get(timeout=TICK)
            except queue.Empty:
                continue
            if line is None:
                ended_input = True
                self.say("(no more input: the game runs until the team's `fixed` holds or the deadline)")
            elif self.command(line):
                return

    # -- the verdict --------------------------------------------------------------------------------------

    def _conclude(self) -> None:
        monitor = self.monitor
        if monitor is not None:
            self.outcome.recovered_after = monitor.recovered_after
            self.outcome.detected_after = monitor.detected_after
        if self.injected_at is not None and monitor is not None and monitor.recovered_after is not None:
            for mark in self.outcome.fixed_marks:
                mark["recovered_after"] = round(monitor.recovered_after, 1)
        self.journal.record(EntryKind.GAME, "ended", why=self.outcome.ended or "interrupted",
                            fault=self.fault.name, **self.result())

    def result(self) -> dict:
        outcome = self.outcome
        return {"time_to_acknowledge": outcome.acknowledged_after, "time_to_detect": outcome.detected_after,
                "time_to_recover": outcome.recovered_after, "fixed_marks": outcome.fixed_marks,
                "failed_step": outcome.failed_step.step.title if outcome.failed_step else None}

    def status(self) -> Status:
        if self.outcome.recovered and self.outcome.failed_step is None:
            return Status.PASSED
        return Status.DEVIATED


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines()) if text else "    (no output)"
