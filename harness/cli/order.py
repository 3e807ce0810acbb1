"""Longest scenario first (shortest first for a run that stops at its first deviation): a catalogue cannot end
before its longest scenario, so that one must start at once, and nothing may queue behind it on its worker.
Seconds come from the catalogue's measured durations (scenarios/durations.toml, per provider, written by
benchmarks/catalogue.py --record); a scenario not measured yet counts as the longest.

pytest-xdist's load scheduler hands each worker two tests before the first ends (it needs the next item to
tear down), so the second slot of each worker is placed on purpose: with fewer than 2 x workers tests worker i
gets tests i and i + workers; with more, tests 2i and 2i + 1, then the rest as workers free up."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

DURATIONS = Path(__file__).resolve().parents[2] / "scenarios" / "durations.toml"


def measured_seconds(provider: str, path: Path = DURATIONS) -> dict[str, float]:
    """Node id -> seconds of the last measured run on `provider`; empty when none was recorded."""
    try:
        return {node: float(seconds) for node, seconds in tomllib.loads(path.read_text()).get(provider, {}).items()}
    except FileNotFoundError:
        return {}


def longest_first(node_ids: list[str], seconds: dict[str, float], workers: int) -> list[str]:
    """`node_ids` in the order that starts each worker on one of the longest and pairs it with one of the
    shortest."""
    ranked = sorted(node_ids, key=lambda node: -seconds.get(node, math.inf))  # stable: ties keep their order
    if len(ranked) <= workers:
        return ranked
    firsts = ranked[:workers]
    rest = ranked[workers:][::-1]  # shortest first: they share a worker with the longest
    if len(ranked) < 2 * workers:
        return firsts + rest
    seconds_slots, later = rest[:workers], rest[workers:][::-1]  # the others longest first, as workers free up
    return [node for pair in zip(firsts, seconds_slots) for node in pair] + later


def shortest_first(node_ids: list[str], seconds: dict[str, float]) -> list[str]:
    """`node_ids` shortest first, unmeasured last: for a run that ends at its first deviation (a mutant's), the
    cheap verdicts come first."""
    return sorted(node_ids, key=lambda node: seconds.get(node, math.inf))  # stable: ties keep their order


def exclusive_lab_share(batch: list[str], exclusive: list[str], seconds: dict[str, float], workers: int,
                        exclusive_start: float) -> list[str]:
    """The batch scenarios the exclusive scenarios' lab runs after them, one at a time, longest first: that lab
    sits idle once its own are done, while the batch's workers still have work queued. Planned as longest-first
    list scheduling over the batch's `workers` lanes (free from 0) and that lab's one lane (free once it started,
    `exclusive_start` seconds from now, and ran its exclusive scenarios): each scenario goes to the lane that frees
    up first. Unmeasured scenarios stay in the batch (counted as the longest measured), and nothing is shared
    when an exclusive scenario is unmeasured (its lane's end is unknown)."""
    if not exclusive or not workers or any(node not in seconds for node in exclusive):
        return []
    own = exclusive_start + sum(seconds[node] for node in exclusive)
    lanes = [0.0] * workers
    longest = max(seconds.values())
    for _ in (node for node in batch if node not in seconds):
        lanes[lanes.index(min(lanes))] += longest
    share = []
    for node in sorted((node for node in batch if node in seconds), key=lambda node: -seconds[node]):
        first = lanes.index(min(lanes))
        if own < lanes[first]:
            share.append(node)
            own += seconds[node]
        else:
            lanes[first] += seconds[node]
    return share


def record(provider: str, seconds: dict[str, float], path: Path = DURATIONS) -> None:
    """Replace `provider`'s table in the durations file with `seconds`, keeping the other providers'."""
    tables = tomllib.loads(path.read_text()) if path.exists() else {}
    tables[provider] = seconds
    lines = ["# Seconds each scenario took in a whole-catalogue run, per provider: `certchaos run` starts the",
             "# longest first (harness/cli/order.py). Rewritten by `python benchmarks/catalogue.py --record`."]
    for name in sorted(tables):
        lines += ["", f"[{name}]"]
        lines += [f'"{node}" = {value:.0f}' for node, value in sorted(tables[name].items())]
    path.write_text("\n".join(lines) + "\n")
