"""The liveness bound: once every fault is reverted, how long a correct cert-manager may take to have every
Certificate Ready with a valid certificate, from its documented waits and backoffs (harness.stack.timings).

A failed Present or ACME request is retried by its work queue with per-item exponential backoff (the
challenges queue 5 s doubling to 30 min, the other controllers' 5 s to 5 min). While every attempt fails for
a span S, each delay is at most the sum of those before it plus the base, so the retry pending when the faults
end is at most S + base away (capped by the queue's maximum). Then one whole issuance (ISSUANCE), plus a
controller takeover (the Lease's expiry) if the controller was killed. A failed issuance is different: the
trigger controller waits 1 h * 2^(n-1) (issuance_backoff); that wait is documented, not observed here, so the
exploration declares it elapsed (backdate_last_failure) and then allows one issuance more.
"""

from __future__ import annotations

from harness.stack.timings import (
    CHALLENGE_BACKOFF_BASE, CHALLENGE_BACKOFF_MAX, CONTROLLER_TAKEOVER, ISSUANCE, QUEUE_BACKOFF_BASE,
    QUEUE_BACKOFF_MAX,
)

# The certificates' own controllers requeue after the issuing one finishes, and the readiness controller
# writes Ready within a second; 30 s is the margin for a loaded 2-core machine running 4 engineers' work.
MARGIN = 30


def pending_retry(faulted_seconds: float) -> float:
    """The furthest a backed-off retry can be once faults that lasted `faulted_seconds` are over."""
    challenge = min(faulted_seconds + CHALLENGE_BACKOFF_BASE, CHALLENGE_BACKOFF_MAX)
    queue = min(faulted_seconds + QUEUE_BACKOFF_BASE, QUEUE_BACKOFF_MAX)
    return max(challenge, queue) if faulted_seconds > 0 else 0.0


def liveness_bound(faulted_seconds: float, controller_restarts: int = 0) -> float:
    """Seconds from the last revert within which every Certificate must be Ready and done issuing (a failed
    issuance's backoff aside: see the module docstring)."""
    if faulted_seconds < 0 or controller_restarts < 0:
        raise ValueError("liveness_bound: the faulted span and the restarts are never negative")
    return pending_retry(faulted_seconds) + ISSUANCE + (CONTROLLER_TAKEOVER if controller_restarts else 0) + MARGIN
