"""Route 53 refuses the solver's changes for a while: throttled (Rate exceeded) or a prior change on the zone
still in progress (PriorRequestNotComplete).

Spec: the AWS SDK retries both codes itself before Present fails, so the API sees the solver's calls in bursts:
aws-sdk-go (cert-manager up to v1.14) three retries, 0.5-4 s apart (request/retryer.go throttleCodes,
client/default_retryer.go), bursts of four; aws-sdk-go-v2 (v1.15 on) two retries, 0-2 s then 0-4 s apart
(aws/retry: standard.go, jitter_backoff.go), bursts of three; the
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
    challenge_reason_contains, controller_go_module, holds_until, issued_and_due_for_a_fresh_challenge, not_,
    route53_answers, secret_serial_changed, trigger_renewal,
)

pytestmark = pytest.mark.requires(aws_api=True)

# Each SDK's delays before the retries of a throttled call, as the running controller's build info says which
# it has. aws-sdk-go v1.44's DefaultRetryer: the call and DefaultRetryerMaxNumRetries (3) retries, 2^n * a jitter
# in [MinThrottleDelay, 2 * MinThrottleDelay), MinThrottleDelay 0.5 s (client/default_retryer.go: RetryRules,
# getJitterDelay). aws-sdk-go-v2's standard retryer: DefaultMaxAttempts (3), [0, 1) * 2^n s before retry n
# (aws/retry/jitter_backoff.go). Measured at the front, a gap is the delay plus one round trip; the margin covers a
# loaded machine.
SDK_DELAYS = {"github.com/aws/aws-sdk-go": [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0)],
              "github.com/aws/aws-sdk-go-v2": [(0.0, 2.0), (0.0, 4.0)]}
MARGIN = 1.0
PRESENTS = 3  # the renewal's, the immediate resync, the first backed-off retry (due when the second burst ends)
REFUSALS_WITHIN = 90  # three bursts of up to 7 s, a 5 s backoff, the renewal's start, a loaded machine
RECOVERY = challenge_backoff(4) + ISSUANCE  # the next retry is one backoff step away, then an issuance
MESSAGES = {"Throttling": "Throttling: Rate exceeded",
            "PriorRequestNotComplete": "PriorRequestNotComplete: The request was rejected because Route 53 was "
                                       "still processing a prior request."}


def aws_sdk(lab) -> str:
    """The AWS SDK the running controller was built with (its executable's build info)."""
    found = [sdk for sdk in SDK_DELAYS if controller_go_module(lab.info.controller_pid_file, sdk)]
    assert len(found) == 1, f"the controller should be built with one AWS SDK of {sorted(SDK_DELAYS)}: {found}"
    return found[0]


def off_the_sdk_schedule(gaps: list[float], delays: list[tuple[float, float]]) -> list[list[float]]:
    """The whole bursts (each Present's calls, in order) whose retry gaps are not the SDK's `delays`."""
    attempts = len(delays) + 1
    bursts = [gaps[start:start + attempts - 1] for start in range(0, len(gaps) - attempts + 2, attempts)]
    return [burst for burst in bursts if len(burst) == attempts - 1 and not all(
        low <= gap <= high + MARGIN for gap, (low, high) in zip(burst, delays))]


@pytest.mark.parametrize("answer", ["Throttling", "PriorRequestNotComplete"])
def test_refused_changes_are_retried_by_the_sdk_then_with_backoff_and_renewal_completes_after(
        scenario, lab, kube, namespace, route53_issuer, answer):
    issuer, name, subject = route53_issuer, "web", f"Certificate {namespace}/web"
    sdk = aws_sdk(lab)
    delays = SDK_DELAYS[sdk]
    attempts = len(delays) + 1
    refusals = PRESENTS * attempts
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
                                   lab.aws_front, issuer.zone_id, refusals, code=answer, since=since)),
                               subject=f"hosted zone {issuer.zone_id}",
                               expected=f"{refusals} refused changes while the old certificate stays Ready",
                               within=REFUSALS_WITHIN)
    spacing = seen["goal"]["gaps"][:refusals - 1]
    scenario.note("gaps between refused changes", gaps=spacing, sdk=sdk, sdk_delays=delays)
    # Each Present's burst: the call, then the SDK's retries after its jittered, doubling delays; the gap after a
    # burst is the Challenge's (an immediate resync or a due backoff). `refusals` is PRESENTS Presents: the
    # Challenge retried Present after the SDK gave up.
    assert not off_the_sdk_schedule(spacing, delays), (
        f"each Present should make {attempts} calls, retried after {delays} s ({sdk}'s throttle retries), but these "
        f"bursts' gaps are not: {off_the_sdk_schedule(spacing, delays)} (all gaps: {spacing})")
    repaired = time.time()
    scenario.expect(secret_serial_changed(kube, namespace, name, before.serial), subject=f"Secret {namespace}/{name}",
                    expected="to hold the renewed certificate", within=RECOVERY, recovers=True)
    scenario.expect(route53_answers(lab.aws_front, issuer.zone_id, 1, action="ChangeResourceRecordSets",
                                    since=repaired),
                    subject=f"hosted zone {issuer.zone_id}", expected="the renewal's UPSERT accepted", within=10)
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=subject,
                          expected="Ready=True and done issuing", within=30)
