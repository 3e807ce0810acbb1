"""A seeded sample of generated mutants, the check that each applies, and the hand classification of survivors.

Running all ~1000 generated mutants against the catalogue would take days on two cores (~10 min each), so a
random sample estimates the score instead; the same seed and source give the same sample, so a finding can
be re-run. A survivor is a finding only once someone has looked at it: without coverage data the tool
cannot tell a line the catalogue never executes from one it executes without checking (a hole), nor see
that a mutant changes nothing observable (equivalent); survivors.toml holds what a person decided.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.mutants import patch
from harness.mutants.generate import Candidate

SURVIVORS = Path(__file__).resolve().parent / "survivors.toml"
CLASSES = ("equivalent", "hole", "not-executed")
UNCLASSIFIED = ("unclassified: not executed by the catalogue, or executed without a check that fails (a hole); "
                "which one is unknown without coverage data. Fix: look, then record it in {file}")


def draw(candidates: list[Candidate], seed: int, count: int) -> list[Candidate]:
    """`count` candidates drawn with random.Random(seed), listed in source order; the same inputs, the same draw."""
    ordered = sorted(candidates, key=lambda c: (c.file, c.line, c.mutant.name))  # not the --packages order
    if not 1 <= count <= len(ordered):
        raise HarnessError(f"--count {count}: there are {len(ordered)} generated mutants in the packages chosen. "
                           f"Fix: give a count from 1 to {len(ordered)}")
    return [ordered[index] for index in sorted(random.Random(seed).sample(range(len(ordered)), count))]


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


def survivor_notes(names: list[str], classes: dict[str, Classification], path: Path = SURVIVORS) -> dict[str, str]:
    """What the report says of each survivor: the hand classification, or that the tool cannot know."""
    return {name: str(classes[name]) if name in classes else UNCLASSIFIED.format(file=path) for name in names}
