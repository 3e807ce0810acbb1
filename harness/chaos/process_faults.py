"""Faults of cert-manager's processes: the controller killed mid-work, or stopped gracefully.

Each fault takes a Controller handle (where the controller runs) and decides by the provider's capabilities,
so one scenario means the same on both: where the controller is a process of the lab (controller_process,
local) the supervisor runs it (a PID file; it starts a new one with a fresh hostname, as a Deployment starts a
new pod); where it is the chart's Deployment (controller_pods, kind) the fault deletes the leader's pod (its
ReplicaSet starts a new pod, a new Lease identity), or while the leader is gone its replacement.

Killed on kind: a pod deleted with grace period 0 still gets SIGTERM and 2 s from its kubelet (the kubelet's
minimum grace), which is enough for cert-manager to release its Lease: a crash it would not be. So the
controller's container is first frozen (SIGSTOP through the node's containerd) and then its pod is deleted
with grace 0: the process never runs again and leaves the Lease to expire, as an OOM kill or a lost node does.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.chaos.fault import DescribedFault
from harness.errors import HarnessError
from harness.observe.conditions.lease import lease_view
from harness.stack.certmanager import CONTROLLER_LEASE, LEADER_ELECTION_NAMESPACE, NAMESPACE
from harness.stack.kind.engine import DockerEngine
from harness.stack.kind.podlog import CONTROLLER_SELECTOR
from harness.stack.kube import api_client

DEPLOYMENT = "cert-manager"  # the chart's controller Deployment (templates/deployment.yaml: the release name)
# cert-manager's Lease identity: the pod's hostname + this suffix (cmd/controller/app/controller.go,
# startLeaderElection: `Identity: id + "-external-cert-manager-controller"`).
IDENTITY_SUFFIX = "-external-cert-manager-controller"


@dataclass(frozen=True)
class Controller:
    """Where cert-manager's controller runs: a process of the lab (`process`: the supervisor's `pid_file`), or the
    chart's Deployment (reached with `kubeconfig`). `provider` names the provider, for the journal."""

    provider: str
    kubeconfig: str
    pid_file: str | None = None
    process: bool = False

    @classmethod
    def of(cls, info) -> "Controller":
        """The handle of a lab (a LabInfo, or anything with provider, kubeconfig, controller_pid_file and
        capabilities)."""
        capabilities = info.capabilities
        if not (capabilities.controller_process or capabilities.controller_pods):
            raise HarnessError(f"provider {info.provider}: certchaos can neither signal nor delete its cert-manager "
                               "controller (a scenario faulting it should require controller_process or "
                               "controller_pods)")
        return cls(info.provider, str(info.kubeconfig), getattr(info, "controller_pid_file", None) or None,
                   process=capabilities.controller_process)

    def api(self) -> client.ApiClient:
        return api_client(Path(self.kubeconfig))

    def leader_pod(self, api: client.ApiClient) -> str:
        """The pod whose controller holds the Lease (kind only: its identity is the pod's hostname)."""
        holder = lease_view(api, LEADER_ELECTION_NAMESPACE, CONTROLLER_LEASE).get("holder") or ""
        if not holder.endswith(IDENTITY_SUFFIX):
            raise HarnessError(f"no cert-manager controller holds Lease {LEADER_ELECTION_NAMESPACE}/"
                               f"{CONTROLLER_LEASE} (holder {holder!r}): nothing to fault")
        return holder[: -len(IDENTITY_SUFFIX)]

    def pod_to_fault(self, api: client.ApiClient) -> tuple[str, client.V1Pod]:
        """The leader's pod; while the leader is gone (killed, its Lease not expired yet; or released) the
        Deployment's pod that replaces it, as on local a second kill hits the supervisor's new process (a
        controller that dies again before it took over: a crash loop)."""
        core = client.CoreV1Api(api)
        try:
            leader = self.leader_pod(api)
            return leader, core.read_namespaced_pod(leader, NAMESPACE)
        except HarnessError:  # no holder: a released Lease
            leader = None
        except ApiException as error:
            if error.status != 404:
                raise
        pods = [pod for pod in core.list_namespaced_pod(NAMESPACE, label_selector=CONTROLLER_SELECTOR).items
                if pod.metadata.deletion_timestamp is None]
        if not pods:
            raise HarnessError(f"the Lease's holder {leader or '(none)'} is gone and no controller pod replaces it "
                               "yet: nothing to fault")
        return pods[0].metadata.name, pods[0]


def _freeze(pod: client.V1Pod) -> None:
    """SIGSTOP the pod's container through containerd on its node (the kind node container's `ctr`)."""
    [status] = pod.status.container_statuses
    container = status.container_id.split("://", 1)[1]
    DockerEngine().docker("exec", pod.spec.node_name, "ctr", "-n", "k8s.io", "task", "kill", "--signal", "SIGSTOP",
                          container)


@dataclass(repr=False)
class ControllerKilled(DescribedFault):
    """The cert-manager controller dies mid-work (OOM kill, eviction); its supervisor starts a new one."""

    controller: Controller
    killed: int | str | None = None  # the PID that got the signal (local) or the pod deleted (kind)
    SIGNAL: ClassVar[int] = signal.SIGKILL
    # kind: the pod's deletion grace period; 0 = no time to shut down (the kubelet kills it), None = the pod's own
    GRACE: ClassVar[int | None] = 0

    def apply(self) -> None:
        if self.controller.process:
            self.killed = int(Path(self.controller.pid_file).read_text())
            os.kill(self.killed, self.SIGNAL)
            return
        api = self.controller.api()
        try:
            self.killed, pod = self.controller.pod_to_fault(api)
            core = client.CoreV1Api(api)
            # A replacement still being created runs no process yet: deleting it is the whole kill.
            if self.SIGNAL == signal.SIGKILL and any(s.container_id for s in pod.status.container_statuses or []):
                _freeze(pod)
            core.delete_namespaced_pod(self.killed, NAMESPACE, grace_period_seconds=self.GRACE)
        finally:
            api.close()

    def revert(self) -> None:
        """Nothing to undo: the new pod is the supervisor's job, and the scenario's to observe."""


@dataclass(repr=False)
class ControllerStopped(ControllerKilled):
    """The cert-manager controller is stopped gracefully (SIGTERM: a rolling update, a node drain); its
    supervisor starts a new pod."""

    SIGNAL: ClassVar[int] = signal.SIGTERM
    GRACE: ClassVar[int | None] = None
