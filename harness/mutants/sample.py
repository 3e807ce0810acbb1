"""A seeded sample of generated mutants, the check that each applies, and the hand classification of survivors.

Running all ~1000 generated mutants against the catalogue would take weeks on two cores (~20 min each), so a
random sample estimates the score instead; the same seed and source give the same sample, so a finding can
be re-run. Given a coverage run of the catalogue (`certchaos coverage run`), a mutant none of whose lines the
catalogue executed survives without being built or run (PIT's "no coverage"): it cannot be killed, and its
run would cost ~20 min; the others run only against the scenarios the run attributed their lines to
(attribution.py), as mutation tools select tests by coverage. Otherwise a survivor is a finding only once
someone has looked at it: the tool cannot tell a line executed without a check (a hole) from one whose mutant
changes nothing observable (equivalent); survivors.toml holds what a person decided.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import HarnessError
from harness.mutants import patch
from harness.mutants.attribution import ScenarioMap, keyword
from harness.mutants.coverage import Profile
from harness.mutants.generate import Candidate
from harness.mutants.runner import KILLED, Outcome, scenario_id

SURVIVORS = Path(__file__).resolve().parent / "survivors.toml"
CLASSES = ("equivalent", "hole", "not-executed")
UNCLASSIFIED = ("unclassified: not executed by the catalogue, or executed without a check that fails (a hole); "
                "which one is unknown without coverage data. Fix: look, then record it in {file}")


def draw(candidates: list[Candidate], seed: int, count: int, equivalent: frozenset[str] = frozenset()
         ) -> list[Candidate]:
    """`count` candidates drawn with random.Random(seed), listed in source order; the same inputs, the same draw.
    Those named in `equivalent` (shown by hand to change nothing observable) do not count: each one drawn stays
    in the list (reported, not scored) and the same generator draws one more, so the sample keeps every earlier
    pick and only grows."""
    ordered = sorted(candidates, key=lambda c: (c.file, c.line, c.mutant.name))  # not the --packages order
    eligible = sum(c.mutant.name not in equivalent for c in ordered)
    if not 1 <= count <= eligible:
        raise HarnessError(f"--count {count}: there are {eligible} generated mutants in the packages chosen, not "
                           f"counting those shown equivalent. Fix: give a count from 1 to {eligible}")
    generator = random.Random(seed)
    chosen = set(generator.sample(range(len(ordered)), count))
    while sum(ordered[index].mutant.name not in equivalent for index in chosen) < count:
        chosen.add(generator.randrange(len(ordered)))
    return [ordered[index] for index in sorted(chosen)]


def check_applies(candidate: Candidate, source: Path) -> str | None:
    """None when the mutant's edits apply exactly once to a copy of its files; else why not."""
    with tempfile.TemporaryDirectory(prefix="mutant-apply-") as scratch:
        copy = Path(scratch)
        for file in candidate.mutant.files:
            if (source / file).is_file():
                (copy / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / file, copy / file)
        try:
            patch.apply(candidate.mutant, copy)
        except patch.PatchDoesNotApply as error:
            return str(error)
    return None


@dataclass(frozen=True)
class Classification:
    name: str
    kind: str  # one of CLASSES
    why: str

    def __str__(self) -> str:
        return f"{self.kind} (by hand: {self.why})"


def load_classes(path: Path = SURVIVORS, known: set[str] | None = None) -> dict[str, Classification]:
    """The hand classifications by mutant name (none when the file is absent); HarnessError naming a bad entry."""
    if not path.is_file():
        return {}
    with open(path, "rb") as handle:
        try:
            entries = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise HarnessError(f"{path}: not valid TOML ({error}). Fix: one [<mutant name>] table per survivor")
    classes = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict) or entry.get("class") not in CLASSES or not entry.get("why"):
            raise HarnessError(f"{path}: [{name}] needs class = one of {', '.join(CLASSES)} and a why. Fix: e.g. "
                               f"class = \"equivalent\", why = \"the timeout is never reached in a run\"")
        if known is not None and name not in known:
            raise HarnessError(f"{path}: [{name}] names no generated mutant of the pinned source. Fix: remove it, "
                               f"or rename it after `certchaos mutants sample --dry-run` (lines move between "
                               f"versions)")
        classes[name] = Classification(name, entry["class"], entry["why"])
    return classes


def survivor_notes(names: list[str], classes: dict[str, Classification], path: Path = SURVIVORS,
                   not_executed: dict[str, str] | None = None) -> dict[str, str]:
    """What the report says of each survivor: the hand classification, else what coverage showed (not_executed:
    why, by name), else that the tool cannot know."""
    automatic = {name: f"not-executed (by coverage: {why})" for name, why in (not_executed or {}).items()}
    return {name: str(classes[name]) if name in classes else automatic.get(name, UNCLASSIFIED.format(file=path))
            for name in names}


def load_coverage(folder: Path, source: str) -> Profile:
    """The profile (cov.txt) of a `certchaos coverage run` report directory whose coverage.json is of `source`
    (the module and version the mutants are made of); HarnessError with the fix otherwise."""
    fix = "Fix: pass the report directory of `certchaos coverage run` on the pinned cert-manager"
    try:
        measured = json.loads((folder / "coverage.json").read_text())["source"]
        profile = Profile.load(folder / "cov.txt")
    except (OSError, ValueError, KeyError) as error:
        raise HarnessError(f"--coverage {folder}: not a coverage report directory ({error}). {fix}") from None
    if measured != source:
        raise HarnessError(f"--coverage {folder}: it measured {measured}, the mutants are made of {source}. {fix}")
    return profile


def lines(candidate: Candidate, source: Path | None = None) -> list[int]:
    """The lines whose execution evaluates what the mutant changes: its own lines, and for a switch case's
    expression the `switch` line too. Go's coverage counts a case clause from its colon on, so the case line
    shows only whether that case's body ran; its expression is evaluated whenever the switch is reached
    (unless an earlier case matched), which the enclosing block's count on the `switch` line shows."""
    own = list(range(candidate.line, candidate.line + len(candidate.original.strip("\n").splitlines())))
    first = candidate.original.lstrip("\n").splitlines()[0] if candidate.original.strip() else ""
    if source is None or not first.lstrip().startswith("case "):
        return own
    text = (source / candidate.file).read_text().splitlines()
    indent = first[:len(first) - len(first.lstrip())]
    for number in range(candidate.line - 1, 0, -1):  # gofmt puts `case` at its switch's indentation
        line = text[number - 1]
        if line.startswith(indent) and line[len(indent):].startswith(("switch", "select")):
            return [number, *own]
    return own


def unexecuted(candidate: Candidate, profile: Profile, source: Path | None = None) -> bool:
    """Whether the coverage run executed none of the statements on the mutant's lines (`lines`). A line no
    statement touches (None) proves nothing either way, so a mutant whose lines are all like that is still run."""
    seen = {profile.executed(candidate.file, line) for line in lines(candidate, source)}
    return False in seen and True not in seen


def owned(candidate: Candidate, scenarios: ScenarioMap, catalogue: set[str],
          source: Path | None = None) -> tuple[Candidate, list[str]]:
    """The candidate owned by the scenarios the coverage run attributed its lines to (those the catalogue still
    has: `catalogue` is what `runner.collect` finds now), and them; unchanged with [] when there are none (its
    lines grew only while no scenario ran, at the lab's start, or in no snapshot): the whole catalogue owns it."""
    found = sorted(scenarios.scenarios(candidate.file, lines(candidate, source)) & catalogue)
    if not found:
        return candidate, []
    return replace(candidate, mutant=replace(candidate.mutant, owner=keyword(found))), found


def estimate(scenarios: list[str], seconds: dict[str, float], workers: int) -> float:
    """Seconds a run of `scenarios` takes by their measured durations (`seconds`: node id -> seconds, as
    order.measured_seconds gives them; one not measured counts as the longest): the longest scenario's, or their
    sum shared by the workers if that is more."""
    measured = {scenario_id(node): value for node, value in seconds.items()}
    longest = max(measured.values(), default=0.0)
    each = [measured.get(scenario_id(node), longest) for node in scenarios]
    return max(max(each, default=0.0), sum(each) / workers)


def resumed(report: Path, drawn: list[Candidate], runs_against: dict[str, list[str]], catalogue: set[str]
            ) -> dict[str, Outcome]:
    """The outcomes of an earlier run of this sample (its report dir's report.json) that still hold, by name: a
    kill, while the catalogue still has its killers; any other verdict, while the mutant (same patch) would run
    against exactly the scenarios it ran (`runs_against`: name -> scenarios now). Scenarios added since, or a
    new coverage map that gives a survivor more scenarios, make it run again."""
    try:
        earlier = {entry["name"]: entry for entry in json.loads((report / "report.json").read_text())["mutants"]}
    except (OSError, ValueError, KeyError) as error:
        raise HarnessError(f"--resume {report}: not a mutants report dir ({error}). Fix: give the --report-dir of "
                           f"an earlier `certchaos mutants sample`") from None
    kept = {}
    for candidate in drawn:
        entry = earlier.get(candidate.mutant.name)
        if not entry or entry.get("patch_hash") != candidate.mutant.patch_hash or entry.get("run_seconds") is None:
            continue
        holds = (set(entry["killed_by"]) <= catalogue if entry["status"] == KILLED else
                 sorted(entry["scenarios"]) == sorted(runs_against.get(candidate.mutant.name, [])))
        if holds:
            kept[candidate.mutant.name] = Outcome(
                candidate.mutant, entry["status"], entry["scenarios"], entry["killed_by"],
                f"{entry['detail']} (kept from {report})".strip(), entry["build_seconds"], entry["build_cached"],
                entry["run_seconds"], entry["report_dir"])
    return kept

