"""Combinators every condition is built from: observe (fetch, test, view), not_, all_of, holds_throughout."""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

from harness.wait import Condition, Seen

T = TypeVar("T")


def observe(fetch: Callable[[], T], holds: Callable[[T], bool], view: Callable[[T], Any]) -> Condition:
    """The root of all conditions: fetch once, report whether it holds and the compact view of it."""

    def condition() -> Seen:
        found = fetch()
        return Seen(bool(holds(found)), view(found))

    return condition


def not_(condition: Condition) -> Condition:
    """Holds when `condition` does not; shows what it saw."""
    def negated() -> Seen:
        seen = condition()
        return Seen(not seen.ok, seen.state)
    return negated


def all_of(*conditions: Condition) -> Condition:
    """Holds when every condition holds; shows what each saw (all are evaluated, so the view is whole)."""

    def condition() -> Seen:
        seen = [c() for c in conditions]
        return Seen(all(s.ok for s in seen), [s.state for s in seen])

    return condition


def holds_throughout(condition: Condition, seconds: float, clock: Callable[[], float] = time.monotonic) -> Condition:
    """`condition` has held at every poll for `seconds` (a "nothing happens" expectation: no new attempt
    before the backoff). A poll where it fails restarts the window, so an expectation with a deadline
    fails if the window never completes."""
    since: list[float] = []

    def throughout() -> Seen:
        seen = condition()
        now = clock()
        if not seen.ok:
            since.clear()
            return Seen(False, {"broken": seen.state})
        if not since:
            since.append(now)
        held = now - since[0]
        return Seen(held >= seconds, {"held_for": round(held, 1), "state": seen.state})

    return throughout
