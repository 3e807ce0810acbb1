"""cert-manager v1.11's documented timings, which scenario deadlines are built from.

One place, so a scenario says `ISSUANCE` instead of repeating 120 and its comment; each value names where
cert-manager sets it. Deadlines are the behaviour's timing plus a margin for a loaded 2-core CI machine.
"""

from __future__ import annotations

# After the DNS-01 self-check first passes, the DNS-01 solver sleeps a fixed 60 s (the record's TTL) inside
# its Check before the challenges controller accepts the challenge at the CA
# (pkg/issuer/acme/dns/dns.go, Solver.Check: `ttl := 60` ... `time.Sleep(time.Second * time.Duration(ttl))`).
DNS01_CHECK_WAIT = 60
# How often the self-check retries while the record is not visible: the challenges controller re-queues the
# Challenge after --dns01-check-retry-period (pkg/controller/acmechallenges/sync.go: queue.AddAfter(key,
# c.DNS01CheckRetryPeriod); default 10 s in cmd/controller/app/options/options.go). Scenarios read the
# running controller's flag (observe.conditions.controller.controller_flag) and fall back to this.
DNS01_CHECK_RETRY_PERIOD = 10
# Failures of a Challenge (Present refused, say) are retried by its own work queue with per-item
# exponential backoff: 5 s doubling up to 30 min (pkg/controller/acmechallenges/controller.go:
# workqueue.NewItemExponentialFailureRateLimiter(time.Second*5, time.Minute*30); not the 5 s..5 min
# DefaultItemBasedRateLimiter of pkg/controller/util.go that other controllers use).
CHALLENGE_BACKOFF_BASE = 5
CHALLENGE_BACKOFF_MAX = 30 * 60
# After a failed issuance the trigger controller waits 1 h * 2^(failedIssuanceAttempts-1), at most 32 h
# (from the 6th failure on), counted from lastFailureTime, before it tries again; a spec that no longer
# matches the failed request skips the wait (pkg/controller/certificates/trigger/trigger_controller.go:
# shouldBackoffReissuingOnFailure, stopIncreaseBackoff = 6, maxDelay = 32 h). It states the time in its log
# at level 2: "Issuance will next be attempted at <time>".
ISSUANCE_BACKOFF_BASE = 3600
ISSUANCE_BACKOFF_MAX = 32 * 3600

# A controller that dies without releasing its Lease is replaced once the Lease expires: the new one retries
# every --leader-election-retry-period (15 s) and takes the Lease after --leader-election-lease-duration (60 s)
# from the last renewal (cmd/controller/app/options/options.go defaults; the lab runs them as the chart does).
LEADER_ELECTION_LEASE_DURATION = 60
LEADER_ELECTION_RETRY_PERIOD = 15
CONTROLLER_TAKEOVER = LEADER_ELECTION_LEASE_DURATION + LEADER_ELECTION_RETRY_PERIOD
# The other controllers' work queues retry a failed sync (an ACME request to a CA that is down, a write the
# webhook rejected) with per-item exponential backoff, 5 s doubling up to 5 min (pkg/controller/util.go:
# DefaultItemBasedRateLimiter).
QUEUE_BACKOFF_BASE = 5
QUEUE_BACKOFF_MAX = 5 * 60
# cert-manager's Route 53 solver waits for its change to be INSYNC inside Present: GetChange every 4 s for at
# most 120 s, then Present fails with "Time limit exceeded. Last error: " (pkg/issuer/acme/dns/route53/route53.go:
# util.WaitFor(120*time.Second, 4*time.Second, ...); util/wait.go: WaitFor).
ROUTE53_CHANGE_WAIT = 120
ROUTE53_CHANGE_POLL = 4

# A whole DNS-01 issuance with no fault: present, self-check, the 60 s wait, validation, finalize; ~65 s
# here, the margin covers a loaded CI machine.
ISSUANCE = DNS01_CHECK_WAIT + 60
# The HTTP-01 self-check must pass 5 times, 2 s apart, inside one Check (pkg/issuer/acme/http/http.go:
# requiredPasses: 5, time.Sleep(2 s)); a failed one re-queues the Challenge after the same
# --dns01-check-retry-period as DNS-01 (sync.go: queue.AddAfter(key, c.DNS01CheckRetryPeriod)).
HTTP01_SELF_CHECK_PASSES, HTTP01_SELF_CHECK_INTERVAL = 5, 2
# A whole HTTP-01 issuance on kind with no fault: the solver pod started (image preloaded: 2-20 s here), its
# Ingress routed by the controller, a self-check of 10 s (one retry period more if the route came late),
# validation, finalize; the margin covers a loaded 2-core machine.
HTTP01_ISSUANCE = HTTP01_SELF_CHECK_PASSES * HTTP01_SELF_CHECK_INTERVAL + DNS01_CHECK_RETRY_PERIOD + 100


def issuance_backoff(failed_attempts: int) -> int:
    """Seconds from lastFailureTime to the next issuance attempt after `failed_attempts` failures."""
    if failed_attempts < 1:
        raise ValueError(f"issuance_backoff: failed_attempts must be >= 1, not {failed_attempts}")
    return min(ISSUANCE_BACKOFF_BASE * 2 ** (failed_attempts - 1), ISSUANCE_BACKOFF_MAX)


def challenge_retry_gaps(failures: int, base: float = CHALLENGE_BACKOFF_BASE) -> list[float]:
    """Seconds between one Challenge's consecutive Present attempts while every one fails: failure k re-queues
    it after challenge_backoff(k); the first failure's status update (its reason set) also re-queues it at once
    through the informer; and the work queue's delaying queue keeps only the earliest pending retry of an item
    (client-go util/workqueue/delaying_queue.go). Hence 0, base, 4 base, 8 base, ... (5 s: 0, 5, 20, 40, 80)."""
    times, pending = [0.0], None
    for k in range(1, failures):
        now = times[-1]
        retry = now + min(base * 2 ** (k - 1), CHALLENGE_BACKOFF_MAX)
        pending = retry if pending is None or pending <= now else min(pending, retry)
        if k == 1:
            times.append(now)  # the immediate resync; the backoff stays pending
            continue
        times.append(pending)
    return [later - earlier for earlier, later in zip(times, times[1:])]


# How far measured Present attempts may stray from challenge_retry_gaps: relative, and absolute seconds
# (scheduling and a loaded API server).
GAP_TOLERANCE = (0.15, 1.0)


def challenge_retry_mismatch(spacing: list[float]) -> tuple[str | None, dict]:
    """Whether the gaps between one Challenge's failed Presents (at least three) are its work queue's backoff:
    (None, facts) if so, else (why not, facts). The first gap is the immediate resync (one sync's time: under half
    the base); the first failure's own backoff runs from that failure, not from the resync (the delaying queue
    keeps the earliest retry), so it is the first two gaps together. Each is compared with challenge_retry_gaps
    from the queue's base, never a base measured from the run: a retry that came late (a loaded machine) says
    nothing of the next, which the queue schedules from its own failure. The facts are for the journal."""
    measured = [spacing[0], round(spacing[0] + spacing[1], 1), *spacing[2:]]  # each from the failure it follows
    expected = challenge_retry_gaps(len(spacing) + 1)
    facts = {"gaps": spacing, "from_the_failure": measured, "expected": expected}
    limits = [want * GAP_TOLERANCE[0] + GAP_TOLERANCE[1] if want else CHALLENGE_BACKOFF_BASE / 2 for want in expected]
    if not all(abs(got - want) <= limit for got, want, limit in zip(measured, expected, limits)):
        return (f"retries should back off exponentially from the challenge queue's {CHALLENGE_BACKOFF_BASE} s "
                f"({expected} s from each failure, the first two gaps counted together), but the failed attempts "
                f"came {spacing} s apart"), facts
    return None, facts


def challenge_backoff(failures: int) -> float:
    """Seconds the challenge queue waits before the retry that follows the `failures`-th failure in a row
    (client-go's ItemExponentialFailureRateLimiter: base * 2^(failures-1), capped)."""
    if failures < 1:
        raise ValueError(f"challenge_backoff: failures must be >= 1, not {failures}")
    return min(CHALLENGE_BACKOFF_BASE * 2 ** (failures - 1), CHALLENGE_BACKOFF_MAX)


# certificates.RenewalTime (pkg/controller/certificates/util.go): renew `renewBefore` before notAfter when it
# is shorter than the certificate's actual lifetime, else a third of that lifetime before; truncated to s.
DEFAULT_RENEW_BEFORE_FRACTION = 1 / 3


def renewal_time(not_before: float, not_after: float, renew_before: float | None) -> int:
    """The epoch second cert-manager v1.11 renews at, from the certificate's own validity."""
    lifetime = not_after - not_before
    before = renew_before if renew_before is not None and renew_before < lifetime else lifetime * DEFAULT_RENEW_BEFORE_FRACTION
    return int(not_after - before)  # Truncate(time.Second) on a positive time is a floor
