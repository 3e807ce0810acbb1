"""Route 53 accepts the solver's change but never reports it INSYNC (its propagation stuck): GetChange says
PENDING past the 120 s cert-manager's solver waits for.

Spec: Present polls GetChange every 4 s for 120 s (pkg/issuer/acme/dns/route53: util.WaitFor(120 s, 4 s)), then
fails with "Time limit exceeded" on the Challenge, while the Certificate stays Ready=True with its current
Secret; once the
change is INSYNC, the retry's wait ends and the renewal completes by itself.
Evidence: the AWS front's journal (every PENDING GetChange: their count, spacing and span), the Challenge's reason,
the Certificate's status, the Secret's serial before and after.
"""

from __future__ import annotations

import time

import pytest

from harness.scenario_api import (
    CLEANED_UP, DNS01_CHECK_WAIT, ISSUANCE, ROUTE53_CHANGE_POLL, ROUTE53_CHANGE_WAIT, Limit, Route53ChangesPending,
    all_of, certificate_done_issuing, certificate_ready, challenge_reason_contains, challenges_gone, holds_until,
    issued_and_due_for_a_fresh_challenge, not_, route53_answers, secret_serial_changed, trigger_renewal,
)

pytestmark = pytest.mark.requires(aws_api=True)

# The first Present's wait, plus the renewal's start (seconds) and a loaded machine.
GIVES_UP_WITHIN = ROUTE53_CHANGE_WAIT + 60
SPAN_TOLERANCE = 2 * ROUTE53_CHANGE_POLL  # the wait ends at the first poll after 120 s; the first poll is at once
RECOVERY = ROUTE53_CHANGE_POLL + ISSUANCE  # the retry's next GetChange sees INSYNC, then an issuance
# The renewal's Challenge is cleaned up (its DELETE, then GetChange until INSYNC) once it is valid; seen here: the
# Challenge was still in acceptChallenge (the self-check's 60 s wait) a minute after the Order was valid, so the
# clean-up may come one DNS01_CHECK_WAIT after the renewal.
RENEWAL_CLEANED_UP = DNS01_CHECK_WAIT + CLEANED_UP


def test_a_change_stuck_pending_fails_present_after_the_solvers_wait_and_renewal_completes_once_insync(
        scenario, lab, kube, namespace, route53_issuer):
    issuer, name, subject = route53_issuer, "web", f"Certificate {namespace}/web"
    before = issued_and_due_for_a_fresh_challenge(scenario, lab, namespace, issuer, name)
    since = time.time()
    with scenario.fault(Route53ChangesPending(lab.aws_front, issuer.zone_id)):
        trigger_renewal(kube, namespace, name)
        scenario.expect(route53_answers(lab.aws_front, issuer.zone_id, 1, action="ChangeResourceRecordSets",
                                        since=since),
                        subject=f"hosted zone {issuer.zone_id}", expected="the renewal's UPSERT accepted", within=60)
        still_serving = all_of(certificate_ready(kube, namespace, name),
                               not_(secret_serial_changed(kube, namespace, name, before.serial)))
        scenario.expect(holds_until(still_serving, challenge_reason_contains(kube, namespace, name,
                                                                             "Time limit exceeded")),
                        subject=f"Challenge for {namespace}/{name}", expected="Present to give up after its wait",
                        within=GIVES_UP_WITHIN, detects=True)
        polls = route53_answers(lab.aws_front, issuer.zone_id, 1, action="GetChange", since=since)().state
    times = polls["at"]
    span = times[-1] - times[0] if times else 0.0
    scenario.note("PENDING GetChange polls of the first Present", polls=len(times), span=round(span, 1),
                  gaps=polls["gaps"])
    assert abs(span - ROUTE53_CHANGE_WAIT) <= SPAN_TOLERANCE + max(polls["gaps"], default=0), (
        f"Present should poll GetChange for {ROUTE53_CHANGE_WAIT} s before it gives up, but polled for {span:.0f} s "
        f"({len(times)} polls)")
    assert all(ROUTE53_CHANGE_POLL * 0.9 <= gap <= ROUTE53_CHANGE_POLL * 2 for gap in polls["gaps"][1:-1]), (
        f"GetChange should be polled every {ROUTE53_CHANGE_POLL} s, but the polls came {polls['gaps']} s apart")
    scenario.expect(secret_serial_changed(kube, namespace, name, before.serial), subject=f"Secret {namespace}/{name}",
                    expected="renewed once the change is INSYNC", within=RECOVERY, recovers=True)
    scenario.expect(route53_answers(lab.aws_front, issuer.zone_id, 1, action="GetChange", since=since,
                                    detail="INSYNC"),
                    subject=f"hosted zone {issuer.zone_id}", expected="an INSYNC answer", within=Limit(1))
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=subject,
                          expected="Ready=True and done issuing", within=30)
    scenario.steady_state(challenges_gone(kube, namespace), subject=f"Challenges of {namespace}",
                          expected="the renewal's cleaned up (its record deleted through the API)",
                          within=RENEWAL_CLEANED_UP)
    left, _ = lab.aws.zone_values(issuer.zone_id, f"_acme-challenge.{issuer.dns_name(name)}", "TXT")
    assert left == [], f"the hosted zone still holds the renewal's challenge record: {left}"
