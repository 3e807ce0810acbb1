"""The mutation report, PIT/mutmut style: score, killers, survivors, timeouts, not built; Markdown + JSON."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness.mutants.catalogue import Mutant
from harness.mutants.runner import EQUIVALENT, KILLED, NOT_BUILT, RUN_ERROR, STATUSES, SURVIVED, TIMED_OUT, Outcome

SCHEMA = "certchaos.mutants/v1"


@dataclass(frozen=True)
class Score:
    killed: int
    total: int
    not_built: int
    equivalent: int = 0

    @property
    def denominator(self) -> int:
        return self.total - self.not_built - self.equivalent

    @property
    def value(self) -> float | None:
        """killed / (total - not built - equivalent); None when nothing was built (no score, rather than 0 or 100 %)."""
        return self.killed / self.denominator if self.denominator else None

    def __str__(self) -> str:
        if self.value is None:
            return f"n/a (0 of {self.total} mutants built and not equivalent)"
        equivalent = f" - {self.equivalent} equivalent" if self.equivalent else ""
        return (f"{self.value:.0%} ({self.killed} killed / ({self.total} total - {self.not_built} not built"
                f"{equivalent}))")


def score(outcomes: list[Outcome]) -> Score:
    counts = Counter(outcome.status for outcome in outcomes)
    return Score(killed=counts[KILLED], total=len(outcomes), not_built=counts[NOT_BUILT],
                 equivalent=counts[EQUIVALENT])


def _seconds(value: float | None) -> str | None:
    return None if value is None else round(value, 1)


def _owner(mutant: Mutant) -> str:
    """How the owning scenarios are chosen: a -k expression, or the whole catalogue (generated mutants)."""
    return f"owner -k `{mutant.owner}`" if mutant.owner else "owner: the whole catalogue"


def to_json(outcomes: list[Outcome], *, started_at: str, seconds: float, source: str, sample: dict | None = None,
            notes: dict[str, str] | None = None) -> dict:
    result = score(outcomes)
    counts = Counter(outcome.status for outcome in outcomes)
    return {
        "schema": SCHEMA, "source": source, "started_at": started_at, "seconds": round(seconds, 1),
        **({"sample": sample} if sample else {}),
        "score": None if result.value is None else round(result.value, 4),
        "counts": {status: counts[status] for status in STATUSES} | {"total": len(outcomes)},
        "mutants": [{
            "name": o.mutant.name, "behaviour": o.mutant.behaviour, "owner": o.mutant.owner or None,
            "files": list(o.mutant.files), "binaries": list(o.mutant.binaries), "patch_hash": o.mutant.patch_hash,
            "status": o.status, "scenarios": o.scenarios, "killed_by": o.killed_by, "detail": o.detail,
            "build_seconds": _seconds(o.build_seconds), "build_cached": o.build_cached,
            "run_seconds": _seconds(o.run_seconds), "report_dir": o.report_dir,
            **({"survivor": notes.get(o.mutant.name)} if o.status in (SURVIVED, TIMED_OUT) and notes else {}),
        } for o in outcomes],
    }


def _value(value: object) -> str:
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"


def _time(o: Outcome) -> str:
    build = "cached" if o.build_cached else (f"{o.build_seconds:.0f}s" if o.build_seconds is not None else "-")
    run = f"{o.run_seconds:.0f}s" if o.run_seconds is not None else "-"
    return f"{build} / {run}"


def to_markdown(outcomes: list[Outcome], *, started_at: str, seconds: float, source: str, sample: dict | None = None,
                notes: dict[str, str] | None = None) -> str:
    by_status = {status: [o for o in outcomes if o.status == status] for status in STATUSES}
    lines = [
        f"# Mutation testing of {source}", "",
        f"Started {started_at}, took {seconds / 60:.1f} min. Mutation score: **{score(outcomes)}**.", "",
        *(["Sample: " + "; ".join(f"{key} {_value(value)}" for key, value in sample.items()), ""] if sample else []),
        f"killed {len(by_status[KILLED])}, survived {len(by_status[SURVIVED])}, timed out "
        f"{len(by_status[TIMED_OUT])}, run errors {len(by_status[RUN_ERROR])}, not built {len(by_status[NOT_BUILT])}"
        + (f", equivalent {len(by_status[EQUIVALENT])}" if by_status[EQUIVALENT] else ""),
        "", _row("mutant", "behaviour", "status", "killed by / why", "build / run"), _row(*["---"] * 5),
    ]
    for o in outcomes:
        lines.append(_row(o.mutant.name, o.mutant.behaviour, o.status,
                          ", ".join(o.killed_by) if o.status == KILLED else o.detail, _time(o)))
    sections = ((SURVIVED, "Survivors (findings: the catalogue does not catch these)"),
                (TIMED_OUT, "Timed out"), (RUN_ERROR, "Run errors (the harness broke: neither killed nor survived)"),
                (NOT_BUILT, "Not built (left out of the score)"),
                (EQUIVALENT, "Equivalent, shown by hand (neither run nor scored; another mutant drawn for each)"))
    for status, title in sections:
        if by_status[status]:
            lines += ["", f"## {title}", ""]
            lines += [f"- `{o.mutant.name}` ({', '.join(o.mutant.files)}; {_owner(o.mutant)}): {o.detail}"
                      + (f"; {notes[o.mutant.name]}" if notes and o.mutant.name in notes else "")
                      for o in by_status[status]]
    return "\n".join(lines) + "\n"


def write(folder: Path, outcomes: list[Outcome], *, started_at: str, seconds: float, source: str,
          sample: dict | None = None, notes: dict[str, str] | None = None) -> str:
    """Write report.md and report.json into `folder`; return the Markdown (the CLI prints it).

    `sample` (seed, count, ...) heads a sampled run's report; `notes` says what each survivor is, by name.
    """
    folder.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(outcomes, started_at=started_at, seconds=seconds, source=source, sample=sample,
                           notes=notes)
    (folder / "report.md").write_text(markdown)
    data = to_json(outcomes, started_at=started_at, seconds=seconds, source=source, sample=sample, notes=notes)
    (folder / "report.json").write_text(json.dumps(data, indent=2) + "\n")
    return markdown
