"""IAM permission drift under cert-manager's own Route 53 solver: the policy of the identity it signs with (a
user's static keys, or a role it assumes through STS) is detached, or rewritten for another hosted zone, while a
renewal is due.

Spec: the renewal stalls with AWS's refusal on the Challenge, as AWS words it (AccessDenied, the principal, the
action; for the narrowed policy the zone's ARN: in its reason, or from v1.20 in its PresentError Events, where the
reason points once it redacts the SDK's error), while the Certificate stays Ready=True with its current Secret
and failedIssuanceAttempts unset; the Challenge's work queue retries Present with per-item exponential backoff
(5 s doubling), each retry another refused call at the API; re-attaching the documented policy completes the
renewal with no human action on the cluster. Detached, the solver's first call (ListHostedZonesByName: the
Issuer names no hostedZoneID) is refused; narrowed, that call is allowed and ChangeResourceRecordSets on the zone
is refused. No change reaches the zone while the policy is wrong.
Evidence: the AWS front's journal (each refused call, its principal, code and time; the accepted UPSERT after the
repair), the Challenge's reason, the Certificate's status, the Secret's serial and chain before and after.
"""

from __future__ import annotations

import time

import pytest

from harness.scenario_api import (
    ISSUANCE, SECRET, Route53PolicyDetached, Route53PolicyNarrowed, all_of, certificate_done_issuing,
    certificate_ready, certificate_status_field, challenge_backoff, challenge_reason_contains, challenge_retry_gaps,
    challenge_retry_mismatch, gaps, get, holds_until, inspect_secret, issued_and_due_for_a_fresh_challenge, not_,
    route53_answers, secret_serial_changed, trigger_renewal,
)

pytestmark = pytest.mark.requires(aws_api=True)

# Refused calls to see before the repair: five give four gaps (0, 5, 10, 20 s from the first failure's backoff
# on, see timings.challenge_retry_gaps), a doubling no constant or linear retry has.
REFUSALS = 5
REFUSALS_WITHIN = sum(challenge_retry_gaps(REFUSALS)) + 45  # the retries plus the renewal's first Present; load
RECOVERY = challenge_backoff(REFUSALS) + ISSUANCE  # the next retry is one backoff step away, then an issuance
ACCOUNT = "arn:aws:iam::123456789012"


@pytest.mark.parametrize("drift", ["detached", "narrowed", "role-narrowed"])
def test_renewal_stalls_on_access_denied_and_completes_once_the_policy_is_restored(
        scenario, lab, kube, namespace, request, drift):
    # role-narrowed: the policy is the role's, which the solver assumes through STS for every call.
    issuer = request.getfixturevalue("route53_role_issuer" if drift.startswith("role") else "route53_issuer")
    name, subject = "web", f"Certificate {namespace}/web"
    before = issued_and_due_for_a_fresh_challenge(scenario, lab, namespace, issuer, name)

    principal = (f"arn:aws:sts::123456789012:assumed-role/{issuer.role}/cert-manager" if issuer.role
                 else f"{ACCOUNT}:user/{issuer.user}")
    signer = None if issuer.role else issuer.access_key_id  # a role's session keys are new for every call
    if drift == "detached":
        fault = Route53PolicyDetached(lab.aws, issuer.policy_arn, issuer.identity)
        action, zone, refusal = "ListHostedZonesByName", None, (
            f"AccessDenied: User: {principal} is not authorized to perform: route53:ListHostedZonesByName")
    else:
        fault = Route53PolicyNarrowed(lab.aws, issuer.policy_arn, issuer.identity, f"elsewhere.{issuer.zone}")
        action, zone, refusal = "ChangeResourceRecordSets", issuer.zone_id, (
            f"AccessDenied: User: {principal} is not authorized to perform: route53:ChangeResourceRecordSets on "
            f"resource: arn:aws:route53:::hostedzone/{issuer.zone_id}")
    since = time.time()
    with scenario.fault(fault):
        trigger_renewal(kube, namespace, name)
        scenario.expect(challenge_reason_contains(kube, namespace, name, refusal),
                        subject=f"Challenge for {namespace}/{name}", expected="AWS's refusal, as AWS words it",
                        within=60, detects=True)
        still_serving = all_of(certificate_ready(kube, namespace, name),
                               not_(secret_serial_changed(kube, namespace, name, before.serial)),
                               certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", is_set=False))
        refused = route53_answers(lab.aws_front, zone, REFUSALS, code="AccessDenied", action=action,
                                  principal=signer, since=since)
        seen = scenario.expect(holds_until(still_serving, refused), subject=principal,
                               expected=f"{REFUSALS} refused {action} calls (retries) while the old certificate "
                                        "stays Ready and failedIssuanceAttempts unset", within=REFUSALS_WITHIN)
        accepted = route53_answers(lab.aws_front, issuer.zone_id, 1, action="ChangeResourceRecordSets", since=since)()
        assert accepted.state["answers"] == 0, f"a change reached the zone while the policy was {drift}: {accepted}"
    mismatch, spacing = challenge_retry_mismatch(gaps(seen["goal"]["at"][:REFUSALS]))
    scenario.note("challenge retry spacing at the API", **spacing)
    assert mismatch is None, f"refused {action} calls: {mismatch}"

    repaired = time.time()
    scenario.expect(secret_serial_changed(kube, namespace, name, before.serial), subject=f"Secret {namespace}/{name}",
                    expected="to hold the renewed certificate", within=RECOVERY, recovers=True)
    scenario.expect(route53_answers(lab.aws_front, issuer.zone_id, 1, action="ChangeResourceRecordSets",
                                    principal=signer, since=repaired),
                    subject=f"hosted zone {issuer.zone_id}", expected="the renewal's UPSERT accepted after the repair",
                    within=10)
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=subject,
                          expected="Ready=True and done issuing", within=30)
    after = inspect_secret(get(kube, SECRET, namespace, name), root=lab.pebble.roots().encode())
    assert before.verified and after.verified and after.key_matches, (before.summary(), after.summary())
