"""Which scenarios reach each statement block: a coverage run's snapshots attributed in time to the scenarios.

A generated mutant need only run against the scenarios that execute its line, as mutation tools select tests by
coverage; the whole catalogue takes ~20 min per mutant. But the scenarios run in parallel against shared
processes (one controller and one webhook per lab), so no process's counters belong to one scenario. Time does:
each instrumented process snapshots its cumulative counters every FLUSH_EVERY s into a directory of its own
(coverage.FLUSH_GO), so two consecutive snapshots say in which interval each block's counter grew, and a block is
attributed to every scenario whose journal span (started_at..ended_at) overlaps such an interval. An
over-approximation on purpose: a scenario that reaches a statement makes its counter grow while it runs, so it is
never missed (unless a SIGKILL took the process before its next snapshot); the scenarios running beside it then,
and background work (resyncs, leader election), come along.
What grew as a process started and never again (its construction) is given the process's whole life, since it
decides what the process does for every scenario beside it; a block that grew only while no scenario ran
otherwise is attributed to none: its mutants need the whole catalogue.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from harness.errors import HarnessError
from harness.mutants.coverage import (FLUSH_EVERY, GOCOVERDIR, PACKAGES, TOOL_TIMEOUT, full_path, parse_textfmt,
                                      process_dirs, relative_path, written_by)
from harness.mutants.runner import scenario_id

SCENARIOS_JSON = "scenarios.json"
SCHEMA = "certchaos.coverage-scenarios/v1"
# Seconds added to either end of a growth interval: a snapshot is named by the time before its counters are read,
# and a process's first interval begins when its main package's init ran, after its dependencies' inits.
MARGIN = 1.0
# A live process snapshots every FLUSH_EVERY s, so its exit-time write follows its last snapshot by less than that;
# twice, for ticks late on a loaded machine.
EXIT_WITHIN = 2 * FLUSH_EVERY
READERS = 2  # `covdata textfmt` calls at once (~30 ms each): the machine's two cores

_IDENT = re.compile(r"[\w:+\-.\[\]\\/]+")  # what a -k name may hold (pytest's expression grammar)
Interval = tuple[float, float]  # (begin, end] in Unix seconds
Counts = dict[str, int]  # block ("file:startLine.startCol,endLine.endCol", module-relative) -> cumulative count


@dataclass(frozen=True)
class Span:
    """A scenario's time in the run, from its journal."""

    scenario: str  # "test_x.py::test_y[param]", as runner.collect names it
    started: float
    ended: float


@dataclass(frozen=True)
class Process:
    """One instrumented process's counters: its start, its snapshots by time (the last may be its exit-time write)."""

    started: float
    meta: Path
    snapshots: tuple[Path, ...]


def unix_seconds(nanoseconds: str) -> float:
    return int(nanoseconds) / 1e9


def snapshot_time(path: Path) -> float:
    """When a counters file was written: covcounters.<meta hash>.<pid>.<Unix ns>."""
    return unix_seconds(path.name.rsplit(".", 1)[1])


def journal_spans(run_dir: Path) -> list[Span]:
    """Each scenario that ran (has a journal) with its span; a journal never finished ends at its last entry."""
    spans = []
    for path in sorted(run_dir.glob("*/journal.json")):
        try:
            journal = json.loads(path.read_text())
            started = float(journal["started_at"])
            ended = journal.get("ended_at") or max([started, *(entry["at"] for entry in journal["entries"])])
            spans.append(Span(scenario_id(journal["scenario"]["node_id"]), started, float(ended)))
        except (ValueError, KeyError, TypeError) as error:
            raise HarnessError(f"{path}: not a scenario journal ({type(error).__name__}: {error}), so no scenario can "
                               f"be attributed its time. Fix: move it out of {run_dir} and run `certchaos coverage "
                               f"report` again (that scenario is then attributed nothing)") from None
    return spans


def find_processes(counters: Path) -> list[Process]:
    """The processes that lived to a snapshot, by start. Each gets its exit-time write (in GOCOVERDIR itself,
    named by binary and pid like its snapshots) when exactly one process of that binary and pid took its last
    snapshot at most EXIT_WITHIN before it: two processes may share a pid (see coverage.PROCESS_DIR), and one
    still alive would have snapshotted after it. An exit-time write left unassigned loses only that process's
    last seconds."""
    found = []
    for folder in process_dirs(counters):
        snapshots = sorted(folder.glob("covcounters.*"), key=snapshot_time)
        metas = sorted(folder.glob("covmeta.*"))
        if snapshots and metas:
            found.append(Process(unix_seconds(folder.name.split(".")[1]), metas[0], tuple(snapshots)))
    for path in counters.glob("covcounters.*"):
        at = snapshot_time(path)
        writers = [index for index, process in enumerate(found) if written_by(process.snapshots[0]) == written_by(path)
                   and 0 <= at - snapshot_time(process.snapshots[-1]) <= EXIT_WITHIN]
        if len(writers) == 1:
            process = found[writers[0]]
            found[writers[0]] = Process(process.started, process.meta, (*process.snapshots, path))
    return found


def growth(started: float, snapshots: Iterable[tuple[float, Counts]]) -> dict[str, list[Interval]]:
    """Per block, the intervals (previous snapshot, this one] in which its cumulative counter grew; the first
    interval begins at the process's start. A block that grew in that first interval alone ran as the process
    started (a controller's construction: which informers and listers it registers) and decides what the process
    does for every scenario beside it, so it is given the process's whole life, to its last snapshot (seen: a
    mutant that drops the challenges controller's ClusterIssuer lister was attributed only to the scenarios that
    restarted the controller). Snapshots in time order."""
    timed = list(snapshots)
    grew: dict[str, list[Interval]] = {}
    previous: Counts = {}
    begin = started
    for at, counts in timed:
        for block, count in counts.items():
            if count > previous.get(block, 0):
                grew.setdefault(block, []).append((begin, at))
        previous, begin = counts, at
    first = timed[0][0] if timed else started
    return {block: [(started, timed[-1][0])] if intervals == [(started, first)] else intervals
            for block, intervals in grew.items()}


def coalesce(intervals: Iterable[Interval], margin: float = MARGIN) -> list[Interval]:
    """The intervals widened by `margin` either side, sorted, overlapping ones joined."""
    joined: list[list[float]] = []
    for begin, end in sorted(intervals):
        if joined and begin - margin <= joined[-1][1]:
            joined[-1][1] = max(joined[-1][1], end + margin)
        else:
            joined.append([begin - margin, end + margin])
    return [(begin, end) for begin, end in joined]


def attribute(grew: dict[str, list[Interval]], spans: list[Span], margin: float = MARGIN) -> dict[str, list[str]]:
    """Per block that grew, the scenarios whose span overlaps an interval in which it grew (sorted); [] when it
    grew only while no scenario ran."""
    attributed = {}
    for block, intervals in grew.items():
        joined = coalesce(intervals, margin)
        ends = [end for _, end in joined]
        found = set()
        for span in spans:
            first = bisect.bisect_right(ends, span.started)  # the first interval ending after the span began
            if first < len(joined) and joined[first][0] < span.ended:
                found.add(span.scenario)
        attributed[block] = sorted(found)
    return attributed


# -- reading the snapshots -------------------------------------------------------------------------------


def covdata_command(go: str) -> list[str]:
    """The covdata tool's own binary when `go tool -n` names one that exists (~30 ms a call instead of ~100)."""
    named = subprocess.run([go, "tool", "-n", "covdata"], capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    path = named.stdout.strip()
    return [path] if named.returncode == 0 and path and os.access(path, os.X_OK) else [go, "tool", "covdata"]


def read_snapshot(command: list[str], meta: Path, snapshot: Path, scratch: Path, packages: str) -> Counts:
    """The counts of one snapshot, from `covdata textfmt` on a directory holding it and its meta-data alone (hard
    links: covdata merges every counters file of a directory)."""
    with tempfile.TemporaryDirectory(dir=scratch) as name:
        folder = Path(name)
        for path in (meta, snapshot):
            try:
                os.link(path, folder / path.name)
            except OSError:  # another file system
                shutil.copyfile(path, folder / path.name)
        output = folder / "snapshot.txt"
        env = {key: value for key, value in os.environ.items() if key != GOCOVERDIR}
        result = subprocess.run([*command, "textfmt", "-i", str(folder), "-pkg", packages, "-o", str(output)],
                                capture_output=True, text=True, env=env, timeout=TOOL_TIMEOUT)
        if result.returncode != 0:
            raise HarnessError(f"reading coverage snapshot {snapshot}: covdata textfmt failed (exit "
                               f"{result.returncode}): {(result.stdout + result.stderr).strip()[-800:]}")
        _, blocks = parse_textfmt(output.read_text())
    return {f"{relative_path(b.file)}:{b.start_line}.{b.start_col},{b.end_line}.{b.end_col}": b.count
            for b in blocks if b.statements}


Reader = Callable[[Process, Path], Counts]


def process_growth(processes: list[Process], read: Reader) -> dict[str, list[Interval]]:
    """Every process's growth intervals together; the snapshots read READERS at a time."""
    grew: dict[str, list[Interval]] = {}
    with ThreadPoolExecutor(READERS) as pool:
        for process in processes:
            counts = pool.map(lambda snapshot, process=process: read(process, snapshot), process.snapshots)
            for block, intervals in growth(process.started, zip(map(snapshot_time, process.snapshots),
                                                                 counts)).items():
                grew.setdefault(block, []).extend(intervals)
    return grew


def measure(go: str, counters: Path, run_dir: Path, report_dir: Path, packages: Iterable[str] = PACKAGES.values(),
            read: Reader | None = None) -> dict:
    """scenarios.json's content: the claimed packages' blocks that grew, each with the scenarios it is attributed
    to (indices into "scenarios")."""
    processes = find_processes(counters)
    spans = journal_spans(run_dir)
    started = time.monotonic()
    if read is None:
        command, listing = covdata_command(go), ",".join(full_path(package) for package in packages)

        def with_covdata(process: Process, snapshot: Path) -> Counts:
            return read_snapshot(command, process.meta, snapshot, report_dir, listing)

        read = with_covdata
    attributed = attribute(process_growth(processes, read), spans)
    names = sorted({span.scenario for span in spans})
    index = {name: number for number, name in enumerate(names)}
    return {
        "schema": SCHEMA, "margin": MARGIN, "flush_every": FLUSH_EVERY, "processes": len(processes),
        "snapshots": sum(len(process.snapshots) for process in processes),
        "read_seconds": round(time.monotonic() - started, 1),
        "scenarios": names, "spans": {span.scenario: [span.started, span.ended] for span in spans},
        "blocks": {block: [index[name] for name in scenarios] for block, scenarios in sorted(attributed.items())},
    }


def summary(measured: dict) -> str:
    """One line on the attribution: how selective it is, what it cost."""
    sizes = sorted(len(scenarios) for scenarios in measured["blocks"].values() if scenarios)
    median = sizes[len(sizes) // 2] if sizes else 0
    return (f"scenarios per block: {len(measured['blocks'])} blocks of the claimed packages grew, {len(sizes)} of them "
            f"while scenarios ran (median {median} of {len(measured['scenarios'])} scenarios each); "
            f"{measured['snapshots']} snapshots of {measured['processes']} processes read in "
            f"{measured['read_seconds']:.0f} s")


def write(measured: dict, report_dir: Path) -> Path:
    path = report_dir / SCENARIOS_JSON
    path.write_text(json.dumps(measured, indent=1) + "\n")
    return path


# -- the mutants' side ------------------------------------------------------------------------------------


class ScenarioMap:
    """scenarios.json, indexed by file: which scenarios a line's blocks were attributed to."""

    def __init__(self, measured: dict):
        names = measured["scenarios"]
        self._by_file: dict[str, list[tuple[int, int, tuple[str, ...]]]] = {}
        for block, indices in measured["blocks"].items():
            file, position = block.rsplit(":", 1)
            start, end = position.split(",")
            self._by_file.setdefault(file, []).append(
                (int(start.split(".")[0]), int(end.split(".")[0]), tuple(names[i] for i in indices)))

    @classmethod
    def load(cls, folder: Path) -> ScenarioMap | None:
        """The map of a coverage report directory; None when it has none (a run from before the attribution)."""
        path = folder / SCENARIOS_JSON
        if not path.is_file():
            return None
        try:
            measured = json.loads(path.read_text())
            if measured.get("schema") != SCHEMA:
                raise ValueError(f"schema {measured.get('schema')!r}, not {SCHEMA}")
            return cls(measured)
        except (ValueError, KeyError, IndexError, AttributeError, TypeError) as error:
            raise HarnessError(f"{path}: not a scenario attribution ({error}). Fix: `certchaos coverage report "
                               f"{folder}` writes it again") from None

    def scenarios(self, file: str, lines: Iterable[int]) -> set[str]:
        """The scenarios attributed to any block touching `lines` of `file` (module-relative); empty when the
        blocks grew only while no scenario ran, or never grew in a snapshot (an exit-time write alone)."""
        wanted = set(lines)
        return {name for first, last, names in self._by_file.get(relative_path(full_path(file)), ())
                if any(first <= line <= last for line in wanted) for name in names}


def keyword(scenarios: Iterable[str]) -> str:
    """A pytest -k expression that selects these scenarios ("test_x.py::test_y[param]", at least one), perhaps more
    but never fewer. -k matches case-insensitive substrings of an item's names (its module's file name, a class's,
    its own with the parameters), so a test whose name holds another's brings that one along, and a parameter -k
    cannot spell (a space, "=", ...) stands for every parameter of its test."""
    by_module: dict[str, list[str]] = {}
    for scenario in sorted(scenarios):
        path, bracket, parameters = scenario.partition("[")  # a parameter may hold "::"
        module, *names = path.split("::")
        names[-1:] = [name + bracket + parameters for name in names[-1:]]
        if not names or not _IDENT.fullmatch(module) or not all(map(_IDENT.fullmatch, names[:-1])):
            raise ValueError(f"{scenario!r} is not a scenario id (test_x.py::test_y[param]) -k can spell")
        if not _IDENT.fullmatch(names[-1]):
            names[-1] = names[-1].split("[", 1)[0]
        by_module.setdefault(module, []).append(names[0] if len(names) == 1 else f"({' and '.join(names)})")
    if not by_module:
        raise ValueError("no scenarios: an empty -k would select the whole catalogue")
    return " or ".join(f"({module} and ({' or '.join(dict.fromkeys(tests))}))" for module, tests in by_module.items())
