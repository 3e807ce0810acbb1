"""An access key deactivated in IAM while cert-manager's Route 53 solver still holds it, and the on-call
engineer's repair: a new key rotated into the Secret.

Spec: the renewal stalls with AWS's refusal of the key on the Challenge (InvalidClientTokenId: The security token
included in the request is invalid.), retried with backoff, each retry refused at the API, while the Certificate
stays Ready=True with its current Secret; once a new key of the same user is written into the Secret (the old one
still inactive), a retry signs with the new key and the renewal completes: cert-manager reads the Secret at each
attempt, no restart, no edit of the Issuer.
Evidence: the AWS front's journal (refusals signed by the old key, then the UPSERT signed by the new one), the
Challenge's reason, the Certificate's status, the Secret's serial before and after.
"""

from __future__ import annotations

import time

import pytest

from harness.scenario_api import (
    ISSUANCE, AccessKeyDeactivated, all_of, certificate_done_issuing, certificate_ready, challenge_backoff,
    challenge_reason_contains, holds_until, issued_and_due_for_a_fresh_challenge, not_, rotate_access_key,
    route53_answers, secret_serial_changed, trigger_renewal,
)

pytestmark = pytest.mark.requires(aws_api=True)

REFUSALS = 3  # Present and two retries (0 s, then 5 s: the queue's first backoff) refused before the rotation
REFUSALS_WITHIN = 60  # the renewal's first Present (seconds), the retries, a loaded machine
RECOVERY = challenge_backoff(REFUSALS + 1) + ISSUANCE  # the next retry reads the new key, then an issuance
REFUSED = "InvalidClientTokenId: The security token included in the request is invalid."


def test_a_deactivated_key_stalls_renewal_until_a_new_key_is_rotated_into_the_secret(
        scenario, lab, kube, namespace, route53_issuer):
    issuer, name, subject = route53_issuer, "web", f"Certificate {namespace}/web"
    before = issued_and_due_for_a_fresh_challenge(scenario, lab, namespace, issuer, name)
    old_key, since = issuer.access_key_id, time.time()
    with scenario.fault(AccessKeyDeactivated(lab.aws, issuer.user, old_key)):
        trigger_renewal(kube, namespace, name)
        scenario.expect(challenge_reason_contains(kube, namespace, name, REFUSED),
                        subject=f"Challenge for {namespace}/{name}", expected="AWS's refusal of the key", within=60,
                        detects=True)
        still_serving = all_of(certificate_ready(kube, namespace, name),
                               not_(secret_serial_changed(kube, namespace, name, before.serial)))
        scenario.expect(holds_until(still_serving, route53_answers(
                            lab.aws_front, None, REFUSALS, code="InvalidClientTokenId", action="ListHostedZonesByName",
                            principal=old_key, since=since)),
                        subject=f"access key {old_key}", expected=f"{REFUSALS} refused calls (retries) while the old "
                        "certificate stays Ready", within=REFUSALS_WITHIN)
        # The repair, while the old key stays inactive: a new key of the same user in the Secret.
        rotated = time.time()
        new_key = rotate_access_key(lab.aws, kube, namespace, issuer.secret, issuer.user)
        scenario.note("a new access key rotated into the Secret", secret=issuer.secret, new_key=new_key)
        scenario.expect(secret_serial_changed(kube, namespace, name, before.serial), subject=f"Secret {namespace}/{name}",
                        expected="renewed with the rotated key, no restart", within=RECOVERY)
        scenario.expect(route53_answers(lab.aws_front, issuer.zone_id, 1, action="ChangeResourceRecordSets",
                                        principal=new_key, since=rotated),
                        subject=f"hosted zone {issuer.zone_id}", expected="the UPSERT signed by the new key", within=10)
        late = route53_answers(lab.aws_front, None, 1, code="InvalidClientTokenId", action="ListHostedZonesByName",
                               principal=old_key, since=rotated + challenge_backoff(REFUSALS + 1) + 5)()
        assert late.state["answers"] == 0, f"the old key was still used long after the rotation: {late.state}"
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=subject,
                          expected="Ready=True and done issuing", within=30)
