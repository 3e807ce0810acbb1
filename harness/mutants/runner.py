"""One mutant's verdict: build it, run its owning scenarios against it through --bin-dir, read the result.

The scenarios run as `certchaos run` in a child process (a lab of their own, the mutant's binaries winning
over the cache); its junit files say which scenario failed, its journals say whether that failure was the
system deviating (the mutant is killed) or the harness breaking (a run error, not a kill).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from harness import collection
from harness.mutants.build import BuildFailed, Built, build
from harness.mutants.catalogue import Mutant
from harness.mutants.patch import PatchDoesNotApply

SCENARIOS = Path(__file__).resolve().parent.parent.parent / "scenarios"
# The whole catalogue takes ~4.5 min (the longest scenario ~4); twice that leaves room for a loaded machine.
RUN_TIMEOUT = 15 * 60
# Once stopped (SIGTERM, taken as Ctrl-C) the lab stops its processes in reverse order: seconds; past this, killed.
STOP_GRACE = 120
# How often a mutant's run is checked for a deviated scenario: one kills the mutant, so the rest is not waited for.
POLL_EVERY = 2.0

KILLED, SURVIVED, TIMED_OUT, NOT_BUILT, RUN_ERROR = "killed", "survived", "timed-out", "not-built", "run-error"
EQUIVALENT = "equivalent"  # a generated mutant a person showed changes nothing observable: not run, not scored
STATUSES = (KILLED, SURVIVED, TIMED_OUT, NOT_BUILT, RUN_ERROR, EQUIVALENT)


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # one of STATUSES
    scenarios: list[str] = field(default_factory=list)  # what ran against it ("test_x.py::test_y")
    killed_by: list[str] = field(default_factory=list)
    detail: str = ""  # why: the needs of a survivor, the error of a mutant not built or a run error
    build_seconds: float | None = None
    build_cached: bool = False
    run_seconds: float | None = None
    report_dir: str | None = None  # the mutant's `certchaos run` report


def scenario_id(node_id: str) -> str:
    """"scenarios/test_x.py::test_y" -> "test_x.py::test_y" (journals, collection)."""
    return node_id.replace("\\", "/").rsplit("/", 1)[-1]


def collect(keyword: str | None, scenarios: Path = SCENARIOS) -> list[str]:
    """The scenario tests a -k expression selects (all when None), without running them."""
    return [scenario_id(item.node_id)
            for item in collection.select(collection.items(str(scenarios), dict(os.environ)), keyword)]


def failed_scenarios(report_dir: Path) -> list[str]:
    """Scenario tests with a <failure> in the run's junit files (setup errors are <error>: not failures)."""
    failed = []
    for junit in sorted(report_dir.glob("junit*.xml")):
        for case in ElementTree.parse(junit).getroot().iter("testcase"):
            if case.find("failure") is not None:
                module = case.get("classname", "").rsplit(".", 1)[-1]
                failed.append(f"{module}.py::{case.get('name')}")
    return failed


def journal_statuses(report_dir: Path) -> dict[str, str]:
    """Each scenario's verdict from its journal: passed, deviated, harness-error or interrupted."""
    statuses = {}
    for path in report_dir.glob("*/journal.json"):
        journal = json.loads(path.read_text())
        statuses[scenario_id(journal["scenario"]["node_id"])] = journal["status"]
    return statuses


def classify(returncode: int, report_dir: Path) -> tuple[str, list[str], str]:
    """(status, killers, detail) of a finished run: killed by scenarios that deviated (a failure without a
    journal counts; so does a journal that deviated in set-up, junit's <error>: the webhook denied the lab's
    valid Issuer), else survived/run error."""
    statuses = journal_statuses(report_dir)
    failed = failed_scenarios(report_dir)
    killers = [name for name in failed if statuses.get(name, "deviated") == "deviated"]
    killers += [name for name in deviated(report_dir) if name not in killers]
    if killers:
        return KILLED, killers, ""
    if returncode == 0:
        return SURVIVED, [], ""
    broken = [f"{name} ({statuses.get(name, 'failed')})" for name in failed]
    return RUN_ERROR, [], (f"exit {returncode}; " + (", ".join(broken) if broken else "no scenario verdict"))


def deviated(report_dir: Path) -> list[str]:
    """The scenarios whose journal says deviated (journals are replaced whole, so one read midway is complete)."""
    return sorted(name for name, status in journal_statuses(report_dir).items() if status == "deviated")


def classify_stopped(report_dir: Path, timeout: float) -> tuple[str, list[str], str]:
    """A run stopped before its end: killed if a scenario had deviated (the mutant was detected; the others'
    verdicts could only add killers, so the run stops at the first), else timed out."""
    killers = deviated(report_dir)
    if killers:
        return KILLED, killers, "deviated; the scenarios still running were stopped, the rest not started"
    return TIMED_OUT, [], f"no verdict within {timeout:.0f} s; stopped"


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the run's process group, which `certchaos run` takes as Ctrl-C (the lab tears down), then SIGKILL
    if it will not stop. Not SIGINT: a run started in the background (nohup, `&`) inherits SIGINT ignored."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def run_scenarios(bin_dir: Path, keyword: str | None, report_dir: Path, *, workers: int, timeout: float,
                  scenarios: Path = SCENARIOS, until_deviated: bool = False,
                  stop: threading.Event | None = None) -> tuple[int | None, float]:
    """`certchaos run` against the mutant's binaries; (exit code, or None when stopped: at the timeout, once
    `stop` is set, or, with `until_deviated`, at the first deviated scenario; seconds)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "harness.cli", "run", "--bin-dir", str(bin_dir), "--report-dir", str(report_dir),
               "--workers", str(workers), "--scenarios", str(scenarios)]
    if until_deviated:  # the cheapest verdicts first: the first deviation ends the run
        command.append("--shortest-first")
    if keyword:
        command += ["-k", keyword]

    def stop_when() -> bool:
        return (stop is not None and stop.is_set()) or (until_deviated and bool(deviated(report_dir)))

    started = time.monotonic()
    returncode = run_process(command, report_dir / "run.log", timeout, stop_when)
    return returncode, time.monotonic() - started


def run_process(command: list[str], log_path: Path, timeout: float,
                stop_when: Callable[[], bool] | None = None) -> int | None:
    """Run `command` in its own process group, output to `log_path`; its exit code, or None when it was stopped:
    at the timeout, or once `stop_when()` (asked every POLL_EVERY s) is true."""
    deadline = time.monotonic() + timeout
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while True:
                try:
                    return process.wait(timeout=max(0.0, min(POLL_EVERY, deadline - time.monotonic())))
                except subprocess.TimeoutExpired:
                    if time.monotonic() >= deadline or (stop_when is not None and stop_when()):
                        _stop(process)
                        return None
        except BaseException:  # Ctrl-C here: the lab in the child must still stop
            _stop(process)
            raise


def run_mutant(mutant: Mutant, report_root: Path, *, all_scenarios: bool = False, workers: int = 4,
               timeout: float = RUN_TIMEOUT, scenarios: Path = SCENARIOS, out: TextIO | None = None,
               builder: Callable[[Mutant], Built] | None = None, stop: threading.Event | None = None) -> Outcome:
    """Build `mutant` and run its scenarios until the first deviation; `stop` set (Ctrl-C while mutants run in
    parallel) ends the run early: a run error unless a scenario had deviated already."""
    out = out or sys.stderr
    keyword = None if all_scenarios or not mutant.owner else mutant.owner  # "": every scenario (generated)
    selected = collect(keyword, scenarios)
    if not selected:
        return Outcome(mutant, SURVIVED, detail=f"no scenario matches -k {mutant.owner!r}; needs: {mutant.needs}")
    try:
        built = (builder or build)(mutant)
    except (PatchDoesNotApply, BuildFailed) as error:
        print(f"certchaos mutants: {error}", file=out, flush=True)
        return Outcome(mutant, NOT_BUILT, selected, detail=str(error))
    # Named by patch hash, not name: the lab puts unix sockets under it, and a socket path may not exceed
    # 108 bytes (a long mutant name made socat refuse the webhook's bridge).
    run_dir = report_root / mutant.patch_hash[:8]
    outcome = Outcome(mutant, SURVIVED, selected, build_seconds=built.seconds, build_cached=built.cached,
                      report_dir=str(run_dir))
    print(f"mutant {mutant.name}: running {len(selected)} scenario(s) (-k {keyword or '<all>'}), report in {run_dir}",
          file=out, flush=True)
    returncode, outcome.run_seconds = run_scenarios(built.bin_dir, keyword, run_dir, workers=workers,
                                                    timeout=timeout, scenarios=scenarios, until_deviated=True,
                                                    stop=stop)
    if returncode is None:
        outcome.status, outcome.killed_by, outcome.detail = classify_stopped(run_dir, timeout)
        if stop is not None and stop.is_set() and outcome.status != KILLED:
            outcome.status, outcome.detail = RUN_ERROR, "interrupted before a verdict"
        return outcome
    outcome.status, outcome.killed_by, outcome.detail = classify(returncode, run_dir)
    if outcome.status == SURVIVED:
        outcome.detail = f"needs: {mutant.needs}"
    elif outcome.status == RUN_ERROR:
        outcome.detail += f" ({run_dir / 'run.log'})"
    return outcome
