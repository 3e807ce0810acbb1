"""Webhook unavailability during a node failure (kind, 1 control plane + 2 workers: `certchaos run
--worker-nodes 2`, pytest's `--certchaos-worker-nodes 2`).

Spec (a): with one webhook replica (the chart's default), the node it runs on fails: the API server's calls to
the webhook time out (failurePolicy Fail), so creating a Certificate or a CertificateRequest is rejected
("failed calling webhook") until Kubernetes gives up on the node (node-monitor-grace-period), evicts the pod
(the unreachable taint's tolerationSeconds) and the new pod on the other worker serves. Then issuance works
again by itself. The outage is as long as the cluster's node-failure timings: measured here with them
compressed (20 s + 30 s, KindStack's multi-node config); with Kubernetes' defaults (40 s + 300 s) the same
failure blocks every cert-manager change for about 6 minutes.
Spec (b): with two webhook replicas spread over the two workers (topologySpreadConstraints, as the chart's
webhook.topologySpreadConstraints renders them; the v1.11.5 chart has no podDisruptionBudget value, so the
scenario adds the PDB the v1.12 chart renders: minAvailable 1), one node failing leaves the other replica
serving: calls that reach the dead pod time out, and they stop once the API server has no path left to it.
That is later than the pod leaving the Service's ready endpoints (the node NotReady): kube-proxy on the API
server's node drops its rule at its next sync, and the API server's webhook client reuses idle HTTP/1.1
keep-alive connections opened before the failure until each times out once or idles out (90 s;
kubernetes/kubernetes#127335). A CI rehearsal saw such a call fail after the endpoints had dropped the pod.
After that every call is admitted, and a Certificate created during the failure is issued. A PDB does not
shorten that window (a node failure is no eviction through the API): the spread does; and clients of the API
(cert-manager's controller, kubectl apply in CI) see failed admissions for that window and must retry.
Evidence: the rejection messages and their times, the node's Ready condition, the webhook Service's ready
endpoints, the control plane's kube-proxy rules and open connections to the dead pod, where the webhook pods
run before and after, the Certificate's Ready condition.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

import pytest
from kubernetes import client

from harness.scenario_api import (
    NAMESPACE, NODE_MONITOR_GRACE_PERIOD, NOT_APPLICABLE_PREFIX, TIMED_OUT, UNREACHABLE,
    UNREACHABLE_TOLERATION_SECONDS, NodeDown, Seen, all_of, certificate, certificate_ready, create_certificate,
    holds_throughout, node_paths_to, node_ready, pod_nodes, ready_endpoints, ready_pods_on, wait_for,
    webhook_unreachable,
)

pytestmark = [pytest.mark.requires(node=True), pytest.mark.exclusive]

WEBHOOK = "cert-manager-webhook"  # the chart's webhook Deployment and Service
WEBHOOK_PODS = "app.kubernetes.io/component=webhook,app.kubernetes.io/instance=cert-manager"
CONTROLLER_PODS = "app.kubernetes.io/component=controller,app.kubernetes.io/instance=cert-manager"
# A rollout of the webhook (image preloaded, readiness probe 5 s + 5 s period) took 20-40 s under load; 180 s
# covers a scheduling retry on a loaded 2-core machine.
ROLLOUT = 180.0
ADMITTED_IN_A_ROW = 3  # after the shape is restored: the webhook is reachable again, not by one lucky call
ISSUED = 60  # a CA issuer signs in under a second; the controller's CertificateRequest retry backs off 5-10 s
# When the controller ran on the failed node too, its new pod first waits out the dead holder's Lease (60 s, then
# the 15 s retry period, see test_controller_restart.py) after its own eviction.
CONTROLLER_MOVED = NODE_MONITOR_GRACE_PERIOD + UNREACHABLE_TOLERATION_SECONDS + 60 + 18
# Calls hang on the paused node until the webhook's 10 s timeoutSeconds (the chart's default); the first
# probes see that at once.
DETECT = 30
# The node lifecycle controller checks every 5 s (node-monitor-period) whether the kubelet's Lease is older than
# the grace period: NotReady (Ready=Unknown) within grace + 5 s, plus a loaded machine's margin.
NOT_READY = NODE_MONITOR_GRACE_PERIOD + 5 + 25
# (a) NotReady, then the taint's toleration, then the ReplicaSet's new pod on the other worker Ready (start +
# readiness probe ~10-20 s) and in the endpoints; 60 s margin for a loaded machine.
RESCHEDULED = NOT_READY + UNREACHABLE_TOLERATION_SECONDS + 60
# (b) After the dead pod left the endpoints, the API server can still reach it: kube-proxy on its node removes
# the Service's rule to it at its next sync (1 s min-sync-period, longer on a loaded node), and the API server's
# webhook client reuses idle HTTP/1.1 keep-alive connections, opened before the failure, until each times out
# on a call or idles out (Go's IdleConnTimeout, 90 s, as client-go sets it; kubernetes/kubernetes#127335).
NO_PATH = 90 + 10 + 30
# (b) Once the API server has no path left to the dead pod, every call must be admitted for this long
# (kube-proxy picks a backend per connection at random: 10 calls that all succeed make a surviving 50% path all
# but impossible).
ALL_ADMITTED = 25


def _admitted(api: client.ApiClient, namespace: str, outcomes: list) -> Seen:
    """Dry-run create a probe Certificate, record (seconds, admitted, message) in `outcomes`. Dry run: the
    webhook is called all the same, and no probe is left for the controller to issue (hundreds of them, one per
    poll, queued the controller's work on `web` behind theirs: not Ready within 60 s in a catalogue run)."""
    name = f"probe-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    try:
        create_certificate(api, namespace, certificate(name, {"name": "ca", "kind": "Issuer"}, ["probe.example"]),
                           dry_run=True)
        outcomes.append((started, True, ""))
        return Seen(True, {"created": name})
    except client.ApiException as error:
        message = json.loads(error.body or "{}").get("message", str(error))
        outcomes.append((started, False, message))  # whole: the cause (e.g. "context deadline exceeded") is last
        return Seen(False, {"status": error.status, "message": message[:200]})


def _webhook_admits(api: client.ApiClient, namespace: str, outcomes: list):
    return lambda: _admitted(api, namespace, outcomes)


def _nodes(api: client.ApiClient, control_plane: bool) -> list[str]:
    nodes = client.CoreV1Api(api).list_node().items
    return [n.metadata.name for n in nodes
            if ("node-role.kubernetes.io/control-plane" in (n.metadata.labels or {})) == control_plane]


@pytest.fixture
def workers(kube) -> list[str]:
    found = _nodes(kube, control_plane=False)
    if len(found) < 2:
        pytest.skip(f"{NOT_APPLICABLE_PREFIX}needs 2 worker nodes (`certchaos run --worker-nodes 2`, pytest's "
                    f"--certchaos-worker-nodes 2); this one has {found}")
    return found


def _untainted_workers(api: client.ApiClient):
    def untainted() -> Seen:
        nodes = client.CoreV1Api(api).list_node().items
        taints = {node.metadata.name: [taint.key for taint in node.spec.taints] for node in nodes
                  if "node-role.kubernetes.io/control-plane" not in (node.metadata.labels or {}) and node.spec.taints}
        return Seen(not taints, taints)
    return untainted


@contextmanager
def webhook_shape(api: client.ApiClient, namespace: str, replicas: int, spread: bool) -> Iterator[dict[str, str]]:
    """The webhook Deployment with `replicas` pods (spread: at most one per node, the PDB beside it), as the
    chart's values would render it; yields pod -> node once the rollout is done; restores the old shape, and
    after a clean exit waits until the webhook admits again: the next scenario on this lab creates at once."""
    apps, policy = client.AppsV1Api(api), client.PolicyV1Api(api)
    old = apps.read_namespaced_deployment(WEBHOOK, NAMESPACE).spec
    labels = dict(old.selector.match_labels)
    # nodeTaintsPolicy Honor (beta, on by default in 1.26): the tainted control plane is no domain of the spread;
    # counted as one with 0 pods it made every worker exceed maxSkew and left the new pod Pending (measured).
    constraints = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
                    "nodeTaintsPolicy": "Honor", "labelSelector": {"matchLabels": labels}}] if spread else None

    def shape(count: int, topology) -> dict[str, str]:
        apps.patch_namespaced_deployment(WEBHOOK, NAMESPACE, {"spec": {
            "replicas": count, "template": {"spec": {"topologySpreadConstraints": topology}}}})

        def rolled_out() -> Seen:
            deployment = apps.read_namespaced_deployment(WEBHOOK, NAMESPACE)
            status, nodes = deployment.status, pod_nodes(api, NAMESPACE, WEBHOOK_PODS)
            done = (status.observed_generation == deployment.metadata.generation and status.updated_replicas == count
                    and status.ready_replicas == count and (status.replicas or 0) == count and len(nodes) == count)
            return Seen(done, {"ready": status.ready_replicas, "updated": status.updated_replicas, "pods": nodes})

        return wait_for(rolled_out, subject=f"Deployment {NAMESPACE}/{WEBHOOK}", expected=f"{count} pod(s) rolled out",
                        timeout=ROLLOUT, interval=1.0)["pods"]

    if spread:
        # A worker back from an earlier node fault is Ready before the node controller lifts its taints; Honor
        # would then leave it out of the spread and put both pods on the other worker (measured). Wait for it.
        wait_for(_untainted_workers(api), subject="the worker nodes", expected="untainted (schedulable)",
                 timeout=NOT_READY, interval=1.0)
    try:
        if spread:
            policy.create_namespaced_pod_disruption_budget(NAMESPACE, {
                "metadata": {"name": WEBHOOK}, "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}}})
            # The spread first, then the scale: a rollout that does both at once counts the old pods in the skew
            # while they terminate and put both new pods on one worker in two runs out of two (measured).
            shape(old.replicas, constraints)
        yield shape(replicas, constraints)
    finally:
        if spread:
            policy.delete_namespaced_pod_disruption_budget(WEBHOOK, NAMESPACE)
        shape(old.replicas, None)
    # Rolled out is not yet reachable: the API server's node may still route the Service to a pod that is gone
    # (the next scenario's first Certificate, created right after, timed out in a CI rehearsal's run-kind). Only
    # after a clean exit: a scenario that failed keeps its own verdict.
    outcomes: list = []

    def admits_steadily() -> Seen:
        _admitted(api, namespace, outcomes)
        return Seen(len(outcomes) >= ADMITTED_IN_A_ROW and all(ok for _, ok, _ in outcomes[-ADMITTED_IN_A_ROW:]),
                    [message[-120:] or "admitted" for _, _, message in outcomes[-ADMITTED_IN_A_ROW:]])

    wait_for(admits_steadily, subject=f"webhook {NAMESPACE}/{WEBHOOK}",
             expected=f"{ADMITTED_IN_A_ROW} dry-run creates admitted in a row", timeout=ROLLOUT, interval=1.0)


def test_one_webhook_replica_blocks_issuance_until_its_pod_is_rescheduled(scenario, lab, kube, namespace, ca_issuer,
                                                                          workers):
    with webhook_shape(kube, namespace, replicas=1, spread=False) as pods:
        [(pod, node)] = pods.items()
        controller = pod_nodes(kube, NAMESPACE, CONTROLLER_PODS)
        scenario.note("webhook placement", pod=pod, node=node, controller=controller)
        issued_within = ISSUED + (CONTROLLER_MOVED if node in controller.values() else 0)
        outcomes: list = []
        scenario.steady_state(_webhook_admits(kube, namespace, outcomes), subject="Certificate create",
                              expected="admitted by the webhook", within=DETECT)
        with scenario.fault(NodeDown(node, lab.info.kubeconfig)):
            down_at = time.monotonic()
            scenario.expect(webhook_unreachable(kube, namespace, causes=TIMED_OUT), subject="Certificate create",
                            expected="rejected: failed calling webhook, timed out", within=DETECT, detects=True,
                            probe=True)
            scenario.expect(node_ready(kube, node, "Unknown"), subject=f"node {node}",
                            expected="NotReady (its kubelet stopped reporting)", within=NOT_READY)
            not_ready_after = time.monotonic() - down_at
            outcomes.clear()
            scenario.expect(all_of(ready_pods_on(kube, NAMESPACE, WEBHOOK_PODS, 1, avoiding=node),
                                   _webhook_admits(kube, namespace, outcomes)),
                            subject="Certificate create", expected="admitted again by a webhook pod on another node",
                            within=RESCHEDULED)  # Kubernetes heals it with the node still down: noted, not `recovers`
            admitted_after = time.monotonic() - down_at
            scenario.note("webhook outage", node_not_ready_s=round(not_ready_after, 1),
                          admitted_again_s=round(admitted_after, 1),
                          rejections_after_not_ready=sum(1 for _, ok, _ in outcomes if not ok))
            # Kubernetes did not move the pod before the toleration ran out: the outage is its timings.
            assert admitted_after >= NODE_MONITOR_GRACE_PERIOD + UNREACHABLE_TOLERATION_SECONDS, admitted_after
            create_certificate(kube, namespace, certificate("web", ca_issuer, ["web.example"]))
            scenario.expect(certificate_ready(kube, namespace, "web"), subject=f"Certificate {namespace}/web",
                            expected="issued while the node is still down", within=issued_within)


def test_two_spread_webhook_replicas_keep_issuance_going_through_a_node_failure(scenario, lab, kube, namespace,
                                                                               ca_issuer, workers):
    with webhook_shape(kube, namespace, replicas=2, spread=True) as pods:
        assert len(set(pods.values())) == 2, f"the spread put both webhook pods on one node: {pods}"
        controller_nodes = set(pod_nodes(kube, NAMESPACE, CONTROLLER_PODS).values())
        # Fail the node without the controller: the scenario is about the webhook, not a controller restart.
        pod, node = next(((p, n) for p, n in pods.items() if n not in controller_nodes), next(iter(pods.items())))
        dead_ip = client.CoreV1Api(kube).read_namespaced_pod(pod, NAMESPACE).status.pod_ip
        [control_plane] = _nodes(kube, control_plane=True)
        scenario.note("webhook placement", pods=pods, failing=node, controller_nodes=sorted(controller_nodes))
        outcomes: list = []
        scenario.steady_state(_webhook_admits(kube, namespace, outcomes), subject="Certificate create",
                              expected="admitted by the webhook", within=DETECT)
        with scenario.fault(NodeDown(node, lab.info.kubeconfig)):
            down_at = time.monotonic()
            outcomes.clear()

            def dead_pod_gone() -> Seen:
                _admitted(kube, namespace, outcomes)  # keep calling: the window is what these calls saw
                endpoints = ready_endpoints(kube, NAMESPACE, WEBHOOK)
                return Seen(dead_ip not in endpoints["ready"], endpoints)

            scenario.expect(dead_pod_gone, subject=f"Service {NAMESPACE}/{WEBHOOK}",
                            expected=f"its ready endpoints without the dead pod {dead_ip}", within=NOT_READY,
                            detects=True)
            dropped_after = time.monotonic() - down_at
            paths_at_drop = node_paths_to(control_plane, dead_ip)

            def no_path_left() -> Seen:
                _admitted(kube, namespace, outcomes)
                paths = node_paths_to(control_plane, dead_ip)
                return Seen(not paths["rules"] and not paths["connections"], paths)

            scenario.expect(no_path_left, subject=f"the API server's node {control_plane}",
                            expected=f"no kube-proxy rule and no open connection to the dead pod {dead_ip}",
                            within=NO_PATH)
            no_path_after = time.monotonic() - down_at
            window = list(outcomes)
            create_certificate(kube, namespace, certificate("web", ca_issuer, ["web.example"]))
            scenario.expect(holds_throughout(_webhook_admits(kube, namespace, outcomes), ALL_ADMITTED),
                            subject="Certificate create", expected=f"admitted at every call for {ALL_ADMITTED}s",
                            within=ALL_ADMITTED + 60)
            scenario.expect(certificate_ready(kube, namespace, "web"), subject=f"Certificate {namespace}/web",
                            expected="issued while the node is down", within=ISSUED)
            failures = [(round(t - down_at, 1), message) for t, ok, message in window if not ok]
            scenario.note("webhook failure window", endpoint_dropped_s=round(dropped_after, 1),
                          no_path_s=round(no_path_after, 1), paths_at_endpoint_drop=paths_at_drop,
                          calls=len(window), failed=len(failures), failed_at_s=[t for t, _ in failures],
                          failed_after_endpoint_drop=sum(1 for t, _ in failures if t > dropped_after),
                          last_failure_s=failures[-1][0] if failures else None)
            # Calls fail only by timing out on the dead pod, never for another reason ...
            assert all(UNREACHABLE in message and any(c in message for c in TIMED_OUT) for _, message in failures), \
                "a call failed otherwise:\n" + "\n".join(f"{t}s: {message}" for t, message in failures)  # each in full
            # ... and only while the API server's node had a path to it (a call started then ends up to 10 s later).
            assert all(t <= no_path_after for t, _ in failures), (no_path_after, failures)
