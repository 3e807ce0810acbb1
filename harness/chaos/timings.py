"""cert-manager v1.11's documented timings, which scenario deadlines are built from.

One place, so a scenario says `ISSUANCE` instead of repeating 120 and its comment; each value names where
cert-manager sets it. Deadlines are the behaviour's timing plus a margin for a loaded 2-core CI machine.
"""

from __future__ import annotations

# After the DNS-01 self-check first passes, the challenges controller waits a fixed 60 s before it lets the
# CA validate (pkg/controller/acmechallenges/sync.go: "propagation check ... wait 60 seconds").
DNS01_CHECK_WAIT = 60
# How often the self-check retries while the record is not visible (--dns01-check-retry-period, default 10 s).
DNS01_CHECK_RETRY_PERIOD = 10
# Failures of a Challenge (Present refused, say) are retried by its work queue with per-item exponential
# backoff: 5 s doubling up to 5 min (pkg/controller: DefaultItemBasedRateLimiter).
CHALLENGE_BACKOFF_BASE = 5
CHALLENGE_BACKOFF_MAX = 300
# After a failed issuance the trigger controller waits 1 h * 2^(failedIssuanceAttempts-1), at most 32 h,
# before it tries again (pkg/controller/certificates/trigger: shouldBackoffReissuingOnFailure).
ISSUANCE_BACKOFF_BASE = 3600
ISSUANCE_BACKOFF_MAX = 32 * 3600

# A whole DNS-01 issuance with no fault: present, self-check, the 60 s wait, validation, finalize; ~65 s
# here, the margin covers a loaded CI machine.
ISSUANCE = DNS01_CHECK_WAIT + 60


def issuance_backoff(failed_attempts: int) -> int:
    """Seconds from lastFailureTime to the next issuance attempt after `failed_attempts` failures."""
    if failed_attempts < 1:
        raise ValueError(f"issuance_backoff: failed_attempts must be >= 1, not {failed_attempts}")
    return min(ISSUANCE_BACKOFF_BASE * 2 ** (failed_attempts - 1), ISSUANCE_BACKOFF_MAX)
