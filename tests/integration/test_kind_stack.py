"""The kind provider end to end: a kind cluster on our node image, cert-manager installed by its chart, a
CA-issued Certificate, its Secret mounted in a pod, and nothing of ours left after stop.

Needs Docker and `certchaos images build`; runs only when selected with `-m kind` (`make test-kind`), since
a cluster costs minutes of a 2-core machine (README gives the measured times).
"""

from __future__ import annotations

import base64
import subprocess
import time

import pytest
from kubernetes import client

from harness.errors import HarnessError
from harness.lab.issuers import make_ca_issuer
from harness.observe.conditions.certificates import certificate_ready
from harness.stack import binaries, certmanager
from harness.stack.kind import images
from harness.stack.kind.engine import DockerEngine
from harness.stack.kind.provider import CLUSTER_LABEL, KIND_NETWORK, KindStack
from harness.stack.kube import ensure_namespace
from harness.stack.leftovers import lib_modules_empty, lib_modules_made
from harness.wait import Seen, wait_for

pytestmark = pytest.mark.kind
NAMESPACE = "kind-smoke"
# CA issuance is local to cert-manager: seconds; 120 s covers a loaded 2-core machine.
ISSUE_TIMEOUT = 120.0
# The pod's image is preloaded in the node image (no pull): it starts and exits within seconds.
POD_TIMEOUT = 120.0


@pytest.fixture(scope="module", autouse=True)
def engine() -> DockerEngine:
    """A Docker engine that outlives each stack (started here if none runs, stopped at the module's end),
    so the checks after a stack's stop can still ask docker what is left."""
    with DockerEngine() as running:
        yield running


@pytest.mark.parametrize("kubernetes", binaries.kubernetes_versions())
def test_preloaded_images_are_exactly_what_kubeadm_pulls(kubernetes):
    """Another Kubernetes: pause is the default's (containerd's sandbox_image names it), and etcd and CoreDNS are
    its own components under their versions, which the kind config gives kubeadm (provider.cluster_config)."""
    kubeadm = binaries.load_components(kubernetes=kubernetes)["kubeadm"].cached
    if not kubeadm.exists():
        pytest.skip(f"kubeadm {kubernetes} not built: "
                    f"`certchaos binaries build --provider kind --kubernetes {kubernetes}`")
    wanted = set(subprocess.run([str(kubeadm), "config", "images", "list", "--kubernetes-version", kubernetes],
                                capture_output=True, text=True, check=True).stdout.split())
    preloaded = {image.tag for image in images.preloaded(kubernetes)} - {images.NETBASE_IMAGE}
    if kubernetes != images.KUBERNETES:
        pause = images.COMPONENT_IMAGES[0].tag
        ours = {tag for tag in preloaded if "/etcd:" in tag or "/coredns:" in tag}
        wanted = {tag for tag in wanted if "/etcd:" not in tag and "/coredns:" not in tag and "/pause:" not in tag}
        wanted |= ours | {pause}
    assert preloaded == wanted


@pytest.fixture(scope="module")
def kind_stack() -> KindStack:
    """A kind cluster with cert-manager, stopped at the end of the module (test_stop_* stops it earlier)."""
    started = time.monotonic()
    stack = KindStack().start()
    print(f"kind stack up in {time.monotonic() - started:.0f}s")
    try:
        yield stack
    finally:
        stack.stop()


def _volumes(stack: KindStack) -> list[str]:
    container = f"{stack.name}-control-plane"
    found = stack.engine.docker("inspect", "-f", "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}",
                                container)
    return found.stdout.split()


def _other_clusters_nodes(stack: KindStack) -> list[str]:
    """The node containers of kind clusters other than `stack`'s."""
    nodes = stack.engine.docker("ps", "-q", "--filter", f"label={CLUSTER_LABEL}").stdout.split()
    ours = set(stack.engine.docker("ps", "-q", "--filter", f"label={CLUSTER_LABEL}={stack.name}").stdout.split())
    return [node for node in nodes if node not in ours]


def test_cert_manager_from_the_chart_serves_and_issues_from_a_ca(kind_stack):
    api = kind_stack.api()
    deployments = client.AppsV1Api(api).list_namespaced_deployment(certmanager.NAMESPACE).items
    available = {d.metadata.name: d.status.available_replicas for d in deployments}
    assert available == {"cert-manager": 1, "cert-manager-cainjector": 1, "cert-manager-webhook": 1}
    images_run = {c.image for d in deployments for c in d.spec.template.spec.containers}
    assert images_run == set(images.CERT_MANAGER_IMAGES) - {
        f"quay.io/jetstack/cert-manager-{n}:{images.CERT_MANAGER}" for n in ("acmesolver", "ctl")}

    ensure_namespace(api, NAMESPACE)
    make_ca_issuer(api, NAMESPACE)
    client.CustomObjectsApi(api).create_namespaced_custom_object("cert-manager.io", "v1", NAMESPACE, "certificates", {
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "leaf"},
        "spec": {"secretName": "leaf", "dnsNames": ["leaf.kind.test"], "issuerRef": {"name": "ca"}}})
    wait_for(certificate_ready(api, NAMESPACE, "leaf"), subject=f"Certificate {NAMESPACE}/leaf",
             expected="Ready=True", timeout=ISSUE_TIMEOUT, interval=1.0)
    secret = client.CoreV1Api(api).read_namespaced_secret("leaf", NAMESPACE).data
    root = client.CoreV1Api(api).read_namespaced_secret("ca-root", NAMESPACE).data
    assert secret["ca.crt"] == root["tls.crt"]  # signed by our CA, not self-signed


def test_a_pod_that_mounts_the_secret_sees_tls_crt(kind_stack):
    api = kind_stack.api()
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(NAMESPACE, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "reader"},
        "spec": {"restartPolicy": "Never",
                 "containers": [{"name": "reader", "image": images.NETBASE_IMAGE, "imagePullPolicy": "Never",
                                 "command": ["cat", "/tls/tls.crt"],
                                 "volumeMounts": [{"name": "tls", "mountPath": "/tls"}]}],
                 "volumes": [{"name": "tls", "secret": {"secretName": "leaf"}}]}})

    def finished() -> Seen:
        pod = core.read_namespaced_pod("reader", NAMESPACE)
        return Seen(pod.status.phase in ("Succeeded", "Failed"), pod.status.phase)

    phase = wait_for(finished, subject=f"pod {NAMESPACE}/reader", expected="to finish", timeout=POD_TIMEOUT,
                     interval=1.0)
    assert phase == "Succeeded"
    log = core.read_namespaced_pod_log("reader", NAMESPACE)
    expected = base64.b64decode(core.read_namespaced_secret("leaf", NAMESPACE).data["tls.crt"]).decode()
    assert log == expected and log.startswith("-----BEGIN CERTIFICATE-----")


def test_a_taken_cluster_name_is_a_clear_error_and_leaves_nothing(kind_stack):
    before = kind_stack.engine.docker("ps", "-aq").stdout.split()
    with pytest.raises(HarnessError, match=f"kind cluster named '{kind_stack.name}' already exists"):
        KindStack(name=kind_stack.name).start()
    assert kind_stack.engine.docker("ps", "-aq").stdout.split() == before
    assert client.CoreV1Api(kind_stack.api()).list_node().items  # the existing cluster is untouched


def test_stop_leaves_no_container_network_or_volume(kind_stack):
    volumes = _volumes(kind_stack)
    assert volumes  # kind gives /var an anonymous volume: the check below means something
    docker = kind_stack.engine.docker
    others_before = _other_clusters_nodes(kind_stack)
    kind_stack.stop()
    assert docker("ps", "-aq", "--filter", f"label={CLUSTER_LABEL}={kind_stack.name}").stdout.strip() == ""
    assert docker("ps", "-aq", "--filter", f"name={kind_stack.name}").stdout.strip() == ""
    left = set(docker("volume", "ls", "-q").stdout.split())
    assert not left & set(volumes)
    network = docker("network", "inspect", "-f", "{{len .Containers}}", KIND_NETWORK, check=False)
    # The shared `kind` network may stay only while someone else's containers use it.
    assert network.returncode != 0 or network.stdout.strip() != "0"
    assert not kind_stack.run_dir.exists()
    # The empty /lib/modules docker makes for kind's bind mount on a host without one is gone again, unless another
    # cluster's node (CI runs run-kind's beside) mounted it when stop ran, or does now.
    if not others_before and not _other_clusters_nodes(kind_stack):
        assert not lib_modules_made().exists()
        assert not lib_modules_empty()



def test_a_failed_install_deletes_the_cluster_it_made(tmp_path):
    """helm rejects the user's values after the cluster exists: the error says why and the cluster is gone."""
    values = tmp_path / "values.yaml"
    values.write_text("webhook: [unclosed\n")  # not YAML: helm fails only at install, after kind create
    stack = KindStack(values=values)
    with pytest.raises(HarnessError, match="helm install of cert-manager failed"):
        stack.start()
    docker = stack.engine.docker
    assert docker("ps", "-aq", "--filter", f"label={CLUSTER_LABEL}={stack.name}").stdout.strip() == ""
    assert not stack.run_dir.exists()
