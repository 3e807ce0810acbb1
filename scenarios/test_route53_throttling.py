"""Route 53 refuses the solver's changes for a while: throttled (Rate exceeded) or a prior change on the zone
still in progress (PriorRequestNotComplete).

Spec: aws-sdk-go retries both codes itself (three retries, 0.5-4 s apart: request/retryer.go throttleCodes,
client/default_retryer.go) before Present fails, so the API sees the solver's calls in bursts of four; the
Challenge then shows AWS's code and message and its work queue retries with backoff (another burst each time);
the Certificate stays Ready=True with its current Secret; once Route 53 accepts again, the renewal completes by
itself.
Evidence: the AWS front's journal (each refused ChangeResourceRecordSets, their times grouped into bursts), the
Challenge's reason, the Certificate's status, the Secret's serial before and after.
"""

from __future__ import annotations

import time

import pytest

from harness.scenario_api import (
    ISSUANCE, Route53Refuses, all_of, certificate_done_issuing, certificate_ready, challenge_backoff,
    challenge_reason_contains, holds_until, issued_and_due_for_a_fresh_challenge, not_, route53_answers,
    secret_serial_changed, trigger_renewal,
)

pytestmark = pytest.mark.requires(aws_api=True)

SDK_ATTEMPTS = 4  # aws-sdk-go v1.44's DefaultRetryer: the call and DefaultRetryerMaxNumRetries (3) retries
# The SDK's delays before retry 1, 2, 3 of a throttled call: 2^n * a jitter in [MinThrottleDelay, 2 *
# MinThrottleDelay), MinThrottleDelay 0.5 s (client/default_retryer.go: RetryRules, getJitterDelay). Measured
# at the front, a gap is the delay plus one round trip; the margin covers a loaded machine.
SDK_DELAYS = [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0)]
MARGIN = 1.0
# Three Presents: the renewal's, the immediate resync, the first backed-off retry (already due when the second
# burst ends: a burst takes longer than the queue's first 5 s backoff).
REFUSALS = 3 * SDK_ATTEMPTS
REFUSALS_WITHIN = 90  # three bursts of up to 7 s, a 5 s backoff, the renewal's start, a loaded machine
RECOVERY = challenge_backoff(4) + ISSUANCE  # the next retry is one backoff step away, then an issuance
MESSAGES = {"Throttling": "Throttling: Rate exceeded",
            "PriorRequestNotComplete": "PriorRequestNotComplete: The request was rejected because Route 53 was "
                                       "still processing a prior request."}


def off_the_sdk_schedule(gaps: list[float]) -> list[list[float]]:
    """The whole bursts (each Present's SDK_ATTEMPTS calls, in order) whose retry gaps are not the SDK's delays."""
    bursts = [gaps[start:start + SDK_ATTEMPTS - 1] for start in range(0, len(gaps) - SDK_ATTEMPTS + 2, SDK_ATTEMPTS)]
    return [burst for burst in bursts if len(burst) == SDK_ATTEMPTS - 1 and not all(
        low <= gap <= high + MARGIN for gap, (low, high) in zip(burst, SDK_DELAYS))]


@pytest.mark.parametrize("answer", ["Throttling", "PriorRequestNotComplete"])
def test_refused_changes_are_retried_by_the_sdk_then_with_backoff_and_renewal_completes_after(
        scenario, lab, kube, namespace, route53_issuer, answer):
    issuer, name, subject = route53_issuer, "web", f"Certificate {namespace}/web"
    before = issued_and_due_for_a_fresh_challenge(scenario, lab, namespace, issuer, name)
    since = time.time()
    with scenario.fault(Route53Refuses(lab.aws_front, issuer.zone_id, answer)):
        trigger_renewal(kube, namespace, name)
        scenario.expect(challenge_reason_contains(kube, namespace, name, MESSAGES[answer]),
                        subject=f"Challenge for {namespace}/{name}", expected=f"Route 53's {answer}", within=60,
                        detects=True)
        still_serving = all_of(certificate_ready(kube, namespace, name),
                               not_(secret_serial_changed(kube, namespace, name, before.serial)))
        seen = scenario.expect(holds_until(still_serving, route53_answers(
                                   lab.aws_front, issuer.zone_id, REFUSALS, code=answer, since=since)),
                               subject=f"hosted zone {issuer.zone_id}",
                               expected=f"{REFUSALS} refused changes while the old certificate stays Ready",
                               within=REFUSALS_WITHIN)
    spacing = seen["goal"]["gaps"][:REFUSALS - 1]
    scenario.note("gaps between refused changes", gaps=spacing, sdk_delays=SDK_DELAYS)
    # Each Present's burst: the call, then the SDK's three retries after its jittered, doubling delays; the gap
    # after a burst is the Challenge's (an immediate resync or a due backoff). REFUSALS is three Presents: the
    # Challenge retried Present after the SDK gave up.
    assert not off_the_sdk_schedule(spacing), (
        f"each Present should make {SDK_ATTEMPTS} calls, retried after {SDK_DELAYS} s (aws-sdk-go's throttle "
        f"retries), but these bursts' gaps are not: {off_the_sdk_schedule(spacing)} (all gaps: {spacing})")
    repaired = time.time()
    scenario.expect(secret_serial_changed(kube, namespace, name, before.serial), subject=f"Secret {namespace}/{name}",
                    expected="to hold the renewed certificate", within=RECOVERY, recovers=True)
    scenario.expect(route53_answers(lab.aws_front, issuer.zone_id, 1, action="ChangeResourceRecordSets",
                                    since=repaired),
                    subject=f"hosted zone {issuer.zone_id}", expected="the renewal's UPSERT accepted", within=10)
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=subject,
                          expected="Ready=True and done issuing", within=30)
