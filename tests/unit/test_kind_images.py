"""The kind images are named as their users ask for them: cert-manager's own chart (kubeadm's own list is
checked in tests/integration/test_kind_stack.py, where the kind-only kubeadm binary is built)."""

from __future__ import annotations

import yaml

from harness.stack import binaries, certmanager, helm
from harness.stack.kind import images
from harness.stack.kind.provider import cluster_config
from harness.stack.ports import LOOPBACK


def test_cert_manager_images_are_tagged_as_its_chart_names_them():
    documents = helm.render(certmanager.chart_dir(), "cert-manager", certmanager.NAMESPACE,
                            {"installCRDs": True}, kube_version=images.KUBERNETES)
    named = set()
    for document in documents:
        spec = (document.get("spec") or {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            named.add(container["image"])
            # The controller names the HTTP-01 solver's image in a flag, not in a container.
            named |= {arg.split("=", 1)[1] for arg in container.get("args", []) if arg.startswith("--acme-http01")}
    assert named == set(images.CERT_MANAGER_IMAGES)


def test_every_image_runs_its_entrypoint_as_the_chart_requires():
    for image in images.COMPONENT_IMAGES:
        if image.tag in images.CERT_MANAGER_IMAGES:
            assert image.user == "1000"  # the chart's runAsNonRoot: kubelet refuses a root image
            assert image.entrypoint == (image.files[0][1],)


def test_the_cluster_api_binds_loopback_only_on_the_chosen_port():
    config = yaml.safe_load(yaml.safe_dump(cluster_config("certchaos-abc", 40123)))
    assert config["networking"]["apiServerAddress"] == LOOPBACK == "127.0.0.1"
    assert config["networking"]["apiServerPort"] == 40123 and config["name"] == "certchaos-abc"


def test_node_files_carry_kinds_markers_and_our_version():
    cni = (images.NODE_FILES / "kind/manifests/default-cni.yaml").read_text()
    assert "would you kindly template this file" in cni and "{{ .PodSubnet }}" in cni
    assert (images.NODE_FILES / "kind/version").read_text().strip() == images.KUBERNETES
    entrypoint = images.NODE_FILES / "usr/local/bin/entrypoint"
    assert entrypoint.stat().st_mode & 0o111


def test_another_kubernetes_gets_kubeadm_v1beta4_args_its_own_etcd_and_coredns_and_a_kubelet_for_cgroup_v1():
    other = binaries.kubernetes_versions()[-1]
    config = cluster_config("c", 40123, workers=2, kubelet_sync_frequency="10s", kubernetes=other)
    cluster, kubelet = (yaml.safe_load(patch) for patch in config["kubeadmConfigPatches"])
    # v1beta4 lists extraArgs; the list replaces kind's, so kind's own hostpath provisioner is repeated.
    assert cluster["controllerManager"]["extraArgs"] == [
        {"name": "leader-elect", "value": "false"}, {"name": "node-monitor-grace-period", "value": "20s"},
        {"name": "enable-hostpath-provisioner", "value": "true"}]
    assert cluster["scheduler"]["extraArgs"] == [{"name": "leader-elect", "value": "false"}]
    assert {"name": "default-unreachable-toleration-seconds", "value": "30"} in cluster["apiServer"]["extraArgs"]
    preloaded = {image.tag for image in images.preloaded(other)}
    assert f"registry.k8s.io/etcd:{cluster['etcd']['local']['imageTag']}" in preloaded
    assert f"registry.k8s.io/coredns/coredns:{cluster['dns']['imageTag']}" in preloaded
    assert kubelet["failCgroupV1"] is False and kubelet["syncFrequency"] == "10s"
    official = yaml.safe_load(cluster_config("c", 40123, kubernetes=other, own_images=False)["kubeadmConfigPatches"][0])
    assert "etcd" not in official and "dns" not in official  # kind's image holds what its kubeadm deploys
    default = [yaml.safe_load(patch) for patch in cluster_config("c", 40123)["kubeadmConfigPatches"]]
    assert default == [{"kind": "ClusterConfiguration", "controllerManager": {"extraArgs": {"leader-elect": "false"}},
                        "scheduler": {"extraArgs": {"leader-elect": "false"}}}]


def test_another_kubernetes_node_image_preloads_its_own_components_under_their_versions():
    other = binaries.kubernetes_versions()[-1]
    preloaded = {image.tag: image for image in images.preloaded(other)}
    components = binaries.load_components(kubernetes=other)
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        assert preloaded[f"registry.k8s.io/{name}:{other}"].kubernetes == other
    assert preloaded[f"registry.k8s.io/coredns/coredns:{components['coredns'].version}"].files == (
        ("coredns", "/usr/local/bin/coredns"),)
    assert images.node_image(other) == f"certchaos.local/kind-node:{other}" != images.NODE_IMAGE
    assert {tag for tag in preloaded if "kube-" in tag}.isdisjoint(image.tag for image in images.preloaded())
