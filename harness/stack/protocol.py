"""The seam every stack provider implements: what a stack does (Stack) and what it offers (Capabilities), and what
each of ours offers (LOCAL, KIND, EXISTING): here, light to import, so the provider registry and a refused option
never load a stack (and the Kubernetes client).

After kind's providers (pkg/cluster/internal/providers/provider.go): one interface, one line per method, and
a record of capability flags that callers ask instead of comparing provider names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    from kubernetes import client


@dataclass(frozen=True)
class Capabilities:
    """What a provider's stack offers. A scenario that needs what its provider lacks is not applicable there."""

    nodes: bool  # kubelet, pods, Secret volumes: workloads, reloads, HTTP-01 solver pods
    multi_node: bool  # worker nodes beside the control plane (--worker-nodes): node faults
    images: bool  # container images loaded into the nodes (cert-manager's are built here for it)
    helm_values: bool  # cert-manager installed by its chart, with the user's values (--values) after ours
    controller_process: bool  # the controller is a host process the lab supervises (signal by PID, replica by argv)
    controller_pods: bool  # the controller is the chart's Deployment (pods deleted, scaled) on nodes we can exec in
    lab_network: bool  # cert-manager reaches the lab's fake DNS, Pebble and Toxiproxy; the lab scrapes its metrics
    installs_cert_manager: bool  # certchaos installs cert-manager (and can upgrade it); else it is already there
    owns_cluster: bool  # certchaos creates the cluster and removes it; else it is the user's, never deleted
    aws_api: bool = False  # the lab's AWS API (Route 53, IAM, STS) reachable by cert-manager's Route 53 solver

    def lacking(self, *needs: str) -> list[str]:
        """The needs (capability names) this provider does not offer; an unknown name is a bug, not a skip."""
        known = {field.name for field in fields(self)}
        unknown = sorted(set(needs) - known)
        if unknown:
            raise ValueError(f"unknown capability {', '.join(unknown)}: one of {', '.join(sorted(known))}")
        return [need for need in needs if not getattr(self, need)]


# What each capability means to a user, for "not applicable" reasons and option errors.
DESCRIPTIONS = {
    "nodes": "a node (pods, Secret volumes)",
    "multi_node": "worker nodes",
    "images": "container images loaded into nodes",
    "helm_values": "cert-manager installed by its Helm chart",
    "controller_process": "the cert-manager controller as a process of the lab",
    "controller_pods": "the cert-manager controller as pods on nodes certchaos can exec in",
    "lab_network": "the lab's fake DNS, ACME CA (Pebble), Toxiproxy and metrics reachable by cert-manager",
    "installs_cert_manager": "cert-manager installed (and upgraded) by certchaos",
    "owns_cluster": "a cluster certchaos creates and removes",
    "aws_api": "the lab's AWS API (Route 53, IAM, STS) reachable by cert-manager's Route 53 solver under AWS's host names",
}

# Processes on loopback (harness.stack.local): no nodes; the lab supervises the controller and its servers are on
# loopback too.
LOCAL = Capabilities(nodes=False, multi_node=False, images=False, helm_values=False,
                     controller_process=True, controller_pods=False, lab_network=True,
                     installs_cert_manager=True, owns_cluster=True, aws_api=True)
# Real nodes and the chart's Deployments (harness.stack.kind.provider); the lab's servers sit on the kind network
# (harness.lab.providers.kind).
KIND = Capabilities(nodes=True, multi_node=True, images=True, helm_values=True,
                    controller_process=False, controller_pods=True, lab_network=True,
                    installs_cert_manager=True, owns_cluster=True, aws_api=True)
# Only the Kubernetes API (harness.stack.existing): certchaos can exec into none of its nodes, does not run its
# controller, and the cluster's cert-manager does not reach the lab's fake DNS, Pebble or Toxiproxy (nor do we
# its metrics).
EXISTING = Capabilities(nodes=False, multi_node=False, images=False, helm_values=False,
                        controller_process=False, controller_pods=False, lab_network=False,
                        installs_cert_manager=False, owns_cluster=False)


@runtime_checkable
class Stack(Protocol):
    """A running Kubernetes API with cert-manager: a Service (start() returns it running, stop() undoes it)."""

    capabilities: Capabilities  # what it offers (class attribute)
    kubeconfig: Path  # the admin kubeconfig the harness uses

    def start(self) -> "Stack": ...  # bring it up (or attach), checked ready; a failed start undoes itself
    def stop(self) -> None: ...  # undo start, in reverse; never removes what certchaos did not make
    def api(self) -> client.ApiClient: ...  # the admin's client (cached; closed by stop)
    def endpoints(self) -> dict[str, str]: ...  # name -> URL (or name) of what a user may want to reach
    def versions(self) -> dict[str, dict]: ...  # component -> {"version", "source", "path"} for the journal
    def write_kubeconfig(self, path: str | os.PathLike) -> Path: ...  # the admin kubeconfig, copied to path
    def wait_until_interrupted(self) -> None: ...  # block until SIGINT/SIGTERM; raise if the stack breaks

    def upgrade_cert_manager(self, bin_dir: str | os.PathLike | None, *,
                             on_step: Callable[[str], None] = ...) -> None: ...  # in place, as a user would
