"""Two cert-manager controller replicas (the chart's replicaCount: 2): leader election decides which one works.

Spec: with leader election on (the chart's default), a second replica started while the first holds the
Lease waits for it ("attempting to acquire leader lease", client-go's words), starts none of its controllers, and the Lease
stays with the first. When the leader is stopped gracefully (SIGTERM, as a rolling update or a node drain
does), it releases the Lease on its way out (ReleaseOnCancel), so another replica takes it over within the
retry period instead of after the 60 s lease duration a crash costs (test_controller_restart.py).
Evidence: the Lease (holder, leaseTransitions), the standby replica's own log.
"""

from __future__ import annotations

import re

import pytest

from harness.scenario_api import (
    CONTROLLER_LEASE, LEADER_ELECTION_NAMESPACE, Controller, ControllerStopped, Limit, all_of, holds_throughout,
    lease_held_by, lease_taken_over, lease_view, not_, standby_controller,
)

# client-go's leaderelection, logged as it starts to try: "attempting to acquire leader lease kube-system/..." up to
# v0.2x (klog, cert-manager v1.11), "Attempting to acquire leader lease..." from v0.3x (logr, cert-manager v1.20).
WAITING = re.compile(r"[aA]ttempting to acquire leader lease")
# cert-manager logs this for each control loop it runs (the process's own start line has no controller key):
# '"msg"="starting controller" "controller"="issuers"' (v1.11's klogr), '"starting controller" ...
# controller="issuers"' (v1.20's text format).
STARTED = re.compile(r'"msg"="starting controller" "controller"=|"starting controller" [^\n]*\bcontroller="')

# A standby must stay idle longer than one retry period (cert-manager's default 15 s), so it has retried.
STANDBY_WINDOW = 20
# A released Lease is free at once: the standby retries every 15 s and the supervisor's replacement pod
# tries as it starts (~2 s). A Lease that was not released stays held until its 60 s duration runs out.
# A limit of the spec, not a wait: the time scale must not stretch it past the 60 s that tells them apart.
HANDOVER = 30


def lease_subject() -> str:
    return f"Lease {LEADER_ELECTION_NAMESPACE}/{CONTROLLER_LEASE}"


@pytest.mark.exclusive
def test_a_second_replica_waits_for_the_lease_and_starts_no_controller(scenario, lab, kube, tmp_path):
    leader = lease_view(kube, LEADER_ELECTION_NAMESPACE, CONTROLLER_LEASE)
    assert leader.get("holder"), f"the lab's controller should hold the Lease, but it is {leader}"
    with standby_controller(lab.info, tmp_path) as standby:
        scenario.expect(standby.log_contains(WAITING), subject=standby.name,
                        expected="waiting for the Lease", within=30)
        scenario.expect(holds_throughout(all_of(
            lease_held_by(kube, LEADER_ELECTION_NAMESPACE, CONTROLLER_LEASE, leader["holder"]),
            not_(standby.log_contains(STARTED))), STANDBY_WINDOW),
            subject=f"{lease_subject()} and {standby.name}",
            expected=f"held by {leader['holder']} while the standby starts no controller for {STANDBY_WINDOW}s",
            within=STANDBY_WINDOW + 10)


@pytest.mark.exclusive
def test_a_gracefully_stopped_leader_hands_the_lease_over_at_once(scenario, lab, kube, tmp_path):
    with standby_controller(lab.info, tmp_path) as standby:
        scenario.expect(standby.log_contains(WAITING), subject=standby.name,
                        expected="waiting for the Lease", within=30)
        before = lease_view(kube, LEADER_ELECTION_NAMESPACE, CONTROLLER_LEASE)
        with scenario.fault(ControllerStopped(Controller.of(lab.info))):
            scenario.expect(lease_taken_over(kube, LEADER_ELECTION_NAMESPACE, CONTROLLER_LEASE, before),
                            subject=lease_subject(),
                            expected=f"released by the stopped leader and taken over within {HANDOVER}s "
                                     "(not left to expire after 60s)",
                            within=Limit(HANDOVER), detects=True)
