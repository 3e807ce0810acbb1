"""cert-manager pieces the local provider applies: rendered CRDs and webhook registrations."""

from __future__ import annotations

import pytest
import yaml

from harness.stack import binaries, certmanager
from harness.errors import HarnessError

CRD_HEAD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: certificates.cert-manager.io
  labels:
    app: '{{ template "cert-manager.name" . }}'
    app.kubernetes.io/instance: '{{ .Release.Name }}'
    # Generated labels {{- include "labels" . | nindent 4 }}
spec: {}
"""


def test_crd_labels_are_rendered_as_the_chart_would():
    rendered = certmanager.render_crd(CRD_HEAD)
    assert "{{" not in rendered
    assert "app: cert-manager" in rendered and "app.kubernetes.io/instance: cert-manager" in rendered


def test_an_unknown_template_is_an_error_not_a_silent_label():
    with pytest.raises(HarnessError, match="unrendered template"):
        certmanager.render_crd(CRD_HEAD.replace("{{ .Release.Name }}", "{{ .Values.other }}"))


def test_webhook_registrations_follow_the_chart_and_isolate_namespaces():
    shared = certmanager.webhook_configurations("https://127.0.0.1:1", b"PEM")
    isolated = certmanager.webhook_configurations("https://127.0.0.1:2", b"PEM", only_namespace="ns-1")
    for validating, mutating in (shared, isolated):
        for document, path in ((validating, "/validate"), (mutating, "/mutate")):
            (webhook,) = document["webhooks"]
            assert webhook["failurePolicy"] == "Fail" and webhook["timeoutSeconds"] == 10
            assert webhook["rules"][0]["resources"] == ["*/*"]
            assert webhook["clientConfig"]["url"].endswith(path) and webhook["clientConfig"]["caBundle"] == "UEVN"
    shared_selector = shared[0]["webhooks"][0]["namespaceSelector"]["matchExpressions"]
    assert {"key": certmanager.ISOLATION_LABEL, "operator": "NotIn", "values": ["isolated"]} in shared_selector
    assert isolated[0]["metadata"]["name"] == "cert-manager-webhook-ns-1"
    assert isolated[1]["webhooks"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "ns-1"}}
    # The namespace's own pair never sees a ClusterIssuer (no namespaceSelector skips a cluster-scoped object).
    assert [d["webhooks"][0]["rules"][0]["scope"] for d in isolated] == ["Namespaced", "Namespaced"]
    assert all("scope" not in d["webhooks"][0]["rules"][0] for d in shared)  # the chart's: all scopes


def test_chart_metadata_gets_the_release_version_and_no_placeholder_is_left():
    template = ("apiVersion: v1\nname: cert-manager\n# set by the release tool\nversion: v0.1.0\n"
                "appVersion: v0.1.0\nannotations:\n  artifacthub.io/prerelease: \"{{IS_PRERELEASE}}\"\n")
    rendered = yaml.safe_load(certmanager.render_chart_metadata(template, "v1.11.5"))
    assert (rendered["version"], rendered["appVersion"]) == ("v1.11.5", "v1.11.5")
    assert rendered["annotations"]["artifacthub.io/prerelease"] == "false"
    assert "true" in certmanager.render_chart_metadata(template, "v1.12.0-alpha.1")
    with pytest.raises(HarnessError, match="unrendered placeholder"):
        certmanager.render_chart_metadata(template + "home: '{{HOME}}'\n", "v1.11.5")


def _helm_built() -> bool:
    try:
        return binaries.resolve("helm") is not None
    except HarnessError:
        return False


@pytest.mark.skipif(not _helm_built(), reason="helm not built (certchaos binaries build helm)")
def test_the_chart_rbac_is_rendered_by_helm_for_the_three_service_accounts():
    documents = certmanager.chart_rbac("v1.26.1")
    kinds = {doc["kind"] for doc in documents}
    assert kinds == set(certmanager.RBAC_KINDS)
    accounts = {doc["metadata"]["name"] for doc in documents if doc["kind"] == "ServiceAccount"}
    assert accounts == set(certmanager.SERVICE_ACCOUNTS.values())
    lease_roles = [doc for doc in documents if doc["kind"] == "Role" and doc["metadata"]["namespace"] == "kube-system"]
    assert any(rule.get("resourceNames") == ["cert-manager-controller"] for doc in lease_roles for rule in doc["rules"])
    assert all("{{" not in yaml.safe_dump(doc) for doc in documents)
