"""Renewal timing and key rotation: a certificate renews at the wrong time, or with the wrong key.

Spec: cert-manager renews at status.renewalTime = notAfter - spec.renewBefore (a third of the certificate's
actual lifetime before notAfter when renewBefore is unset), truncated to the second, by itself: no renewal
starts before that time and one starts at it (the trigger controller schedules a re-check for it), each
renewal setting the next renewalTime from the new certificate; its metrics
certmanager_certificate_expiration_timestamp_seconds and ..._renewal_timestamp_seconds equal the Secret's
notAfter and that renewalTime, and ready_status{condition="True"} is 1; on a renewal, privateKey.rotationPolicy
Never keeps the Secret's private key and Always generates a new one. The CA issuer signs at once, so no ACME
is needed for this behaviour. A correct renewal pages no one: once the certificates are issued (and again
once renewed), no alert of the scenario's namespace is pending or firing for a whole window; ExpiringSoon
(lab: under 560 s left) and RenewalOverdue (lab: 120 s past renewalTime) have no `for:`, so wrong expiration
or renewal metrics would fire them within a rule evaluation. Evidence: the Secret's certificate (validity,
public key), the Certificate's status, cert-manager's /metrics, the journal's alert entries, the timeline's
Issuing=True (reason Renewing) transitions against the renewalTime before each.
"""

from __future__ import annotations

import time

from cryptography.hazmat.primitives import serialization

from harness.scenario_api import (
    CERTIFICATE, SECRET, all_of, certificate, certificate_done_issuing, certificate_metrics_equal,
    certificate_ready_metric, certificate_status_field, certificates_quiet, create_certificate, epoch, get,
    holds_throughout, inspect_secret, issuance_starts, no_alert_firing, renewal_time, secret_data, trigger_renewal,
)

ISSUED = 30  # a CA issuer signs in well under a second; the margin covers a loaded CI machine
METRICS = 15  # the metrics are refreshed when the controller syncs the Certificate: within seconds
DURATION = 3600  # cert-manager's minimum duration is one hour
RENEW_BEFORE = 600  # an explicit renewBefore shorter than the duration, so it is the one that applies
# Issuance leaves NotReady pending for a second or two until Prometheus scrapes Ready; margin for load.
SETTLES = 15
# Rules without `for:` fire at the first evaluation (1 s) after a wrong scrape (1 s); ten evaluations.
QUIET_WINDOW = 10
# A natural renewal, compressed: renewBefore leaves the certificate RENEWS_AFTER seconds before it is due.
RENEWS_AFTER = 20
# The trigger controller re-checks at renewalTime to the second (a work-queue AddAfter) and the CA issuer
# signs at once; limits of the spec: a renewal that starts earlier, or misses the time (no re-check), fails.
RENEWAL_EARLY = 2  # renewalTime is truncated to the second and the API's clock may run a little ahead
RENEWAL_LATE = 10


def assert_pages_no_one(scenario, lab, namespace: str, names) -> None:
    """Once Prometheus has seen the certificates Ready and no alert of theirs is active, no alert of the
    namespace is active for QUIET_WINDOW seconds."""
    scenario.steady_state(certificates_quiet(lab.alerts, namespace, names), subject=f"alerts of {namespace}",
                          expected="certificates seen Ready by Prometheus, none active", within=SETTLES)
    quiet = no_alert_firing(lab.alerts, {"namespace": namespace}, include_pending=True)
    scenario.steady_state(holds_throughout(quiet, QUIET_WINDOW), subject=f"alerts of {namespace}",
                          expected=f"none pending or firing for {QUIET_WINDOW}s", within=QUIET_WINDOW + SETTLES)


def public_key(kube, namespace: str, name: str) -> bytes:
    """The public half of the Secret's private key (what rotation is about, whatever the PEM encoding)."""
    key = serialization.load_pem_private_key(secret_data(get(kube, SECRET, namespace, name))["tls.key"], None)
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_renewal_time_and_metrics_follow_the_issued_certificate(scenario, lab, kube, namespace, ca_issuer):
    certificates = {"explicit": RENEW_BEFORE, "default": None}
    for name, before in certificates.items():
        spec = {"duration": f"{DURATION}s", **({"renewBefore": f"{before}s"} if before else {})}
        create_certificate(kube, namespace, certificate(name, ca_issuer, [f"{name}.example"], **spec))
    for name, before in certificates.items():
        subject = f"Certificate {namespace}/{name}"
        scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=subject, expected="issued",
                              within=ISSUED)
        leaf = inspect_secret(get(kube, SECRET, namespace, name)).leaf
        not_before, not_after = leaf.not_before.timestamp(), leaf.not_after.timestamp()
        status = get(kube, CERTIFICATE, namespace, name)["status"]
        want = renewal_time(not_before, not_after, before)
        scenario.note("renewal time", certificate=name, notBefore=not_before, notAfter=not_after,
                      renewBefore=before, renewalTime=status.get("renewalTime"), expected=want)
        assert epoch(status["notAfter"]) == not_after and epoch(status["renewalTime"]) == want, (
            f"{subject}: renewalTime should be notAfter - {before or 'lifetime/3'} = {want:.0f} and notAfter the "
            f"Secret's {not_after:.0f}, but the status has {status.get('renewalTime')} / {status.get('notAfter')}")
        scenario.expect(all_of(certificate_metrics_equal(lab.info.metrics_url, namespace, name, not_after, want),
                               certificate_ready_metric(lab.info.metrics_url, namespace, name, "True")),
                        subject=f"metrics of {subject}", expected="expiration = notAfter, renewal = renewalTime, "
                                                                  "ready True = 1", within=METRICS)
    assert_pages_no_one(scenario, lab, namespace, certificates)


def test_rotation_policy_never_keeps_the_key_and_always_replaces_it(scenario, lab, kube, namespace, ca_issuer):
    policies = {"keep": "Never", "rotate": "Always"}
    keys = {}
    for name, policy in policies.items():
        create_certificate(kube, namespace, certificate(name, ca_issuer, [f"{name}.example"],
                                                        privateKey={"rotationPolicy": policy}))
    for name in policies:
        scenario.steady_state(all_of(certificate_done_issuing(kube, namespace, name),
                                     certificate_status_field(kube, namespace, name, "revision", equals=1)),
                              subject=f"Certificate {namespace}/{name}", expected="issued once", within=ISSUED)
        keys[name] = public_key(kube, namespace, name)
        trigger_renewal(kube, namespace, name)
    for name, policy in policies.items():
        scenario.expect(all_of(certificate_done_issuing(kube, namespace, name),
                               certificate_status_field(kube, namespace, name, "revision", equals=2)),
                        subject=f"Certificate {namespace}/{name}", expected="renewed (revision 2)", within=ISSUED)
        renewed = inspect_secret(get(kube, SECRET, namespace, name))
        same = public_key(kube, namespace, name) == keys[name]
        assert renewed.key_matches and same == (policy == "Never"), (
            f"rotationPolicy {policy} should {'keep' if policy == 'Never' else 'replace'} the private key on renewal, "
            f"but it was {'kept' if same else 'replaced'} (new certificate matches its key: {renewed.key_matches})")
    assert_pages_no_one(scenario, lab, namespace, policies)


def test_a_certificate_renews_by_itself_at_its_renewal_time(scenario, lab, kube, namespace, ca_issuer):
    name, subject = "web", f"Certificate {namespace}/web"
    create_certificate(kube, namespace, certificate(name, ca_issuer, ["web.example"], duration=f"{DURATION}s",
                                                    renewBefore=f"{DURATION - RENEWS_AFTER}s"))
    scenario.steady_state(all_of(certificate_done_issuing(kube, namespace, name),
                                 certificate_status_field(kube, namespace, name, "revision", equals=1)),
                          subject=subject, expected="issued once", within=ISSUED)
    due = epoch(get(kube, CERTIFICATE, namespace, name)["status"]["renewalTime"])
    scenario.expect(holds_throughout(certificate_status_field(kube, namespace, name, "revision", equals=1),
                                     max(due - time.time() - RENEWAL_EARLY, 0)),
                    subject=subject, expected="not renewed before its renewalTime", within=RENEWS_AFTER + 10)
    # Waits for the renewals to be done; when each started is the limit of the spec, judged below from the
    # journal (a loaded kind run took 11 s from an on-time start to the new revision).
    scenario.expect(all_of(certificate_done_issuing(kube, namespace, name),
                           certificate_status_field(kube, namespace, name, "revision", at_least=2)),
                    subject=subject, expected="renewed by itself at its renewalTime",
                    within=max(due - time.time(), 0) + RENEWAL_LATE + ISSUED)
    # And again from the renewed certificate's own renewalTime: the schedule follows each new certificate.
    scenario.expect(certificate_status_field(kube, namespace, name, "revision", at_least=3), subject=subject,
                    expected="renewed again at the next renewalTime", within=RENEWS_AFTER + RENEWAL_LATE + ISSUED)
    late = [round(start.entry.at - epoch(start.renewal_time), 1) for start in issuance_starts(scenario.journal.entries, name)
            if start.reason == "Renewing" and start.renewal_time]
    scenario.note("figure: renewal start after renewalTime", seconds=late)
    assert len(late) >= 2 and all(-RENEWAL_EARLY <= seconds <= RENEWAL_LATE for seconds in late), (
        f"each renewal should start (Issuing=True, Renewing) at the renewalTime before it, but started {late} s "
        f"after it")
