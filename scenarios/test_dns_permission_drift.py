"""DNS-provider permission drift: the credential cert-manager updates DNS with may no longer write
_acme-challenge records (its policy narrowed, like an IAM policy edited by someone else).

Spec: during a renewal the current Secret stays valid and the Certificate stays Ready=True while the renewal
stalls with the refusal visible on the Challenge; cert-manager retries with growing intervals; restoring the
permission completes the renewal with no human action. Evidence: the Challenge reason, the refused updates
in the fake DNS log (count and spacing), the Secret's serial and chain before and after.
"""

from __future__ import annotations

from harness.chaos.actions import expire_authorizations, trigger_renewal
from harness.chaos.dns_faults import TsigPolicyNarrowed
from harness.chaos.timings import ISSUANCE
from harness.lab.certificates import certificate, create_certificate
from harness.observe.conditions.acme import challenge_reason_contains
from harness.observe.conditions.certificates import (
    certificate_done_issuing, certificate_ready, secret_serial_changed,
)
from harness.observe.conditions.dns import refused_updates
from harness.observe.conditions.general import all_of, holds_throughout, not_
from harness.observe.resources import SECRET, get
from harness.observe.tlsinspect import inspect_secret

REFUSALS = 3  # refused updates to see before restoring: enough to measure the retry spacing
# cert-manager's challenge queue retries failures after 5 s, doubling: three refusals take ~15 s.
REFUSALS_WITHIN = 90
STAYS_READY = 10  # seconds the old certificate must keep being Ready while the renewal is stuck
# After the restore the next retry is at most one backoff step (~20-40 s) away, then a whole issuance.
RECOVERY = 60 + ISSUANCE


def test_renewal_stalls_visibly_and_completes_once_the_permission_is_restored(
        scenario, lab, kube, namespace, acme_issuer):
    name, subject = "web", f"Certificate {namespace}/web"
    create_certificate(kube, namespace, certificate(name, acme_issuer.ref, [acme_issuer.dns_name("web")]))
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=subject,
                          expected="Ready=True and done issuing", within=ISSUANCE)
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
        scenario.expect(holds_throughout(all_of(certificate_ready(kube, namespace, name),
                                                not_(secret_serial_changed(kube, namespace, name, before.serial))),
                                         STAYS_READY),
                        subject=subject, expected="still Ready=True and serving the old certificate",
                        within=STAYS_READY + 10)
        times = scenario.expect(refused_updates(lab.dns, acme_issuer.key, REFUSALS), subject=f"TSIG key {acme_issuer.key}",
                                expected=f"{REFUSALS} refused updates (retries)", within=REFUSALS_WITHIN)["at"]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert all(later >= earlier * 0.9 for earlier, later in zip(gaps, gaps[1:])), (
        f"retries should back off (growing gaps), but the refused updates came {gaps} s apart")

    scenario.expect(secret_serial_changed(kube, namespace, name, before.serial), subject=f"Secret {namespace}/{name}",
                    expected="to hold the renewed certificate", within=RECOVERY, recovers=True)
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=subject,
                          expected="Ready=True and done issuing", within=30)
    after = inspect_secret(get(kube, SECRET, namespace, name), root=root)
    assert before.verified and after.verified and after.key_matches, (before.summary(), after.summary())
