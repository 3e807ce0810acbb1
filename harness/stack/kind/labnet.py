"""The kind lab's network: "anchor" containers on the docker `kind` network whose network namespaces hold
the lab's servers that pods must reach (the fake DNS's nameserver listeners, Pebble, Toxiproxy).

Pods cannot reach the host's loopback, and binding on the docker bridge would put the lab on one of the
machine's own non-loopback interfaces. An anchor is a pause container (`registry.k8s.io/pause:3.9`, built
here for the node) with an address of its own on the kind network; a server listens inside its namespace
(sockets made there by harness.stack.netns, or a process started there by nsenter), so pods reach
<anchor IP>:<port> through the node, and the host reaches the same address through the bridge, while
nothing listens in the host's own namespace. Anchors are labelled with their cluster, removed on stop
(before the cluster's `kind` network can go), and a start that fails removes what it made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.stack.kind.engine import DockerEngine
from harness.stack.kind.provider import KIND_NETWORK, remove_network_if_unused
from harness.stack.leftovers import joining_kind_network
from harness.stack.netns import in_netns, nsenter_argv
from harness.stack.service import Service, sigint_ignored

ANCHOR_IMAGE = "registry.k8s.io/pause:3.9"  # preloaded in the node too; any image with a process that waits
ANCHOR_LABEL = "io.certchaos.lab-anchor"  # value: the cluster's name, so stop finds exactly ours


@dataclass(frozen=True)
class Anchor:
    name: str  # the role, e.g. "ca", "ns-public"
    container: str
    pid: int  # the pause process on the host: its /proc entry names the namespace
    ip: str  # its address on the kind network

    @property
    def netns(self) -> str:
        return f"/proc/{self.pid}/ns/net"

    def run(self, fn):
        """fn() on a thread inside this anchor's network namespace (harness.stack.netns.in_netns)."""
        return in_netns(self.netns, fn)

    def argv(self, argv: list) -> list:
        """`argv` as a command that runs inside this anchor's network namespace."""
        return nsenter_argv(self.netns, argv)

    def binder(self):
        """A fake-DNS binder (fakes.dns.transport.Binder) that binds on this anchor's IP inside its namespace,
        whatever host the listener names."""
        from fakes.dns.transport import bind_pair

        return lambda component, _host, port: self.run(lambda: bind_pair(component, self.ip, port))


class LabNetwork(Service):
    """One anchor per role in `roles`, on the `kind` network of cluster `cluster` (which must exist)."""

    def __init__(self, engine: DockerEngine, cluster: str, roles: tuple[str, ...]):
        self.engine, self.cluster, self.roles = engine, cluster, roles
        self.anchors: dict[str, Anchor] = {}

    def __getitem__(self, role: str) -> Anchor:
        return self.anchors[role]

    def _start(self) -> None:
        for role in self.roles:
            container = f"{self.cluster}-lab-{role}"
            with joining_kind_network():
                self.engine.docker("run", "-d", "--network", KIND_NETWORK, "--name", container,
                                   "--label", f"{ANCHOR_LABEL}={self.cluster}", ANCHOR_IMAGE)
            facts = json.loads(self.engine.docker("inspect", container).stdout)[0]
            ip = facts["NetworkSettings"]["Networks"][KIND_NETWORK]["IPAddress"]
            if not ip or not facts["State"]["Pid"]:
                raise HarnessError(f"lab anchor {container}: no address on the {KIND_NETWORK} network or not running")
            self.anchors[role] = Anchor(role, container, facts["State"]["Pid"], ip)

    def stop(self) -> None:
        """Remove every anchor of this cluster (also those a crashed start left), then the `kind` network if
        nothing else is attached to it any more."""
        with sigint_ignored():
            found = self.engine.docker("ps", "-aq", "--filter", f"label={ANCHOR_LABEL}={self.cluster}",
                                       check=False).stdout.split()
            if found:
                self.engine.docker("rm", "-f", *found, check=False)
            self.anchors.clear()
            remove_network_if_unused(self.engine)
