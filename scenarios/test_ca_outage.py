"""CA outage and latency: the ACME server is unreachable, or answers slowly.

Spec: while the CA is unreachable, issuance stalls with the connection error visible and the ACME client
metric counting requests that got no response (status "999"); once the CA is back, issuance resumes by
itself; the Certificate exists and says Ready=False all along the outage. A slow CA (seconds per request)
slows issuance down but it completes, and cert-manager's own ACME request duration metric shows the delay.
Evidence: the ACME request count by status and duration summary (sum/count) for this scenario's host
label, the Certificate's Ready condition.
"""

from __future__ import annotations

from harness.chaos.proxy_faults import ProxyDown, ProxyLatency
from harness.chaos.timings import ISSUANCE
from harness.lab.certificates import certificate, create_certificate
from harness.observe.conditions.certificates import certificate_done_issuing, certificate_not_ready, certificate_ready
from harness.observe.conditions.general import holds_throughout
from harness.observe.conditions.metrics import acme_duration_totals, acme_request_total, mean_durations, acme_requests_at_least

OUTAGE = 20  # seconds the CA stays down after cert-manager noticed
# After the outage, cert-manager's order retry backoff (seconds to a minute) plus a whole issuance.
RECOVERY = 90 + ISSUANCE
SLOW_MS = 2_000  # per response: well under cert-manager's ACME client timeout, so requests succeed late


def test_issuance_stalls_while_the_ca_is_down_and_resumes_after(scenario, lab, kube, namespace, acme_issuer):
    subject = f"Certificate {namespace}/web"
    host = "%s:%d" % acme_issuer.proxy.listen  # the ACME metric's host label: this scenario's path to the CA
    baseline = acme_request_total(lab.info.metrics_url, status="999", host=host)
    with scenario.fault(ProxyDown(acme_issuer.proxy)):
        create_certificate(kube, namespace, certificate("web", acme_issuer.ref, [acme_issuer.dns_name("web")]))
        scenario.expect(acme_requests_at_least(lab.info.metrics_url, baseline + 1, status="999", host=host),
                        subject="ACME client", expected="requests without response counted", within=60, detects=True)
        scenario.expect(certificate_not_ready(kube, namespace, "web"), subject=subject, expected="Ready=False",
                        within=15)  # the readiness controller writes it within a second of the creation
        scenario.expect(holds_throughout(certificate_not_ready(kube, namespace, "web"), OUTAGE), subject=subject,
                        expected="Ready=False all along while the CA is down", within=OUTAGE + 15)
    scenario.expect(certificate_done_issuing(kube, namespace, "web"), subject=subject,
                    expected="issued once the CA is back", within=RECOVERY, recovers=True)


def test_a_slow_ca_delays_issuance_but_it_completes(scenario, lab, kube, namespace, acme_issuer):
    subject = f"Certificate {namespace}/web"
    host = "%s:%d" % acme_issuer.proxy.listen  # the ACME metric's host label: this scenario's path to the CA
    before = acme_duration_totals(lab.info.metrics_url, host=host)  # the Issuer's registration, not slowed
    with scenario.fault(ProxyLatency(acme_issuer.proxy, SLOW_MS)):
        create_certificate(kube, namespace, certificate("web", acme_issuer.ref, [acme_issuer.dns_name("web")]))
        # Each of the ~10 ACME requests of an issuance waits SLOW_MS more.
        scenario.expect(certificate_done_issuing(kube, namespace, "web"), subject=subject,
                        expected="issued despite the slow CA", within=ISSUANCE + 60)
        after = acme_duration_totals(lab.info.metrics_url, host=host)  # read while every request is slowed
    scenario.steady_state(certificate_ready(kube, namespace, "web"), subject=subject, expected="Ready=True", within=10)
    durations = mean_durations(before, after)
    scenario.note("ACME request durations (requests, mean s) by path", host=host, durations=durations)
    # Every request through the slow proxy waits SLOW_MS for its response, so every path's mean is at least that.
    assert durations and all(mean >= SLOW_MS / 1000 * 0.95 for _, mean in durations.values()), (
        f"cert-manager's ACME client should have measured requests of at least {SLOW_MS} ms to {host}, "
        f"but measured {durations}")
