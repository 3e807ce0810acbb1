"""DNS-provider permission drift: the credential cert-manager updates DNS with may no longer write
_acme-challenge records (its policy narrowed, like an IAM policy edited by someone else).

Spec: during a renewal the current Secret stays valid and the Certificate stays Ready=True while the renewal
stalls with the refusal visible on the Challenge (its reason and a Warning PresentError Event); the Challenge's
work queue retries Present with per-item exponential backoff (5 s doubling, cap 30 min: each gap twice the one
before), while failedIssuanceAttempts stays unset (the issuance has not failed, the challenge is retrying);
restoring the permission completes the renewal with no human action. Evidence: the Challenge reason and
Events, the refused updates in the fake DNS log (count and spacing), the Certificate's status, the Secret's
serial and chain before and after, the journal's alert entries.
Alerts (a finding: the default rules miss this stall): no alert of the Certificate is pending or firing at
any poll while the refusals pile up, nor an ACME error alert for its CA host (the ACME requests succeed; only
the DNS update fails). The Certificate stays Ready, so NotReady is silent; its renewalTime (a third of the
lifetime before expiry) is 40 minutes ahead here, so RenewalOverdue is silent; in production it would page
only 1 h after renewalTime, and ExpiringSoon 14 days before expiry. A manual or early renewal that stalls
pages no one until then: `certchaos alerts replay` shows the first page in production time. Nothing is
active for the Certificate once the permission is restored and it renewed.
"""

from __future__ import annotations

from harness.scenario_api import (
    ACME_ERRORS, ISSUANCE, SECRET, TsigPolicyNarrowed, all_of, certificate,
    certificate_done_issuing, certificate_event, certificate_labels, certificate_ready, certificate_status_field,
    certificates_quiet, challenge_backoff, challenge_reason_contains, challenge_retry_gaps, challenge_retry_mismatch,
    challenges_gone,
    create_certificate,
    expire_authorizations, gaps, get, holds_until, inspect_secret, no_alert_firing, not_, refused_updates,
    secret_serial_changed, trigger_renewal,
)

# Refused updates to see before restoring: five give four gaps (0, 5, 20, 40 s, see
# timings.challenge_retry_gaps), a doubling shape no constant or linear retry has; the base is measured.
REFUSALS = 5
# The retries (65 s) plus the first Present after the renewal starts; the margin covers load.
REFUSALS_WITHIN = sum(challenge_retry_gaps(REFUSALS)) + 45
# After the restore the next retry is one more backoff step away, then a whole issuance.
RECOVERY = challenge_backoff(REFUSALS) + ISSUANCE
QUIET_WITHIN = 15  # Prometheus scrapes every second and evaluates the rules every second; margin for load
# The Order's Challenges are deleted, their records removed, within seconds of the Order becoming valid.
CLEANED_UP = 30


def test_renewal_stalls_visibly_and_completes_once_the_permission_is_restored(
        scenario, lab, kube, namespace, acme_issuer):
    name, subject = "web", f"Certificate {namespace}/web"
    create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [acme_issuer.dns_name("web")]))
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=subject,
                          expected="Ready=True and done issuing", within=ISSUANCE)
    # Prometheus sees the Ready certificate a scrape and a rule evaluation later: until then the first issuance's
    # NotReady alert is still pending, and the fault's "no alert pending" would break on its first look.
    scenario.steady_state(certificates_quiet(lab.alerts, namespace, [name]), subject=f"alerts of {subject}",
                          expected="seen Ready by Prometheus, none active", within=QUIET_WITHIN)
    # The first issuance's Challenge is cleaned up (its record deleted) a few seconds after Ready: narrowed
    # before that, the policy also refuses the cleanup, whose refused deletes would count as Present's retries
    # (seen once: the record then stayed in the zone, as v1.11.5 drops a Challenge whose cleanup failed).
    scenario.steady_state(challenges_gone(kube, namespace), subject=f"Challenges of {namespace}",
                          expected="the first issuance's cleaned up", within=CLEANED_UP)
    root = lab.pebble.roots().encode()
    before = inspect_secret(get(kube, SECRET, namespace, name), root=root)

    # A real renewal comes when the 30-day authorizations have expired, so it needs a fresh DNS-01 challenge.
    expired = expire_authorizations(kube, namespace, acme_issuer.name, acme_issuer.directory,
                                    lab.info.pebble_ca_bundle_path)
    scenario.note("authorizations expired at the CA", authorizations=expired)
    with scenario.fault(TsigPolicyNarrowed(lab.dns, acme_issuer.key)):
        trigger_renewal(kube, namespace, name)
        scenario.expect(challenge_reason_contains(kube, namespace, name, "REFUSED"),
                        subject=f"Challenge for {namespace}/{name}", expected="to show the DNS refusal",
                        within=60, detects=True)
        scenario.expect(certificate_event(kube, namespace, name, "Warning", "PresentError", "REFUSED", "Challenge"),
                        subject=f"Challenge for {namespace}/{name}", expected="a Warning PresentError Event",
                        within=10)
        # The old certificate stays Ready and in the Secret, and the issuance is not failed, while refusals pile up.
        # ... and no alert says anything: none of the Certificate's, no ACME errors for its CA host.
        host = "%s:%d" % acme_issuer.proxy.listen  # the ACME metric's host label: this scenario's path to the CA
        still_serving = all_of(certificate_ready(kube, namespace, name),
                               not_(secret_serial_changed(kube, namespace, name, before.serial)),
                               certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", is_set=False),
                               no_alert_firing(lab.alerts, certificate_labels(namespace, name), include_pending=True),
                               no_alert_firing(lab.alerts, {"host": host}, [ACME_ERRORS], include_pending=True))
        seen = scenario.expect(holds_until(still_serving, refused_updates(lab.dns, acme_issuer.key, REFUSALS)),
                               subject=f"TSIG key {acme_issuer.key}",
                               expected=f"{REFUSALS} refused updates (retries) while the old certificate stays Ready "
                                        "and failedIssuanceAttempts unset", within=REFUSALS_WITHIN)
    mismatch, spacing = challenge_retry_mismatch(gaps(seen["goal"]["at"][:REFUSALS]))
    scenario.note("challenge retry spacing", **spacing)
    assert mismatch is None, f"refused updates: {mismatch}"

    scenario.expect(secret_serial_changed(kube, namespace, name, before.serial), subject=f"Secret {namespace}/{name}",
                    expected="to hold the renewed certificate", within=RECOVERY, recovers=True)
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=subject,
                          expected="Ready=True and done issuing", within=30)
    scenario.steady_state(certificates_quiet(lab.alerts, namespace, [name]), subject=f"alerts of {subject}",
                          expected="seen Ready by Prometheus, none active once renewed", within=QUIET_WITHIN)
    after = inspect_secret(get(kube, SECRET, namespace, name), root=root)
    assert before.verified and after.verified and after.key_matches, (before.summary(), after.summary())
