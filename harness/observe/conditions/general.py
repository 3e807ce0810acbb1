"""Combinators every condition is built from: observe (fetch, test, view), not_, all_of, holds_throughout,
holds_until."""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

from harness.wait import Condition, Hopeless, Seen

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
    """`condition` holds at every poll for `seconds` (a "nothing happens" expectation: no new attempt
    before the backoff, still Ready while the renewal is stuck). The first sample that fails, or raises,
    breaks the promise for good: it raises Hopeless with what was seen, so the expectation fails at once
    instead of restarting the window (a flicker to Ready=False must not pass)."""
    since: list[float] = []
    broken: list[str] = []  # sticky: once broken, every later poll is hopeless too

    def throughout() -> Seen:
        if broken:
            raise Hopeless(broken[0])
        now = clock()
        if not since:
            since.append(now)
        held = round(now - since[0], 1)
        try:
            seen = condition()
        except Hopeless:
            raise
        except Exception as error:  # noqa: BLE001 - an unreadable sample is not a sample that held
            broken.append(f"could not look after holding for {held}s: {type(error).__name__}: {error}")
            raise Hopeless(broken[0]) from error
        if not seen.ok:
            broken.append(f"stopped holding after {held}s: {seen.state!r}")
            raise Hopeless(broken[0])
        return Seen(held >= seconds, {"held_for": held, "state": seen.state})

    return throughout


def holds_until(invariant: Condition, goal: Condition) -> Condition:
    """`goal` comes to hold while `invariant` holds at every poll (still Ready while the refusals pile up).
    A failing or raising `invariant` sample raises Hopeless; `goal` is looked at only while it holds."""

    def until() -> Seen:
        kept = holds_throughout(invariant, 0)()  # raises Hopeless when the invariant broke
        seen = goal()
        return Seen(seen.ok, {"goal": seen.state, "invariant": kept.state["state"]})

    return until
