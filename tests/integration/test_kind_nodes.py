"""The kind provider with workers, and the faults that decide per provider on it: a multi-node cluster comes up
with every node Ready, NodeDown takes a worker away and brings it back Ready, and the controller faults delete
the leader's pod (killed: the Lease must expire; stopped: the Lease is released) before a CA-issued
Certificate is issued by the new leader.

Needs Docker and `certchaos images build`; runs only with `-m kind` (`make test-kind`). The figures it prints
(create to cert-manager Ready, memory, the takeover gaps) are the ones in the README.
"""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from harness.chaos.node_faults import NodeDown
from harness.chaos.process_faults import Controller, ControllerKilled, ControllerStopped
from harness.lab.issuers import make_ca_issuer
from harness.observe.conditions.certificates import certificate_ready
from harness.observe.conditions.lease import lease_taken_over, lease_view
from harness.observe.conditions.nodes import node_ready
from harness.stack.certmanager import CONTROLLER_LEASE, LEADER_ELECTION_NAMESPACE
from harness.stack.kind.provider import NODE_MONITOR_GRACE_PERIOD, KindStack
from harness.stack.kube import ensure_namespace
from harness.wait import Seen, wait_for

pytestmark = pytest.mark.kind
# NotReady within the grace period + the lifecycle controller's 5 s check, plus a loaded machine's margin.
NOT_READY = NODE_MONITOR_GRACE_PERIOD + 5 + 25
# A SIGKILLed leader's Lease expires after 60 s, the new pod retries every 15 s (x1.2 jitter) after its start.
LEASE_EXPIRY_TAKEOVER = 60 + 18 + 60
# A released Lease is free at once; the new pod starts (image on the node) and tries as it starts.
RELEASED_TAKEOVER = 60
ISSUED = 60  # a CA issuer signs in under a second once a controller leads


@pytest.fixture(scope="module")
def cluster() -> KindStack:
    started = time.monotonic()
    stack = KindStack(workers=2).start()
    print(f"\nkind stack with 2 workers: cert-manager Ready {time.monotonic() - started:.0f}s after start")
    try:
        stats = stack.engine.docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}").stdout
        print("memory:\n" + "\n".join(line for line in stats.splitlines() if stack.name in line))
        yield stack
    finally:
        stack.stop()


def _roles(api) -> dict[str, str]:
    return {n.metadata.name: "control-plane" if "node-role.kubernetes.io/control-plane" in n.metadata.labels
            else "worker" for n in client.CoreV1Api(api).list_node().items}


def test_two_workers_join_and_are_ready(cluster):
    api = cluster.api()
    roles = _roles(api)
    assert sorted(roles.values()) == ["control-plane", "worker", "worker"], roles
    assert all(node_ready(api, node)() for node in roles)


def _leader(api) -> dict:
    return wait_for(lambda: Seen(bool(lease_view(api, LEADER_ELECTION_NAMESPACE, CONTROLLER_LEASE).get("holder")),
                                 lease_view(api, LEADER_ELECTION_NAMESPACE, CONTROLLER_LEASE)),
                    subject="the controller's Lease", expected="held", timeout=RELEASED_TAKEOVER, interval=1.0)


@pytest.mark.parametrize("fault, within", [(ControllerStopped, RELEASED_TAKEOVER),
                                           (ControllerKilled, LEASE_EXPIRY_TAKEOVER)])
def test_a_faulted_controller_pod_is_replaced_and_the_new_leader_issues(cluster, fault, within):
    api = cluster.api()
    namespace = f"ctl-{fault.__name__.lower()}"
    ensure_namespace(api, namespace)
    issuer = make_ca_issuer(api, namespace)
    before = _leader(api)
    applied = fault(Controller("kind", str(cluster.kubeconfig)))
    applied.apply()
    faulted = time.monotonic()
    assert before["holder"].startswith(applied.killed)
    after = wait_for(lease_taken_over(api, LEADER_ELECTION_NAMESPACE, CONTROLLER_LEASE, before),
                     subject="the controller's Lease", expected="taken over by the new pod", timeout=within,
                     interval=1.0)
    gap = time.monotonic() - faulted
    print(f"\n{fault.__name__}: Lease taken over {gap:.0f}s after the fault by {after['holder']}")
    if fault is ControllerKilled:
        # No release on a crash: the new pod had to wait until the dead holder's Lease expired.
        assert gap >= after["leaseDurationSeconds"] - 5, (gap, after)
    client.CustomObjectsApi(api).create_namespaced_custom_object("cert-manager.io", "v1", namespace, "certificates", {
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "leaf"},
        "spec": {"secretName": "leaf", "dnsNames": ["leaf.kind.test"], "issuerRef": issuer}})
    wait_for(certificate_ready(api, namespace, "leaf"), subject=f"Certificate {namespace}/leaf",
             expected="issued by the new leader", timeout=ISSUED, interval=1.0)


# Last in the module: a paused worker can leave the webhook without ready endpoints for a while after it is
# back (measured: the next test's create was refused), and the tests above need the webhook.
def test_a_downed_worker_turns_not_ready_and_comes_back_ready(cluster):
    api = cluster.api()
    worker = sorted(node for node, role in _roles(api).items() if role == "worker")[0]
    fault = NodeDown(worker, str(cluster.kubeconfig))
    fault.apply()
    try:
        down = time.monotonic()
        wait_for(node_ready(api, worker, "Unknown"), subject=f"node {worker}", expected="NotReady (Unknown)",
                 timeout=NOT_READY, interval=1.0)
        print(f"\n{worker} NotReady {time.monotonic() - down:.0f}s after the pause")
        paused = cluster.engine.docker("inspect", "-f", "{{.State.Paused}}", worker).stdout.strip()
        assert paused == "true"
    finally:
        back = time.monotonic()
        fault.revert()
        print(f"{worker} Ready again {time.monotonic() - back:.0f}s after unpause")
    assert node_ready(api, worker)()
    # The webhook's pod may have been evicted from the paused node: the next tests need it answering again.
    cluster.wait_webhook()
