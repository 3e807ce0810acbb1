"""The local stack on each other Kubernetes the lab builds (`--kubernetes`), with the default cert-manager: the API
server and controller manager of that version run with the stack's flags, and cert-manager, on a Kubernetes its
documentation does not support, still issues and admits. scripts/setup.sh's `test` builds those Kubernetes."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from harness.chaos.certificates import certificate, create_certificate
from harness.lab.issuers import make_ca_issuer
from harness.observe import resources
from harness.observe.conditions.certificates import certificate_ready
from harness.observe.tlsinspect import inspect_secret
from harness.report.journal import environment_facts
from harness.stack import binaries
from harness.stack.kube import ensure_namespace
from harness.stack.local import LocalStack
from harness.wait import wait_for

pytestmark = pytest.mark.integration

ISSUED = 60  # as in test_local_stack.py: a local issuer takes well under a second; a loaded CI machine


@pytest.fixture(scope="module", params=binaries.kubernetes_versions()[1:])
def other(request, tmp_path_factory):
    """The stack on one of the other Kubernetes versions, started once for its tests."""
    with LocalStack(run_dir=tmp_path_factory.mktemp("stack"), kubernetes=request.param) as stack:
        yield stack


def test_the_api_server_and_controller_manager_are_the_asked_version(other):
    version = other.kubernetes
    said = client.VersionApi(other.api()).get_code()  # what clients (helm, cert-manager) are told
    assert said.git_version == version and (said.major, said.minor) == ("1", version.split(".")[1])
    ran = other.versions()
    assert ran["kube-apiserver"]["version"] == ran["kube-controller-manager"]["version"] == version
    assert ran["kube-apiserver"]["path"].endswith(f"kube-apiserver-{version}")
    etcd = binaries.load_components(kubernetes=version)["etcd"]
    assert ran["etcd"]["version"] == etcd.version.lstrip("v") and ran["etcd"]["path"] == str(etcd.cached)
    pairing = environment_facts("local", ran)["pairing"]
    assert (pairing["kubernetes"], pairing["cert_manager"], pairing["support"]) == (
        version, ran["cert-manager-controller"]["version"], "unsupported")


def test_cert_manager_issues_and_its_webhook_admits_on_it(other):
    kube = other.api()
    namespace = f"kubernetes-{other.kubernetes.replace('.', '-')}"
    ensure_namespace(kube, namespace)
    ca_issuer = make_ca_issuer(kube, namespace)  # the controller manager's token controller and GC are at work too
    create_certificate(kube, namespace, certificate("leaf", ca_issuer, ["app.certchaos.test"]))
    wait_for(certificate_ready(kube, namespace, "leaf"), subject=f"Certificate {namespace}/leaf",
             expected="Ready=True", timeout=ISSUED)
    found = inspect_secret(resources.get(kube, resources.SECRET, namespace, "leaf"))
    assert found.key_matches and found.verified and found.leaf.dns_names == ("app.certchaos.test",)
    with pytest.raises(client.ApiException) as rejected:
        create_certificate(kube, namespace, certificate("nameless", {"name": "any"}, []))
    assert "at least one of commonName, dnsNames" in json.loads(rejected.value.body)["message"]
