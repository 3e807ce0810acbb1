"""Conditions and readings on nodes and where pods run: which node hosts a component, whether a node is
Ready, which of a Service's endpoints are ready, and which paths to a pod the API server's node still has
(what the API server's webhook calls can reach)."""

from __future__ import annotations

import re

from kubernetes import client

from harness.errors import HarnessError
from harness.stack.kind.engine import DockerEngine
from harness.wait import Condition, Seen


def node_ready_status(api: client.ApiClient, node: str) -> str:
    """The node's Ready condition status: "True", "False" or "Unknown" (its kubelet stopped reporting)."""
    conditions = client.CoreV1Api(api).read_node(node).status.conditions or []
    return next((c.status for c in conditions if c.type == "Ready"), "Unknown")


def node_ready(api: client.ApiClient, node: str, status: str = "True") -> Condition:
    """The node's Ready condition has `status` ("True": Ready; "Unknown": the node lifecycle controller
    gave up on its kubelet after node-monitor-grace-period)."""
    def condition() -> Seen:
        now = node_ready_status(api, node)
        return Seen(now == status, {"node": node, "Ready": now})
    return condition


def pod_nodes(api: client.ApiClient, namespace: str, selector: str) -> dict[str, str]:
    """Running, not-deleted pods matching `selector` -> the node each runs on."""
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items
    return {pod.metadata.name: pod.spec.node_name for pod in pods
            if pod.metadata.deletion_timestamp is None and pod.status.phase == "Running"}


def ready_pods_on(api: client.ApiClient, namespace: str, selector: str, count: int, avoiding: str) -> Condition:
    """`count` pods matching `selector` are Ready on nodes other than `avoiding` (rescheduled off a failed
    node, or spread so that one node's failure leaves the rest)."""
    def condition() -> Seen:
        pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items
        ready = {pod.metadata.name: pod.spec.node_name for pod in pods
                 if pod.metadata.deletion_timestamp is None and pod.spec.node_name != avoiding
                 and any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])}
        return Seen(len(ready) >= count, {"ready_elsewhere": ready, "avoiding": avoiding})
    return condition


def ready_endpoints(api: client.ApiClient, namespace: str, service: str) -> dict[str, list[str]]:
    """The Service's endpoint addresses by readiness: {"ready": [...], "not_ready": [...]} (pod IPs)."""
    endpoints = client.CoreV1Api(api).read_namespaced_endpoints(service, namespace)
    seen: dict[str, list[str]] = {"ready": [], "not_ready": []}
    for subset in endpoints.subsets or []:
        seen["ready"] += [address.ip for address in subset.addresses or []]
        seen["not_ready"] += [address.ip for address in subset.not_ready_addresses or []]
    return seen


def node_paths_to(node: str, ip: str, engine: DockerEngine | None = None) -> dict[str, list[str]]:
    """How processes on kind node `node` (the API server, on the control plane) can still reach pod `ip`:
    "rules": kube-proxy's DNAT rules to it in the node's nat table (new connections to a Service), and
    "connections": established TCP connections to it (conntrack), such as a client's idle keep-alive ones.
    A pod that left a Service's ready endpoints is still called through either until both are gone. A node
    that cannot be read raises HarnessError: an unread table must not pass for an empty one."""
    engine = engine or DockerEngine()
    target = re.compile(rf"--to-destination {re.escape(ip)}:")
    dumps = [engine.docker("exec", node, save, "-t", "nat", check=False)
             for save in ("iptables-nft-save", "iptables-legacy-save")]  # whichever backend kube-proxy wrote
    tracked = engine.docker("exec", node, "conntrack", "-L", "-p", "tcp", "--reply-src", ip, "--state", "ESTABLISHED",
                            check=False)
    if all(dump.returncode for dump in dumps) or tracked.returncode:
        failed = next(r for r in (*dumps, tracked) if r.returncode)
        raise HarnessError(f"node {node}: could not read its paths to {ip}: `{' '.join(failed.args[-6:])}` exited "
                           f"{failed.returncode}: {failed.stderr.strip()[:200]}")
    rules = [line for dump in dumps for line in dump.stdout.splitlines() if target.search(line)]
    return {"rules": rules, "connections": [line for line in tracked.stdout.splitlines() if line.strip()]}
