"""What an exploration tried and found, for explore.json, summary.md and report.html: each example's schedule and
verdict, the fault pairs that overlapped (covered) out of every pair of the faults explored, the failure and the
scenario it was written to. Each example's timeline is its journal, reported as the scenarios' are."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from harness.explore.faults import EXPLORABLE
from harness.explore.schedule import all_pairs, overlapping_pairs, story

SCHEMA = "certchaos.explore/v1"


def coverage(schedules: list[list], faults: tuple[str, ...]) -> dict[str, Any]:
    """Fault pairs applied at the same time in some schedule (lists of Steps), out of all pairs of `faults`; and
    how often each fault was injected."""
    instant = frozenset(name for name in faults if EXPLORABLE[name].instant)
    covered: set[frozenset[str]] = set()
    injected = {name: 0 for name in faults}
    for steps in schedules:
        covered |= overlapping_pairs(steps, instant)
        for step in steps:
            if step.action == "inject":
                injected[step.fault] = injected.get(step.fault, 0) + 1
    possible = all_pairs(faults)
    return {"pairs_covered": sorted(sorted(p) for p in covered & possible), "pairs_possible": len(possible),
            "pairs_missing": sorted(sorted(p) for p in possible - covered), "injected": injected}


def explore_facts(explorer, replay: Path | None, command: str) -> dict[str, Any]:
    examples = explorer.examples
    smallest = explorer.smallest_failure()
    return {
        "schema": SCHEMA, "command": command, "seed": explorer.seed, "faults": list(explorer.faults),
        "max_steps": explorer.max_steps, "budget_seconds": explorer.budget.seconds,
        "shrink_budget_seconds": explorer.budget.shrink_seconds, "ended": explorer.ended,
        "error": None if explorer.error is None else f"{type(explorer.error).__name__}: {explorer.error}",
        "examples": [{"index": e.index, "namespace": e.namespace, "status": str(e.status), "error": e.error,
                      "seconds": round(e.seconds, 1), "journal": str(e.journal.relative_to(explorer.report_dir)),
                      "steps": [r.to_dict() for r in e.ran]} for e in examples],
        "coverage": coverage([[r.step for r in e.ran] for e in examples], explorer.faults),
        "failures": len(explorer.failures),
        "answered_from_earlier_runs": explorer.judge.answered if explorer.judge else 0,
        "smallest_failure": None if smallest is None else smallest.index,
        "replay": None if replay is None else str(replay),
    }


def markdown(facts: dict[str, Any]) -> str:
    cover = facts["coverage"]
    lines = [f"## Exploration: `{facts['command']}`", "",
             f"Seed {facts['seed']}; faults {', '.join(facts['faults'])}; {len(facts['examples'])} examples "
             f"(schedules) run on the lab, ended: {facts['ended']}; {facts['failures']} failing; "
             f"{facts['answered_from_earlier_runs']} more judged from those runs (while shrinking).", "",
             f"Fault pairs applied together: {len(cover['pairs_covered'])} of {cover['pairs_possible']}: "
             + (", ".join(" + ".join(pair) for pair in cover["pairs_covered"]) or "none"), "",
             "Injections per fault: " + ", ".join(f"{name} {count}" for name, count in cover["injected"].items()), ""]
    if facts["error"]:
        lines += [f"Ended by: `{facts['error'].splitlines()[0]}`", ""]
    if facts["replay"]:
        lines += [f"**Smallest failing schedule: example {facts['smallest_failure']}, written to "
                  f"`{facts['replay']}`** (copy it into scenarios/ to keep it as a regression scenario).", ""]
    lines += ["| example | verdict | steps | seconds | schedule |", "|---|---|---|---|---|"]
    for example in facts["examples"]:
        schedule = "; ".join(_step_text(step) for step in example["steps"])
        lines.append(f"| {example['index']} | {example['status']} | {len(example['steps'])} | {example['seconds']} | "
                     f"{schedule.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def _step_text(step: dict) -> str:
    args = " ".join(str(step[k]) for k in ("certificate", "names", "fault", "seconds") if k in step)
    return f"+{step['started']}s {step['action']} {args}".strip()


def html(facts: dict[str, Any]) -> str:
    cover = facts["coverage"]
    faults = facts["faults"]
    covered = {frozenset(pair) for pair in cover["pairs_covered"]}
    grid = "<table><tr><th></th>" + "".join(f"<th>{escape(f)}</th>" for f in faults) + "</tr>" + "".join(
        f"<tr><th>{escape(a)}</th>" + "".join(
            "<td></td>" if a == b else f"<td>{'&#x2714;' if frozenset((a, b)) in covered else ''}</td>"
            for b in faults) + "</tr>" for a in faults) + "</table>"
    rows = "".join(
        f"<tr><td>{e['index']}</td><td>{escape(e['status'])}</td><td>{e['seconds']}</td><td><pre>"
        + escape("\n".join(_step_text(step) for step in e["steps"])) + "</pre></td></tr>" for e in facts["examples"])
    replay = (f"<p><b>Smallest failing schedule: example {facts['smallest_failure']}, written to "
              f"<code>{escape(facts['replay'])}</code></b></p>") if facts["replay"] else ""
    return (f"<h2>Exploration: <code>{escape(facts['command'])}</code></h2>"
            f"<p>Seed {facts['seed']}; {len(facts['examples'])} examples; ended: {escape(facts['ended'])}; "
            f"{facts['failures']} failing.</p>{replay}"
            f"<h3>Fault pairs applied together ({len(cover['pairs_covered'])} of {cover['pairs_possible']})</h3>{grid}"
            f"<h3>Schedules</h3><table><tr><th>example</th><th>verdict</th><th>seconds</th><th>steps</th></tr>"
            f"{rows}</table>")


def schedules_text(explorer) -> str:
    """Each example's schedule as it ran, for the terminal."""
    return "\n".join(f"example {e.index} ({e.status}):\n{story(e.ran)}" for e in explorer.examples)
