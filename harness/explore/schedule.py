"""A schedule: the steps one explored example ran, as data. Pure: what the machine draws, what a replayable
scenario holds, what the report counts (fault pairs that overlapped) and what the liveness bound is made from.

A Step's repr is valid Python (`Step('inject', fault='ca-outage')`), so a schedule prints as the program that
replays it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields
from typing import Iterable

CREATE, CHANGE, RENEW, INJECT, REVERT, WAIT = "create", "change", "renew", "inject", "revert", "wait"
ACTIONS = (CREATE, CHANGE, RENEW, INJECT, REVERT, WAIT)


@dataclass(frozen=True)
class Step:
    """One action: create or change Certificate `certificate` to `names` DNS names, renew it, inject or revert
    the explorable fault `fault`, or wait `seconds` while the Certificates are watched."""

    action: str
    certificate: str | None = None
    names: int | None = None
    fault: str | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        needs = {CREATE: ("certificate", "names"), CHANGE: ("certificate", "names"), RENEW: ("certificate",),
                 INJECT: ("fault",), REVERT: ("fault",), WAIT: ("seconds",)}
        if self.action not in needs:
            raise ValueError(f"Step action {self.action!r}: one of {', '.join(ACTIONS)}")
        given = {f.name for f in fields(self) if f.name != "action" and getattr(self, f.name) is not None}
        if given != set(needs[self.action]):
            raise ValueError(f"Step({self.action!r}) takes {', '.join(needs[self.action])}, not {sorted(given)}")

    def __repr__(self) -> str:
        shown = [repr(self.action)] + [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                                       if f.name != "action" and getattr(self, f.name) is not None]
        return f"Step({', '.join(shown)})"

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "Step":
        return cls(**data)


@dataclass(frozen=True)
class Ran:
    """A step as it ran: its offsets in the example's journal (seconds)."""

    step: Step
    started: float
    ended: float

    def to_dict(self) -> dict:
        return {**self.step.to_dict(), "started": round(self.started, 1), "ended": round(self.ended, 1)}


def applied_after(steps: Iterable[Step], instant: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The faults still applied after `steps`, in the order applied (an instant fault is over at once)."""
    applied: list[str] = []
    for step in steps:
        if step.action == INJECT and step.fault not in instant and step.fault not in applied:
            applied.append(step.fault)
        elif step.action == REVERT and step.fault in applied:
            applied.remove(step.fault)
    return tuple(applied)


def overlapping_pairs(steps: Iterable[Step], instant: frozenset[str] = frozenset()) -> set[frozenset[str]]:
    """Pairs of distinct faults that were applied at the same time (an instant fault injected while another
    is applied counts), in any order."""
    pairs: set[frozenset[str]] = set()
    applied: list[str] = []
    for step in steps:
        if step.action == INJECT:
            pairs |= {frozenset((step.fault, other)) for other in applied if other != step.fault}
            if step.fault not in instant and step.fault not in applied:
                applied.append(step.fault)
        elif step.action == REVERT and step.fault in applied:
            applied.remove(step.fault)
    return pairs


def all_pairs(names: Iterable[str]) -> set[frozenset[str]]:
    return {frozenset(pair) for pair in itertools.combinations(sorted(set(names)), 2)}


def faulted_span(ran: Iterable[Ran], instant: frozenset[str] = frozenset()) -> float:
    """Seconds from the first fault applied to the last one reverted (0 without a fault): how long
    cert-manager's retries may have been backing off, which bounds how far their next attempt is."""
    starts = [r.started for r in ran if r.step.action == INJECT]
    ends = [r.ended for r in ran if r.step.action in (INJECT, REVERT)]
    return max(ends) - min(starts) if starts else 0.0


def story(ran: Iterable[Ran]) -> str:
    """The schedule as it ran, one line a step: `+12.3s  Step('inject', fault='ca-outage')`."""
    return "\n".join(f"+{r.started:7.1f}s  {r.step!r}" for r in ran)


@dataclass
class Model:
    """What a schedule has made so far, as the machine's preconditions and draws see it: the Certificates (name ->
    DNS name count) and the faults applied. `instant` faults are over within their step; `blocking` ones reject the
    namespace's writes while applied."""

    faults: tuple[str, ...]
    instant: frozenset[str] = frozenset()
    blocking: frozenset[str] = frozenset()
    certificates: dict[str, int] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)

    def apply(self, step: Step) -> None:
        if step.action in (CREATE, CHANGE):
            self.certificates[step.certificate] = step.names
        elif step.action == INJECT and step.fault not in self.instant and step.fault not in self.applied:
            self.applied.append(step.fault)
        elif step.action == REVERT and step.fault in self.applied:
            self.applied.remove(step.fault)

    @property
    def can_write(self) -> bool:
        """No applied fault rejects the namespace's writes (the webhook is up)."""
        return not set(self.applied) & self.blocking

    def injectable(self) -> list[str]:
        return [name for name in self.faults if name not in self.applied]

    def next_certificate(self) -> str:
        return f"crt-{len(self.certificates)}"
