"""The reload scenarios' building blocks without a cluster: workload manifests, the reloader contract
(variable name and hash, as Reloader's env-vars strategy has them), the kubelet sync setting, faults."""

from __future__ import annotations

import base64
import hashlib

import pytest
import yaml
from hypothesis import given, strategies as st

from harness.chaos.reload_faults import ReloaderDown
from harness.errors import HarnessError
from harness.stack.kind.provider import KUBELET_SYNC_FREQUENCY, cluster_config
from harness.workloads import reloader
from harness.workloads.manifests import MOUNT, WITNESS, Workload, deployment, service


def _container(w: Workload) -> dict:
    return deployment(w, "img")["spec"]["template"]["spec"]["containers"][0]


def test_a_volume_consumer_mounts_the_secret_as_a_directory_and_reloads():
    w = Workload("web", "web-tls", consumer="volume", mode="reload")
    c = _container(w)
    assert c["volumeMounts"] == [{"name": "tls", "mountPath": MOUNT, "readOnly": True}]
    assert "-mode=reload" in c["args"] and "-source=files" in c["args"]
    assert deployment(w, "img")["spec"]["template"]["spec"]["volumes"] == [
        {"name": "tls", "secret": {"secretName": "web-tls"}}]
    assert c["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"


def test_a_subpath_consumer_mounts_each_file_with_subpath_and_a_witness_volume():
    mounts = _container(Workload("web", "s", consumer="subpath"))["volumeMounts"]
    assert [m.get("subPath") for m in mounts] == ["tls.crt", "tls.key", None]
    assert mounts[-1]["mountPath"] == WITNESS


def test_an_env_consumer_reads_the_pem_from_the_secret_and_loads_once():
    c = _container(Workload("web", "s", consumer="env", mode="once"))
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"]}
    assert refs == {"TLS_CRT": {"name": "s", "key": "tls.crt"}, "TLS_KEY": {"name": "s", "key": "tls.key"}}
    assert "-source=env" in c["args"] and [m["mountPath"] for m in c["volumeMounts"]] == [WITNESS]


def test_reloader_annotations_each_way_and_none():
    meta = lambda **kw: deployment(Workload("web", "s", **kw), "img")["metadata"]["annotations"]  # noqa: E731
    assert meta(reloader="auto") == {"reloader.stakater.com/auto": "true"}
    assert meta(reloader="named") == {"secret.reloader.stakater.com/reload": "s"}
    assert meta(reloader="named", reload_names="w.b,x") == {"secret.reloader.stakater.com/reload": "w.b,x"}
    assert meta(reloader="search") == {"reloader.stakater.com/search": "true"}
    assert meta() == {}


def test_an_annotation_on_the_pod_template_only_leaves_the_deployments_metadata_bare():
    made = deployment(Workload("web", "s", reloader="auto", annotated="template"), "img")
    assert made["metadata"]["annotations"] == {}
    assert made["spec"]["template"]["metadata"] == {"labels": {"certchaos.io/workload": "web"},
                                                    "annotations": {"reloader.stakater.com/auto": "true"}}
    assert "annotations" not in deployment(Workload("web", "s", annotated="template"), "img")["spec"]["template"][
        "metadata"]


def test_service_selects_the_deployments_pods():
    w = Workload("web", "s")
    assert service(w)["spec"]["selector"] == deployment(w, "img")["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("kwargs, message", [
    ({"consumer": "configmap"}, "consumer"), ({"mode": "sometimes"}, "mode"),
    ({"consumer": "env", "mode": "reload"}, "never changes"), ({"reloader": "yes"}, "reloader"),
    ({"reloader": "auto", "reload_names": "x"}, "needs reloader='named'"), ({"annotated": "pod"}, "annotated")])
def test_bad_workloads_are_clear_errors(kwargs, message):
    with pytest.raises(HarnessError, match=message):
        Workload("web", "s", **kwargs)


@pytest.mark.parametrize("name, want", [
    ("web", "STAKATER_WEB_SECRET"), ("web-tls", "STAKATER_WEB_TLS_SECRET"), ("a.b--c", "STAKATER_A_B_C_SECRET"),
    ("-lead", "STAKATER_LEAD_SECRET"), ("trail-", "STAKATER_TRAIL__SECRET")])
def test_env_var_name_is_reloaders_conversion(name, want):
    # As Reloader v1.4.22's util.ConvertToEnvVarName: upper-cased, a run of other characters after a valid one
    # is one "_", leading ones dropped (the scenarios check the rolled templates against it on kind).
    assert reloader.env_var_name(name) == want


@given(st.dictionaries(st.text("abc.-_", min_size=1, max_size=5), st.binary(max_size=20), max_size=4))
def test_data_hash_is_sha1_of_the_sorted_pairs_whatever_the_order(data):
    encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
    reordered = dict(reversed(list(encoded.items())))
    pairs = sorted(k.encode() + b"=" + v for k, v in data.items())
    assert reloader.data_hash(encoded) == reloader.data_hash(reordered) == hashlib.sha1(b";".join(pairs)).hexdigest()


def test_the_reloader_watches_only_its_namespace_with_a_namespaced_role():
    objects = {o["kind"]: o for o in reloader.manifests("ns1", "img:1")}
    assert set(objects) == {"ServiceAccount", "Role", "RoleBinding", "Deployment"}
    container = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "KUBERNETES_NAMESPACE", "value": "ns1"} in container["env"]
    assert objects["RoleBinding"]["subjects"][0]["namespace"] == "ns1"


def test_the_install_names_reloader_and_its_image():
    assert reloader.ReloaderInstall("ns", "stakater/reloader:v1.0.0").description == (
        "Stakater Reloader (stakater/reloader:v1.0.0)")


def test_the_kubelet_sync_frequency_is_a_kubelet_configuration_patch():
    config = yaml.safe_load(yaml.safe_dump(cluster_config("c", 40123, kubelet_sync_frequency=KUBELET_SYNC_FREQUENCY)))
    kubelet = lambda c: [p for p in map(yaml.safe_load, c.get("kubeadmConfigPatches", []))  # noqa: E731
                         if p["kind"] == "KubeletConfiguration"]
    assert kubelet(config) == [{"kind": "KubeletConfiguration", "apiVersion": "kubelet.config.k8s.io/v1beta1",
                                "syncFrequency": KUBELET_SYNC_FREQUENCY}]
    assert kubelet(cluster_config("c", 40123, kubelet_sync_frequency=None)) == []


def test_reloader_down_has_a_valid_python_repr_without_the_client():
    fault = ReloaderDown(api=object(), namespace="ns", reloader="Stakater Reloader")
    assert repr(fault) == "ReloaderDown(namespace='ns', reloader='Stakater Reloader')"
    assert "scaled to 0" in fault.describe()
