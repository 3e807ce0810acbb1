"""Process and node faults without a cluster: the multi-node kind config, the controller handle, the faults'
reprs (valid Python) and their refusals of bad input, the paths to a pod a node still has."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.chaos.node_faults import NodeDown
from harness.chaos.process_faults import Controller, ControllerKilled, ControllerStopped, IDENTITY_SUFFIX
from harness.errors import HarnessError
from harness.lab import providers
from harness.lab.lab import LabInfo
from harness.observe.conditions.nodes import node_paths_to
from harness.stack.kind.provider import (KindStack, NODE_MONITOR_GRACE_PERIOD, UNREACHABLE_TOLERATION_SECONDS,
                                         cluster_config)


def test_workers_add_worker_nodes_and_compress_node_failure():
    config = yaml.safe_load(yaml.safe_dump(cluster_config("c", 40123, workers=2)))
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker", "worker"]
    [patch] = [yaml.safe_load(text) for text in config["kubeadmConfigPatches"]]
    assert patch["kind"] == "ClusterConfiguration"
    assert patch["controllerManager"]["extraArgs"]["node-monitor-grace-period"] == f"{NODE_MONITOR_GRACE_PERIOD}s"
    assert patch["apiServer"]["extraArgs"]["default-unreachable-toleration-seconds"] == str(UNREACHABLE_TOLERATION_SECONDS)
    # Still more than one missed kubelet Lease renewal (10 s): a slow node is not declared dead at once.
    assert NODE_MONITOR_GRACE_PERIOD > 10 and UNREACHABLE_TOLERATION_SECONDS < 300


def test_a_single_node_cluster_keeps_kubernetes_default_timings_and_no_control_plane_leader_election():
    config = cluster_config("c", 40123)
    assert config["nodes"] == [{"role": "control-plane"}]
    [patch] = [yaml.safe_load(text) for text in config["kubeadmConfigPatches"]]
    assert patch["controllerManager"]["extraArgs"] == {"leader-elect": "false"} and "apiServer" not in patch
    assert patch["scheduler"]["extraArgs"] == {"leader-elect": "false"}


def test_negative_workers_is_a_clear_error():
    with pytest.raises(HarnessError, match="worker-nodes must be 0 or more"):
        KindStack(workers=-1)


def _info(provider: str, pid_file: str = "/run/cm.pid") -> LabInfo:
    return LabInfo(kubeconfig="/lab/kubeconfig", metrics_url="", dns_control_url="", dns_authoritative=("", 0),
                   zone="", pebble_listen=("", 0), pebble_management_url="", pebble_ca_bundle_path="",
                   toxiproxy_url="", controller_pid_file=pid_file, webhook=("", 0), webhook_ca_bundle="",
                   components={}, provider=provider, capabilities=providers.provider(provider).CAPABILITIES)


@pytest.mark.parametrize("fault", [ControllerKilled, ControllerStopped])
def test_controller_faults_read_as_python(fault):
    made = fault(Controller.of(_info("kind", pid_file="")))
    assert eval(repr(made)).controller == made.controller  # noqa: S307 - our own repr
    assert made.controller == Controller("kind", "/lab/kubeconfig", None)


def test_the_local_fault_signals_the_supervised_process(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "pid").write_text(str(child.pid))
        fault = ControllerStopped(Controller.of(_info("local", str(tmp_path / "pid"))))
        fault.apply()
        assert child.wait(timeout=10) == -signal.SIGTERM and fault.killed == child.pid
    finally:
        child.kill()


def test_the_leader_pod_is_the_lease_holder_without_cert_managers_suffix(monkeypatch):
    monkeypatch.setattr("harness.chaos.process_faults.lease_view",
                        lambda api, ns, name: {"holder": "cert-manager-7d9f-abcde" + IDENTITY_SUFFIX})
    assert Controller("kind", "/k").leader_pod(None) == "cert-manager-7d9f-abcde"
    monkeypatch.setattr("harness.chaos.process_faults.lease_view", lambda api, ns, name: {})
    with pytest.raises(HarnessError, match="no cert-manager controller holds Lease"):
        Controller("kind", "/k").leader_pod(None)


def test_node_down_reads_as_python_and_refuses_a_container_that_is_no_kind_node(monkeypatch):
    fault = NodeDown("c-worker", "/k")
    assert eval(repr(fault)).node == "c-worker"  # noqa: S307 - our own repr

    class NoSuchContainer:
        def docker(self, *args, check=True):
            assert args[0] == "inspect", f"only inspected, never {args}"
            return subprocess.CompletedProcess(args, 1, "", "No such object")

    monkeypatch.setattr("harness.chaos.node_faults.DockerEngine", NoSuchContainer)
    with pytest.raises(HarnessError, match="is not a kind node container"):
        fault.apply()


def test_on_kind_killed_freezes_the_leader_before_deleting_its_pod_and_stopped_only_deletes(monkeypatch):
    """A grace-0 deletion alone lets the kubelet SIGTERM the controller (2 s minimum grace): it could release
    its Lease. Killed must freeze it first; stopped must leave it its own grace period."""
    calls = []

    class Core:
        def __init__(self, api):
            pass

        def read_namespaced_pod(self, name, namespace):
            return client.V1Pod(spec=client.V1PodSpec(containers=[], node_name="c-worker"), status=client.V1PodStatus(
                container_statuses=[client.V1ContainerStatus(name="c", image="i", image_id="", ready=True,
                                                             restart_count=0, container_id="containerd://abc")]))

        def delete_namespaced_pod(self, name, namespace, grace_period_seconds):
            calls.append(("delete", name, grace_period_seconds))

    class Engine:
        def docker(self, *args, check=True):
            calls.append(("docker", *args))

    monkeypatch.setattr("harness.chaos.process_faults.client.CoreV1Api", Core)
    monkeypatch.setattr("harness.chaos.process_faults.DockerEngine", Engine)
    monkeypatch.setattr(Controller, "api", lambda self: type("Api", (), {"close": lambda self: None})())
    monkeypatch.setattr(Controller, "leader_pod", lambda self, api: "cm-1")
    ControllerKilled(Controller("kind", "/k")).apply()
    assert calls == [("docker", "exec", "c-worker", "ctr", "-n", "k8s.io", "task", "kill", "--signal", "SIGSTOP", "abc"),
                     ("delete", "cm-1", 0)]
    calls.clear()
    ControllerStopped(Controller("kind", "/k")).apply()
    assert calls == [("delete", "cm-1", None)]


def test_node_paths_to_a_pod_are_its_dnat_rules_and_established_connections_only():
    """Outputs as a kind control plane printed them while a webhook pod's node was paused (10.244.2.4 dead;
    10.244.2.40 a live pod whose IP extends the dead one's)."""
    nat = ('-A KUBE-SEP-HK2Q -p tcp -m comment --comment "cert-manager/certchaos-webhook:port" -m tcp -j DNAT '
           '--to-destination 10.244.2.4:10250\n'
           '-A KUBE-SEP-ZZZZ -p tcp -m comment --comment "default/web:https" -m tcp -j DNAT '
           '--to-destination 10.244.2.40:8443\n'
           '-A KUBE-SVC-ABCD -m comment --comment "cert-manager/certchaos-webhook:port" -j KUBE-SEP-HK2Q\n')
    established = ("tcp      6 431994 ESTABLISHED src=172.19.0.2 dst=10.96.154.201 sport=36472 dport=443 "
                   "src=10.244.2.4 dst=172.19.0.2 sport=10250 dport=63973 [ASSURED] mark=0 use=1\n")

    class Node:
        def __init__(self, nft: str, tracked: str, conntrack_code: int = 0):
            self.nft, self.tracked, self.conntrack_code, self.calls = nft, tracked, conntrack_code, []

        def docker(self, *args, check=True):
            self.calls.append(args)
            assert args[:2] == ("exec", "c-control-plane") and not check
            if args[2] == "iptables-legacy-save":  # one backend may be missing: the other one is read
                return subprocess.CompletedProcess(args, 127, "", "not found")
            if args[2] == "conntrack":
                return subprocess.CompletedProcess(args, self.conntrack_code, self.tracked, "operation failed")
            return subprocess.CompletedProcess(args, 0, self.nft, "")

    node = Node(nat, established)
    paths = node_paths_to("c-control-plane", "10.244.2.4", engine=node)
    assert paths == {"rules": [nat.splitlines()[0]], "connections": [established.strip()]}
    conntrack = next(call for call in node.calls if call[2] == "conntrack")
    assert conntrack[conntrack.index("--reply-src") + 1] == "10.244.2.4" and "ESTABLISHED" in conntrack
    assert node_paths_to("c-control-plane", "10.244.2.4", engine=Node("", "")) == {"rules": [], "connections": []}
    with pytest.raises(HarnessError, match="could not read its paths to 10.244.2.4"):  # unread is not empty
        node_paths_to("c-control-plane", "10.244.2.4", engine=Node("", "", conntrack_code=1))


def test_on_kind_a_second_kill_before_the_takeover_hits_the_replacement_pod(monkeypatch):
    """The Lease still names the killed pod until it expires (60 s); a second kill in that time is the replacement
    crashing too (as on local, where the supervisor's new process is signalled), not a 404 for the dead pod."""
    calls = []
    replacement_started = [False]

    def pod(name, container_id):
        statuses = [client.V1ContainerStatus(name="c", image="i", image_id="", ready=True, restart_count=0,
                                             container_id=container_id)] if container_id else None
        return client.V1Pod(metadata=client.V1ObjectMeta(name=name),
                            spec=client.V1PodSpec(containers=[], node_name="c-worker"),
                            status=client.V1PodStatus(container_statuses=statuses))

    class Core:
        def __init__(self, api):
            pass

        def read_namespaced_pod(self, name, namespace):
            raise ApiException(status=404, reason="Not Found")

        def list_namespaced_pod(self, namespace, label_selector):
            assert "app.kubernetes.io/component=controller" in label_selector
            return client.V1PodList(items=[pod("cm-2", "containerd://def" if replacement_started[0] else None)])

        def delete_namespaced_pod(self, name, namespace, grace_period_seconds):
            calls.append(("delete", name, grace_period_seconds))

    class Engine:
        def docker(self, *args, check=True):
            calls.append(("docker", args[-1]))

    monkeypatch.setattr("harness.chaos.process_faults.client.CoreV1Api", Core)
    monkeypatch.setattr("harness.chaos.process_faults.DockerEngine", Engine)
    monkeypatch.setattr(Controller, "api", lambda self: type("Api", (), {"close": lambda self: None})())
    monkeypatch.setattr(Controller, "leader_pod", lambda self, api: "cm-1")
    fault = ControllerKilled(Controller("kind", "/k"))
    fault.apply()
    assert fault.killed == "cm-2" and calls == [("delete", "cm-2", 0)]  # not started: nothing to freeze
    calls.clear()
    replacement_started[0] = True
    ControllerKilled(Controller("kind", "/k")).apply()
    assert calls == [("docker", "def"), ("delete", "cm-2", 0)]
