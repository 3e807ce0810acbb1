"""cert-manager controller killed mid-order (OOM kill, node eviction, a rollout at the wrong moment).

Spec: the controller keeps nothing in memory that issuance depends on: after its pod is killed while a
DNS-01 challenge is presented, the replacement pod waits for the dead holder's Lease to expire (no
release: it was SIGKILLed), takes it over, picks up the same Order and Challenge from the API and the
certificate is issued, without a second CertificateRequest and without a failed validation at the CA.
Evidence: the Lease (kube-system/cert-manager-controller: its holder's renewals stop, which is what time to
detect measures; then a new holder, one more leaseTransitions), the
LeaderElection Event, the CertificateRequest count, the Challenge states (the one Challenge never
invalid), the CA resolver's answers (every TXT answer it gave carried the record).
Alerts: the restart (the supervisor starts the new process within a second; its /metrics answers again
within seconds) is shorter than CertManagerAbsent's window (lab `for:` 10 s, production 5 min), so it never
fires at any poll from the kill until the Lease is taken over; the journal shows whether Prometheus saw the
gap at all (pending). Once issued, no alert of the scenario's namespace is active. NotReady is not
asserted: the takeover alone (60-93 s) plus the issuance is longer than the lab's 120 s `for:`, so it may
fire here where production's 10 minutes would not. (This scenario is exclusive: the absent alert is global.)
Measured: Absent pending for ~1 s after the kill, or not seen at all (scrapes every 1 s). A finding: the
kill takes the Certificate's metrics with it, and the new leader only exports them once it syncs the
Certificate (~75 s later), so NotReady went inactive and pending again: its `for:` restarts on every
controller restart, and a controller restarting faster than that window pages neither NotReady nor Absent.
"""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from harness.scenario_api import (
    ABSENT, CONTROLLER_LEASE, ISSUANCE, LEADER_ELECTION_NAMESPACE, Controller, ControllerKilled, all_of,
    certificate, certificate_done_issuing, certificate_request_count, certificates_quiet, challenge_presented,
    create_certificate, holds_until, lease_taken_over, lease_unrenewed, lease_view, no_alert_firing,
)

# A SIGKILLed holder never releases the Lease. The new pod first sees it at start (local: ~2 s after the
# kill; kind: the ReplicaSet's new pod is scheduled and started first, its image already on the node),
# must watch it unrenewed for the lease duration (60 s, cert-manager's default, which the chart keeps),
# then tries on its retry period (15 s, jittered up to 1.2x more: at most 33 s): 60 + 33 + start, plus
# a margin for a loaded 2-core machine. (kind under load 45-80: the pod start alone took 78 s; use
# CERTCHAOS_TIME_SCALE=2 there.)
LEASE_TAKEOVER = 120
QUIET_WITHIN = 30  # Ready is scraped within a second, NotReady goes inactive at the next evaluation
# The leader renews its Lease every retry period (cert-manager's default 15 s, no jitter in client-go's
# renew loop): a longer silence shows in the API that the leader is gone, well before the 60 s expiry.
UNRENEWED = 15 + 5


def _challenge_states(scenario, namespace: str) -> dict[str, list[str]]:
    """Challenge subject -> the states the timeline recorded for it, in order."""
    states: dict[str, list[str]] = {}
    for entry in scenario.journal.entries:
        if entry.kind == "resource-condition" and entry.subject.startswith(f"Challenge {namespace}/"):
            if "state" in entry.detail and (not states.get(entry.subject) or states[entry.subject][-1] != entry.detail["state"]):
                states.setdefault(entry.subject, []).append(entry.detail["state"])
    return states


@pytest.mark.exclusive
def test_issuance_resumes_after_the_controller_is_killed_mid_order(scenario, lab, kube, namespace, acme_issuer):
    subject = f"Certificate {namespace}/web"
    name = acme_issuer.dns_name("web")
    create_certificate(kube, namespace, certificate("web", acme_issuer.ref, [name]))
    scenario.steady_state(challenge_presented(kube, namespace, "web"), subject=f"Challenge for {namespace}/web",
                          expected="presented (the order is under way)", within=60)
    before = lease_view(kube, LEADER_ELECTION_NAMESPACE, CONTROLLER_LEASE)
    assert before.get("holder"), f"the controller holds no Lease before the fault: {before}"
    lease = f"Lease {LEADER_ELECTION_NAMESPACE}/{CONTROLLER_LEASE}"
    with scenario.fault(ControllerKilled(Controller.of(lab.info))):
        killed_at = time.monotonic()
        # Meanwhile the restart must not page: it is shorter than CertManagerAbsent's `for:`.
        not_paged = no_alert_firing(lab.alerts, alertnames=[ABSENT])
        scenario.expect(holds_until(not_paged, lease_unrenewed(kube, LEADER_ELECTION_NAMESPACE, CONTROLLER_LEASE,
                                                               before["holder"], UNRENEWED)),
                        subject=lease, expected=f"no longer renewed by its killed holder ({UNRENEWED}s)",
                        within=UNRENEWED + 30, detects=True)
        seen = scenario.expect(holds_until(not_paged, lease_taken_over(kube, LEADER_ELECTION_NAMESPACE,
                                                                      CONTROLLER_LEASE, before)),
                               subject=lease, expected=f"taken over by the replacement pod, {ABSENT} never firing",
                               within=LEASE_TAKEOVER)
        scenario.note("lease taken over", seconds_after_kill=round(time.monotonic() - killed_at, 1), **seen["goal"])
    scenario.expect(all_of(certificate_done_issuing(kube, namespace, "web"),
                           certificate_request_count(kube, namespace, "web", 1)), subject=subject,
                    expected="issued by its one CertificateRequest", within=ISSUANCE, recovers=True)
    scenario.steady_state(certificates_quiet(lab.alerts, namespace, ["web"]), subject=f"alerts of {subject}",
                          expected="seen Ready by Prometheus, none active once issued", within=QUIET_WITHIN)
    absent = [e.detail["state"] for e in scenario.journal.entries if e.kind == "alert" and e.detail["alertname"] == ABSENT]
    scenario.note("cert-manager absent during the restart", states=absent)
    assert "firing" not in absent, f"{ABSENT} fired for a restart shorter than its window: {absent}"

    after = lease_view(kube, LEADER_ELECTION_NAMESPACE, CONTROLLER_LEASE)
    assert after["holder"] != before["holder"] and after["leaseTransitions"] == before["leaseTransitions"] + 1
    events = client.CoreV1Api(kube).list_namespaced_event(
        LEADER_ELECTION_NAMESPACE, field_selector=f"involvedObject.name={CONTROLLER_LEASE}").items
    assert any(e.reason == "LeaderElection" and after["holder"] in (e.message or "") for e in events), \
        [(e.reason, e.message) for e in events]
    # One Challenge, picked up where it was: never invalid, ended valid (or cleaned up after it).
    states = _challenge_states(scenario, namespace)
    assert len(states) == 1, f"expected the one Challenge to resume, the timeline shows {states}"
    [history] = states.values()
    assert "invalid" not in history and "valid" in history, history
    # The CA validated against a record it could see: every TXT answer of its resolver carried it.
    answers = lab.dns.log(kind="query", view="ca_resolver", type="TXT", name=f"_acme-challenge.{name}.")
    assert answers and all(entry["rcode"] == "NOERROR" and entry["answers"] for entry in answers), answers
