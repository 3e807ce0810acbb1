"""cert-manager pieces the local provider applies: rendered CRDs and webhook registrations."""

from __future__ import annotations

import pytest

from harness.stack import certmanager
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
