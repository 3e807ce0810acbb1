"""The one polling loop: wait until a condition holds, or fail saying what was last seen.

A condition is a callable returning a Seen: whether it holds and what it observed. Exceptions raised by
the condition count as "not yet" (an API server still starting refuses connections) and are reported
as the last thing seen when the deadline passes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Seen:
    ok: bool
    state: Any = None

    def __bool__(self) -> bool:
        return self.ok


Condition = Callable[[], Seen]


class Hopeless(Exception):
    """Raised by a condition that can never hold (the process it watches exited): stop waiting now."""


class WaitTimeout(AssertionError):
    """A condition did not hold by its deadline. An AssertionError so pytest shows it as a failed expectation."""

    def __init__(self, subject: str, expected: str, timeout: float, last: Any, polls: int):
        self.subject, self.expected, self.timeout, self.last, self.polls = subject, expected, timeout, last, polls
        super().__init__(
            f"Expected {subject} {expected} within {timeout:g}s, but after {polls} polls it has: {last!r}"
        )


def wait_for(
    condition: Condition,
    *,
    subject: str,
    expected: str,
    timeout: float,
    interval: float = 0.2,
    on_change: Callable[[Any], None] | None = None,
) -> Any:
    """Poll `condition` every `interval` seconds until it holds; return the state it saw.

    `on_change` is called with each observed state that differs from the previous one, so callers
    (the journal) record transitions rather than every poll.
    """
    deadline = time.monotonic() + timeout
    last: Any = "<never polled>"
    previous: Any = object()
    polls = 0
    while True:
        polls += 1
        try:
            seen = condition()
            state = seen.state
            if seen.ok:
                return state
        except Hopeless:
            raise
        except Exception as error:  # noqa: BLE001 - reported as what was seen
            seen, state = None, f"{type(error).__name__}: {error}"
        last = state
        if on_change is not None and state != previous:
            on_change(state)
        previous = state
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(subject, expected, timeout, last, polls)
        time.sleep(min(interval, remaining))
