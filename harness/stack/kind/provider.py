"""The kind provider: a throw-away kind cluster on our node image, with cert-manager installed by its own
Helm chart, waited for until it serves (deployments available, webhook answering).

kind is called directly (the pinned binary from the cache), not through pytest-kind-ng: 26.7.0 takes our binary
and config, but makes ./.pytest-kind/, re-uses a cluster of the same name and runs kind without capturing its
output or our engine's environment (docs/providers.md). Everything made here (the
cluster, its kubeconfig, the `kind` network when no one else uses it, the dockerd certchaos started once no
one uses it) is removed on stop, on failure and on Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

import yaml
from kubernetes import client

from harness.stack.leftovers import (
    LIB_MODULES, joining_kind_network, kind_network_free, lib_modules_empty, lib_modules_made, owned_name, owned_prefix,
)
from harness.errors import HarnessError
from harness.stack import binaries, certmanager, helm, official
from harness.stack.versions import facts as component_facts
from harness.stack.kind import images, nodeimage
from harness.stack.kind.engine import DockerEngine, inotify_advice
from harness.stack.kind.podlog import CONTROLLER_SELECTOR
from harness.stack.kube import api_client, apply_crds, copy_kubeconfig
from harness.stack.ports import LOOPBACK, free_port
from harness.stack.protocol import KIND
from harness.stack.service import Service, sigint_ignored, wait_until_interrupted
from harness.wait import Seen, WaitTimeout, wait_for

CLUSTER_LABEL = "io.x-k8s.kind.cluster"  # kind labels each node container with its cluster name
KIND_NETWORK = "kind"
# kind create returns in 21-93 s on this 2-core machine under load (FINDINGS §5); 10 min is a hung create.
CREATE_TIMEOUT = 600.0
# The node turns Ready 2-13 s after kind returns (our CNI writes its conflist); 180 s covers heavy load.
NODE_READY_TIMEOUT = 180.0
# helm install --wait of the chart took 44 s under load; its own --timeout is the deadline.
HELM_TIMEOUT = "10m"
# The webhook serves as soon as its Deployment is available; 120 s covers its CA being injected late.
WEBHOOK_TIMEOUT = 120.0
# kind delete takes 2-15 s here; 5 min means docker itself hangs.
DELETE_TIMEOUT = 300.0
# A `docker run` of a kind node returns in 1-10 s here; 2 min means dockerd hangs.
DOCKER_COMMAND_TIMEOUT = 120.0


# Node failure, compressed (multi-node clusters only, where node faults run). Kubernetes' defaults make a
# node's pods move ~6 min after it fails: node-monitor-grace-period 40 s until NotReady, then taint-based
# eviction after the pods' default tolerationSeconds of 300 s. 20 s is still two missed kubelet Lease renewals
# (every 10 s) so a loaded node is not declared dead for one slow renewal; 30 s of toleration keeps eviction
# a deliberate step after NotReady, as in production, in seconds rather than minutes.
NODE_MONITOR_GRACE_PERIOD = 20
UNREACHABLE_TOLERATION_SECONDS = 30


def _extra_args(args: dict[str, str], listed: bool) -> dict[str, str] | list[dict[str, str]]:
    """kubeadm's extraArgs: a map up to kubeadm.k8s.io/v1beta3, a list of {name, value} from v1beta4 on (what kind
    v0.33.0 writes for Kubernetes >= 1.36). kind merges a patch's list over its own, so `listed` ones repeat kind's."""
    return [{"name": key, "value": value} for key, value in args.items()] if listed else args


def _control_plane_patch(workers: int, kubernetes: str | None = None, own_images: bool = True) -> str:
    """kubeadm ClusterConfiguration patch (kind merges it). Always: no leader election for the one
    kube-controller-manager and kube-scheduler: on a CPU-starved machine (load 40-80 measured with several
    clusters) their Lease renewals time out and they exit ("leaderelection lost"), leaving the cluster without
    a node lifecycle controller for minutes; a single control plane never has a second one to elect. With
    workers: the compressed node-failure timings. Another Kubernetes than the default (kubeadm v1beta4): on our
    node image, kubeadm runs the etcd and CoreDNS it preloads (images.preloaded), tagged with their versions."""
    listed = kubernetes is not None
    controller_manager = {"leader-elect": "false"}
    api_server = {}
    if workers:
        controller_manager["node-monitor-grace-period"] = f"{NODE_MONITOR_GRACE_PERIOD}s"
        api_server = {"default-not-ready-toleration-seconds": str(UNREACHABLE_TOLERATION_SECONDS),
                      "default-unreachable-toleration-seconds": str(UNREACHABLE_TOLERATION_SECONDS)}
    if listed:
        controller_manager["enable-hostpath-provisioner"] = "true"  # kind's own, which the list replaces
    patch = {"kind": "ClusterConfiguration",
             "controllerManager": {"extraArgs": _extra_args(controller_manager, listed)},
             "scheduler": {"extraArgs": _extra_args({"leader-elect": "false"}, listed)}}
    if api_server:
        patch["apiServer"] = {"extraArgs": _extra_args(api_server, listed)}
    if listed and own_images:
        coredns = binaries.load_components(kubernetes=kubernetes)["coredns"].version
        patch["etcd"] = {"local": {"imageTag": images.etcd_tag(kubernetes)}}
        patch["dns"] = {"imageTag": coredns}
    return yaml.safe_dump(patch)


# The kubelet's syncFrequency (its default is 1m): how often it resyncs each pod, and so when a renewed Secret
# reaches the files of a mounted volume (sync period + cache; the cache is a watch by default). 10 s keeps the
# reload scenarios short while staying a real kubelet setting; KindStack(kubelet_sync_frequency=) changes it.
KUBELET_SYNC_FREQUENCY = "10s"


def _kubelet_patch(settings: dict) -> str:
    """kubeadm KubeletConfiguration patch (kind merges it into every node's kubelet config)."""
    return yaml.safe_dump({"kind": "KubeletConfiguration", "apiVersion": "kubelet.config.k8s.io/v1beta1", **settings})


def cluster_config(name: str, api_port: int, workers: int = 0, kubelet_sync_frequency: str | None = None,
                   kubernetes: str | None = None, own_images: bool = True) -> dict:
    """kind's config: one control-plane node (plus `workers` worker nodes), its API on 127.0.0.1:<free port>
    only, IPv4. With workers, node failure is compressed (see NODE_MONITOR_GRACE_PERIOD). The kubelet's
    syncFrequency is `kubelet_sync_frequency` (None: the kubelet's default). `kubernetes`: another than the
    default; its kubelet (>= 1.35) refuses a cgroup v1 host unless failCgroupV1 is false, and hosts such as
    this one still are; `own_images`: the node image is ours (not kind's official one)."""
    config = {
        "kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": name,
        "networking": {"apiServerAddress": LOOPBACK, "apiServerPort": api_port, "ipFamily": "ipv4"},
        "nodes": [{"role": "control-plane"}] + [{"role": "worker"} for _ in range(workers)],
    }
    config["kubeadmConfigPatches"] = [_control_plane_patch(workers, kubernetes, own_images)]
    kubelet = {"syncFrequency": kubelet_sync_frequency} if kubelet_sync_frequency else {}
    if kubernetes is not None:
        kubelet["failCgroupV1"] = False
    if kubelet:
        config["kubeadmConfigPatches"].append(_kubelet_patch(kubelet))
    return config


def remove_network_if_unused(engine: DockerEngine) -> None:
    """kind never removes its shared `kind` network; we do, when no container is attached any more and no run
    is joining it."""
    with kind_network_free() as free:
        if not free:
            return
        found = engine.docker("network", "inspect", "-f", "{{len .Containers}}", KIND_NETWORK, check=False)
        if found.returncode == 0 and found.stdout.strip() == "0":
            engine.docker("network", "rm", KIND_NETWORK, check=False)


def _group_gone(pgid: int) -> Seen:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return Seen(True, f"process group {pgid} is empty")
    return Seen(False, f"process group {pgid} still has a process (a docker command kind started)")


def _wait_group_gone(pgid: int) -> None:
    """Wait until the `docker` commands of a killed kind are done; SIGKILL them after DOCKER_COMMAND_TIMEOUT."""
    try:
        wait_for(lambda: _group_gone(pgid), subject="kind's docker commands", expected="to finish",
                 timeout=DOCKER_COMMAND_TIMEOUT, interval=0.2)
    except WaitTimeout:
        os.killpg(pgid, signal.SIGKILL)


class KindStack(Service):
    """A running kind cluster with cert-manager. Use as a context manager, or start()/stop()."""

    capabilities = KIND  # harness.stack.protocol.KIND

    def __init__(self, bin_dir: str | os.PathLike | None = None, run_dir: str | os.PathLike | None = None,
                 name: str | None = None, values: str | os.PathLike | None = None, workers: int = 0,
                 provision: Callable[["KindStack"], dict] | None = None,
                 kubelet_sync_frequency: str | None = KUBELET_SYNC_FREQUENCY, kubernetes: str | None = None):
        """`values`: the user's Helm values file for cert-manager's chart, passed through after ours.
        `workers`: worker nodes beside the control plane (2 for the node-failure scenarios).
        `provision(stack)`: runs once the nodes are Ready, before the chart is installed (the lab starts its
        servers on the kind network there); the chart values it returns go before the user's.
        `kubelet_sync_frequency`: the node kubelets' syncFrequency ("10s"; None: the kubelet's default, 1m).
        `kubernetes`: another Kubernetes than the default (versions.toml), on its node image (nodeimage.py)."""
        binaries.check_kubernetes(kubernetes)
        self.kubernetes = None if kubernetes == binaries.default_kubernetes() else kubernetes
        self.node = nodeimage.NodeImage(images.NODE_IMAGE, "built here", "the default Kubernetes")
        self.kube_version: str | None = None  # what the API server says, once the nodes are Ready
        self.kubelet_sync_frequency = kubelet_sync_frequency
        self.provision = provision
        self.provisioned_values: dict = {}
        self.bin_dir = bin_dir
        self.name = name or owned_name(secrets.token_hex(2))  # the owner in the name: `certchaos clean`
        self.values = Path(values).expanduser().resolve() if values else None
        if workers < 0:
            raise HarnessError(f"kind provider: --worker-nodes must be 0 or more, not {workers}")
        self.workers = workers
        self._own_run_dir = run_dir is None
        self.run_dir = Path(run_dir or tempfile.mkdtemp(prefix=owned_prefix("kind"))).resolve()
        self.kubeconfig = self.run_dir / "kubeconfig"
        self.engine = DockerEngine()
        self.created = False
        self.api_url: str | None = None  # https://127.0.0.1:<port>, known once the cluster is being created
        self._api: client.ApiClient | None = None
        self.cert_manager_images: tuple[images.Image, ...] = ()  # what the installed chart runs

    # -- lifecycle ---------------------------------------------------------------------------------

    def _start(self) -> None:
        if self.values is not None and not self.values.is_file():
            raise HarnessError(f"--values {self.values}: no such file. Fix: give a Helm values YAML file")
        self.resolved = {name: binaries.resolve(name, self.bin_dir, self.kubernetes) for name in ("kind", "helm")}
        # kind's way: creation is a list of actions; a failed one deletes what the earlier ones made.
        steps = (self.engine.start, self._check_images, self._check_name_free, self._create,
                 self._wait_node_ready, self._load_images, self._provision, self._install_cert_manager,
                 self.wait_webhook)
        for step in steps:
            step()

    def stop(self) -> None:
        """Delete the cluster, the `kind` network if no one else uses it, our run dir, and the dockerd certchaos
        started if we were its last user. A second Ctrl-C while stopping is ignored so teardown always completes."""
        try:
            with sigint_ignored():
                if self._api is not None:
                    self._api.close()
                    self._api = None
                try:
                    if self.created:
                        self._kind("delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig),
                                   timeout=DELETE_TIMEOUT)
                        # A node whose creation dockerd finished after an interrupted `kind create` was killed
                        # is not in kind's list when it deletes: removed by its label.
                        nodes = self.engine.docker("ps", "-aq", "--filter", f"label={CLUSTER_LABEL}={self.name}",
                                                   check=False).stdout.split()
                        if nodes:
                            self.engine.docker("rm", "-f", "-v", *nodes, check=False)
                        self.created = False
                        remove_network_if_unused(self.engine)
                        self._remove_lib_modules_if_ours()
                finally:
                    self.engine.stop()
        finally:
            if self._own_run_dir:
                shutil.rmtree(self.run_dir, ignore_errors=True)

    def wait_until_interrupted(self) -> None:
        """Block until SIGINT/SIGTERM, failing if the control-plane container stops meanwhile."""

        def check() -> None:
            if not self._node_running():
                raise HarnessError(f"kind cluster {self.name}: its control-plane container stopped")

        wait_until_interrupted(check, interval=2.0)  # each check is a `docker inspect`: 2 s keeps it cheap

    # -- access ------------------------------------------------------------------------------------

    def api(self) -> client.ApiClient:
        if self._api is None:
            self._api = api_client(self.kubeconfig)
        return self._api

    def endpoints(self) -> dict[str, str]:
        return {"kube-apiserver": self.api_url, "kind cluster": self.name}

    def versions(self) -> dict[str, dict]:
        """kind and helm as resolved, and cert-manager's components as the images the installed chart runs."""
        result = {name: component_facts(resolved) for name, resolved in self.resolved.items()}
        result["kind-node-image"] = self.node.facts()
        if self.kube_version:  # the Kubernetes that runs, as its API server said (the journal's pairing)
            result["kube-apiserver"] = {"version": self.kube_version, "source": f"kind node image ({self.node.source})",
                                        "path": self.node.tag}
        for image in self.cert_manager_images:
            name, version = image.tag.rsplit("/", 1)[-1].split(":")
            result[name] = {"version": version, "source": "image" if image.bin_dir is None else f"image from {image.bin_dir}",
                            "path": image.tag}
            pulled = (official.describe(image.bin_dir) or {}).get("images", {}).get(image.pulled or "")
            if pulled:
                result[name].update(source="image", origin=f"pulled from {pulled['pulled']}", digest=pulled["digest"],
                                    index_digest=pulled["index_digest"])
        return result

    @property
    def controller_pod(self) -> str | None:
        """The running controller pod of the installed chart's version (not one being replaced): its name is
        its hostname, the prefix of its Lease identity (`<hostname>-external-cert-manager-controller`)."""
        wanted = next((image.tag for image in self.cert_manager_images if "-controller:" in image.tag), None)
        if wanted is None:
            return None  # no chart installed yet
        pods = client.CoreV1Api(self.api()).list_namespaced_pod(certmanager.NAMESPACE,
                                                               label_selector=CONTROLLER_SELECTOR).items
        for pod in pods:
            if pod.metadata.deletion_timestamp is None and pod.status.phase == "Running" and \
                    any(container.image == wanted for container in pod.spec.containers):
                return pod.metadata.name
        return None

    def write_kubeconfig(self, path: str | os.PathLike) -> Path:
        return copy_kubeconfig(self.kubeconfig, path)

    # -- steps -------------------------------------------------------------------------------------

    def _kind(self, *args: str, timeout: float = CREATE_TIMEOUT) -> subprocess.CompletedProcess:
        """kind in a process group of its own. On an interrupt (or the timeout) kind is killed and the `docker`
        commands it started are waited for: a `docker run` killed half way leaves a node dockerd lists but
        cannot remove until it restarts (docker 20.10), and one left running starts a node after stop() has
        deleted the cluster."""
        command = [str(self.resolved["kind"].path), *args]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=self.engine.env(), start_new_session=True) as process:
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except BaseException:
                process.kill()
                process.wait()
                _wait_group_gone(process.pid)
                raise
        result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        if result.returncode != 0:
            raise HarnessError(f"`{' '.join(command)}` failed (exit {result.returncode}):\n{result.stderr.strip()}")
        return result

    def _check_images(self) -> None:
        # With `--cert-manager VERSION` the chart's images are the pulled ones, not ours.
        ours = () if official.describe(self.bin_dir) else images.CERT_MANAGER_IMAGES
        if self.kubernetes is not None:
            self.node = nodeimage.choose(self.engine, self.kubernetes)
        wanted = (*([] if self.node.source == "official" else [self.node.tag]), *ours)
        missing = [tag for tag in wanted if self.engine.docker("image", "inspect", tag, check=False).returncode != 0]
        if missing:
            option = f" --kubernetes {self.kubernetes}" if self.kubernetes else ""
            why = f" (official node image: {self.node.reason})" if self.kubernetes else ""
            raise HarnessError(f"kind provider: image(s) {', '.join(missing)} not built{why}. "
                               f"Fix: run `{images.BUILD_COMMAND}{option}` (as root)")
        self.cert_manager_images = self._chart_images(self.bin_dir)

    def _chart_images(self, bin_dir) -> tuple[images.Image, ...]:
        """The cert-manager images the chart of `bin_dir` names (its appVersion), built and current: another
        version's are built from that bin dir's binaries (`certchaos images build --bin-dir DIR`)."""
        wanted = images.cert_manager_images(images.chart_version(certmanager.chart_dir(bin_dir)), bin_dir)
        if wanted and wanted[0].bin_dir is not None:
            stale = images.Builder(self.engine).outdated(wanted)
            if stale:
                raise HarnessError(f"kind provider: image(s) {', '.join(stale)} not built from {wanted[0].bin_dir} "
                                   f"(or built from other binaries). Fix: run "
                                   f"`{images.images_build_command(wanted[0].bin_dir)}`")
        return wanted

    def _check_name_free(self) -> None:
        taken = self._kind("get", "clusters").stdout.split()
        containers = self.engine.docker("ps", "-aq", "--filter", f"label={CLUSTER_LABEL}={self.name}").stdout
        if self.name in taken or containers.strip():
            raise HarnessError(f"a kind cluster named {self.name!r} already exists. Fix: choose another name, or "
                               f"delete it with `kind delete cluster --name {self.name}` if it is yours")

    def _create(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.api_port = free_port()
        self.api_url = f"https://{LOOPBACK}:{self.api_port}"
        config = self.run_dir / "kind.yaml"
        config.write_text(yaml.safe_dump(cluster_config(self.name, self.api_port, self.workers,
                                                         self.kubelet_sync_frequency, self.kubernetes,
                                                         own_images=self.node.source != "official")))
        self.created = True  # from here on a partial cluster may exist: stop() deletes by name
        if not LIB_MODULES.exists():
            marker = lib_modules_made()
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        with joining_kind_network():
            self._kind("create", "cluster", "--name", self.name, "--image", self.node.tag, "--config", str(config),
                       "--kubeconfig", str(self.kubeconfig))

    def _wait_node_ready(self) -> None:
        def ready() -> Seen:
            nodes = client.CoreV1Api(self.api()).list_node().items
            states = {node.metadata.name: next((c.status for c in node.status.conditions or [] if c.type == "Ready"),
                                               "unknown") for node in nodes}
            return Seen(len(states) == 1 + self.workers and all(state == "True" for state in states.values()), states)

        try:
            wait_for(ready, subject=f"kind cluster {self.name}",
                     expected=f"to have its {1 + self.workers} node(s) Ready", timeout=NODE_READY_TIMEOUT, interval=1.0)
        except WaitTimeout as error:
            advice = inotify_advice()
            if advice is None:
                raise
            raise HarnessError(f"{error}\nMaybe: {advice}") from error
        self.kube_version = client.VersionApi(self.api()).get_code().git_version

    def _load_images(self, wanted: tuple[images.Image, ...] | None = None) -> None:
        """Our images from Docker; pulled official images as OCI archives (their manifests byte for byte) into
        every node's containerd under their official names: the registry binds loopback only, which the
        nodes cannot reach, so `kind load` stands in for a containerd registry mirror."""
        wanted = wanted or self.cert_manager_images
        built = [image.tag for image in wanted if image.pulled is None]
        if built:
            self._kind("load", "docker-image", "--name", self.name, *built)
        for image in wanted:
            if image.pulled is not None:
                archive = official.write_archive(image.bin_dir, image.pulled,
                                                 self.run_dir / "images" / f"{image.pulled}.tar")
                try:
                    self._kind("load", "image-archive", "--name", self.name, str(archive))
                finally:
                    archive.unlink(missing_ok=True)
                self._check_loaded(image)

    def _check_loaded(self, image: images.Image) -> None:
        """Every node's containerd holds `image` under its official name with the manifest digest pulled from the
        registry (what the kubelet will run), read back from the node, not assumed from the load."""
        expected = official.describe(image.bin_dir)["images"][image.pulled]["digest"]
        nodes = self.engine.docker("ps", "-q", "--filter", f"label={CLUSTER_LABEL}={self.name}").stdout.split()
        for node in nodes:
            listed = self.engine.docker("exec", node, "ctr", "-n", "k8s.io", "images", "ls",
                                        f"name=={image.tag}").stdout.split("\n")[1:]
            found = [line.split()[2] for line in listed if line.strip()]
            if found != [expected]:
                raise HarnessError(f"kind node {node}: image {image.tag} has digest {found or 'none'} after the load, "
                                   f"not the registry's {expected}")

    def node_ip(self) -> str:
        """The control-plane node's address on the kind network (the host reaches its NodePorts there)."""
        return self.engine.docker("inspect", "-f", f"{{{{.NetworkSettings.Networks.{KIND_NETWORK}.IPAddress}}}}",
                                  f"{self.name}-control-plane").stdout.strip()

    def _provision(self) -> None:
        if self.provision is not None:
            self.provisioned_values = self.provision(self) or {}

    def _install_cert_manager(self) -> None:
        """The module's chart has no CRDs (the release tooling adds them): we apply the module's CRDs, as the
        local provider does, and install the chart without them."""
        apply_crds(self.api(), certmanager.crds(self.bin_dir))
        self._helm("install", certmanager.chart_dir(self.bin_dir), "--create-namespace")

    def _helm(self, action: str, chart: Path, *extra: str) -> None:
        """`helm install|upgrade cert-manager CHART` with our values then the user's, waiting for the rollout."""
        program = self.resolved["helm"].path
        with tempfile.TemporaryDirectory(prefix=owned_prefix("helm")) as scratch:
            env = helm.isolated_env(scratch, {**self.engine.env(), "KUBECONFIG": str(self.kubeconfig)})
            command = [str(program), action, "cert-manager", str(chart), "--namespace", certmanager.NAMESPACE, *extra,
                       "--set", "installCRDs=false", *self._values_arguments(), "--wait", "--timeout", HELM_TIMEOUT]
            result = subprocess.run(command, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise HarnessError(f"helm {action} of cert-manager failed (exit {result.returncode}): "
                               f"{result.stderr.strip()}\nCommand: {' '.join(command)}")

    def upgrade_cert_manager(self, bin_dir: str | os.PathLike | None, *,
                             on_step: Callable[[str], None] = lambda step: None) -> None:
        """Upgrade cert-manager in place to the chart, CRDs and images of `bin_dir` (None: the cache) as a user
        with a values file does: B's images into the nodes, B's CRDs (the chart has none), then `helm upgrade`
        with the same values files as the install (ours, then the user's; not --reuse-values) and --wait
        (every Deployment rolled out), then the webhook answering. Everything B needs is resolved and checked
        before anything changes. `on_step` hears each step's name first."""
        chart = certmanager.chart_dir(bin_dir)
        crds = certmanager.crds(bin_dir)
        wanted = self._chart_images(bin_dir)
        on_step("images")
        self._load_images(wanted)
        on_step("crds")
        apply_crds(self.api(), crds)
        on_step("helm upgrade")
        self._helm("upgrade", chart)
        self.cert_manager_images, self.bin_dir = wanted, bin_dir
        on_step("webhook")
        self.wait_webhook()

    def _values_arguments(self) -> list[str]:
        """--values for the provisioned values (ours), then the user's file: the user's win."""
        arguments = []
        if self.provisioned_values:
            ours = self.run_dir / "provisioned-values.yaml"
            ours.write_text(yaml.safe_dump(self.provisioned_values))
            arguments += ["--values", str(ours)]
        return arguments + (["--values", str(self.values)] if self.values else [])

    def wait_webhook(self) -> None:
        """Ready means the webhook answers: a server-side dry-run Issuer passes through its validation."""
        issuer = {"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                  "metadata": {"name": "certchaos-webhook-probe", "namespace": certmanager.NAMESPACE},
                  "spec": {"selfSigned": {}}}

        def answers() -> Seen:
            client.CustomObjectsApi(self.api()).create_namespaced_custom_object(
                "cert-manager.io", "v1", certmanager.NAMESPACE, "issuers", issuer, dry_run="All")
            return Seen(True, "dry-run Issuer admitted")

        wait_for(answers, subject="cert-manager's webhook", expected="to admit a dry-run Issuer",
                 timeout=WEBHOOK_TIMEOUT, interval=1.0)

    def _node_running(self) -> bool:
        result = self.engine.docker("inspect", "-f", "{{.State.Running}}", f"{self.name}-control-plane", check=False)
        return result.stdout.strip() == "true"

    def _remove_lib_modules_if_ours(self) -> None:
        """The empty /lib/modules docker made for kind's bind mount, once a certchaos cluster found it missing
        (leftovers.lib_modules_made) and no cluster (ours or anyone's) still mounts it."""
        marker = lib_modules_made()
        others = self.engine.docker("ps", "-q", "--filter", f"label={CLUSTER_LABEL}", check=False).stdout.strip()
        if not marker.exists() or others:
            return
        if lib_modules_empty():
            LIB_MODULES.rmdir()
        marker.unlink(missing_ok=True)
