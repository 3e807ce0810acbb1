"""Faults of nodes (kind provider only): a node stops answering, with everything on it.

NodeDown pauses the node's container (`docker pause`: the cgroup freezer) rather than stopping it. From the
cluster's side that is what a dead or partitioned production node looks like: its kubelet stops renewing its
Lease, its pods stop answering and connections to them hang until the caller's timeout (in a cloud network a
dead host sends no reset either). Stopping the container would also free its IP on the `kind` network, which
Docker hands out again in order, so the node would come back with another address than its kubelet, its
certificates and the other nodes' pod routes know (kind's own entrypoint rewrites those; ours does not:
/work/kindlab/FINDINGS.md §9b): the cluster would not heal, so revert could not mean "the node is back".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.chaos.fault import DescribedFault
from harness.errors import HarnessError
from harness.observe.conditions.nodes import node_ready
from harness.stack.kind.engine import DockerEngine
from harness.stack.kind.provider import CLUSTER_LABEL
from harness.stack.kube import api_client
from harness.wait import wait_for

# A resumed kubelet renews its Lease and posts Ready within its 10 s status interval; measured 2-12 s here.
# 120 s covers a loaded 2-core machine (the node may also restart pods it finds deleted).
NODE_BACK_READY = 120.0


@dataclass(repr=False)
class NodeDown(DescribedFault):
    """A node fails (power, kernel, network): its kubelet and every pod on it stop answering; revert brings it
    back and waits until it is Ready again. `node` is the kind node (its container has the node's name)."""

    node: str
    kubeconfig: str

    def apply(self) -> None:
        engine = DockerEngine()
        labels = engine.docker("inspect", "-f", f'{{{{index .Config.Labels "{CLUSTER_LABEL}"}}}}', self.node,
                               check=False)
        if labels.returncode != 0 or not labels.stdout.strip():
            raise HarnessError(f"NodeDown: {self.node!r} is not a kind node container. Fix: pass a node name of "
                               "the cluster (kubectl get nodes), on the kind provider")
        engine.docker("pause", self.node)

    def revert(self) -> None:
        engine = DockerEngine()
        paused = engine.docker("inspect", "-f", "{{.State.Paused}}", self.node, check=False).stdout.strip()
        if paused == "true":
            engine.docker("unpause", self.node)
        api = api_client(Path(self.kubeconfig))
        try:
            wait_for(node_ready(api, self.node), subject=f"node {self.node}", expected="Ready again after unpause",
                     timeout=NODE_BACK_READY, interval=1.0)
        finally:
            api.close()
