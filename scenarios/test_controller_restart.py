"""cert-manager controller killed mid-order (OOM kill, node eviction, a rollout at the wrong moment).

Spec: the controller keeps nothing in memory that issuance depends on: after a restart while a DNS-01
challenge is presented, the new controller picks up the Order and Challenge from the API and the
certificate is issued, without a second CertificateRequest and without a failed validation at the CA.
Evidence: the controller's PID, the CertificateRequest count, the Challenge states, the CA resolver's answers.
"""

from __future__ import annotations

import pytest

from harness.chaos.process_faults import ControllerKilled
from harness.chaos.timings import ISSUANCE
from harness.lab.certificates import certificate, create_certificate
from harness.observe.conditions.acme import challenge_presented
from harness.observe.conditions.certificates import certificate_done_issuing, certificate_request_count
from harness.observe.conditions.controller import controller_restarted
from harness.observe.conditions.general import all_of

RESTART = 30  # the supervisor notices within 0.5 s; a controller is serving metrics ~2 s after its start


@pytest.mark.exclusive
def test_issuance_resumes_after_the_controller_is_killed_mid_order(scenario, lab, kube, namespace, acme_issuer):
    subject = f"Certificate {namespace}/web"
    create_certificate(kube, namespace, certificate("web", acme_issuer.ref, [acme_issuer.dns_name("web")]))
    scenario.steady_state(challenge_presented(kube, namespace, "web"), subject=f"Challenge for {namespace}/web",
                          expected="presented (the order is under way)", within=60)
    with scenario.fault(ControllerKilled(lab.info.controller_pid_file)) as killed:
        scenario.expect(controller_restarted(lab.info.controller_pid_file, killed.killed),
                        subject="cert-manager controller", expected="restarted", within=RESTART, detects=True)
    scenario.expect(all_of(certificate_done_issuing(kube, namespace, "web"),
                           certificate_request_count(kube, namespace, "web", 1)), subject=subject,
                    expected="issued by its one CertificateRequest", within=ISSUANCE, recovers=True)
