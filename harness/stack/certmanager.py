"""cert-manager installation pieces that the local provider applies itself: CRDs and webhook registrations.

The CRDs come from the cert-manager Go module of the pinned version (copied into the cache on first use).
Their labels carry Helm template strings; they are replaced with what the chart would render. The webhook
configurations mirror the official chart's (rules, namespaceSelector, matchPolicy, failurePolicy Fail,
timeoutSeconds) with the chart's `webhook.url.host` form: registered by URL with a caBundle.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from kubernetes import client

from harness.stack import binaries
from harness.errors import HarnessError
from harness.stack.kube import load_documents

MODULE = "github.com/cert-manager/cert-manager"
NAMESPACE = "cert-manager"
WEBHOOK_NAME = "cert-manager-webhook"
# The chart's default `webhook.timeoutSeconds`.
WEBHOOK_TIMEOUT_SECONDS = 10

_TEMPLATE_LABELS = {
    '{{ template "cert-manager.name" . }}': "cert-manager",
    "{{ .Release.Name }}": "cert-manager",
}


def crd_dir(bin_dir: str | os.PathLike | None = None) -> Path:
    """The directory of cert-manager CRD manifests: <bin-dir>/crds if the user gives one, else the cache
    (filled from the Go module cache, downloading the module through the Go proxy if needed)."""
    user = binaries.user_bin_dir(bin_dir)
    if user is not None and (user / "crds").is_dir():
        return user / "crds"
    version = binaries.load_components()["cert-manager-controller"].version
    cached = binaries.cache_dir() / "crds" / f"cert-manager-{version}"
    if cached.is_dir() and any(cached.glob("*.yaml")):
        return cached
    go = shutil.which("go")
    if go is None:
        raise HarnessError(
            f"cert-manager CRDs: not in {cached} and `go` is not on PATH to fetch them. "
            f"Fix: run `{binaries.BUILD_COMMAND}` on a machine with Go, or put the CRD YAML files in <bin-dir>/crds"
        )
    result = subprocess.run([go, "mod", "download", "-json", f"{MODULE}@{version}"],
                            capture_output=True, text=True)
    info = json.loads(result.stdout or "{}")
    if result.returncode != 0 or "Dir" not in info:
        raise HarnessError(f"cert-manager CRDs: `go mod download {MODULE}@{version}` failed: "
                           f"{info.get('Error') or result.stderr.strip()}")
    cached.mkdir(parents=True, exist_ok=True)
    for source in sorted(Path(info["Dir"], "deploy", "crds").glob("crd-*.yaml")):
        shutil.copyfile(source, cached / source.name)
    return cached


def render_crd(text: str) -> str:
    """Replace the Helm template strings in a CRD manifest's labels with the values the chart renders."""
    for template, value in _TEMPLATE_LABELS.items():
        text = text.replace(f"'{template}'", value)
    text = re.sub(r"^\s*# Generated labels \{\{.*\}\}\s*$", "", text, flags=re.M)
    if "{{" in text:
        line = next(l for l in text.splitlines() if "{{" in l)
        raise HarnessError(f"cert-manager CRDs: unrendered template left: {line.strip()!r}")
    return text


def crds(bin_dir: str | os.PathLike | None = None) -> list[dict]:
    documents = []
    for path in sorted(crd_dir(bin_dir).glob("*.yaml")):
        documents += load_documents(render_crd(path.read_text()))
    return [doc for doc in documents if doc.get("kind") == "CustomResourceDefinition"]


ISOLATION_LABEL = "certchaos.io/webhook"  # namespaces labelled "isolated" get a webhook registration of their own


def webhook_configurations(url: str, ca_pem: bytes, timeout_seconds: int = WEBHOOK_TIMEOUT_SECONDS,
                           only_namespace: str | None = None) -> list[dict]:
    """The Validating and Mutating WebhookConfigurations of the official chart, registered by URL.

    The cluster-wide pair skips namespaces labelled ISOLATION_LABEL=isolated; `only_namespace` gives
    such a namespace its own pair (same rules and failure policy), so a scenario can break "the
    webhook" for itself without breaking it for the scenarios running next to it.
    """
    bundle = base64.b64encode(ca_pem).decode()
    isolated = {"key": ISOLATION_LABEL, "operator": "NotIn", "values": ["isolated"]}
    if only_namespace:
        name = f"{WEBHOOK_NAME}-{only_namespace}"
        validating_selector = mutating_selector = {"matchLabels": {"kubernetes.io/metadata.name": only_namespace}}
    else:
        name = WEBHOOK_NAME
        validating_selector = {"matchExpressions": [
            {"key": "cert-manager.io/disable-validation", "operator": "NotIn", "values": ["true"]},
            {"key": "name", "operator": "NotIn", "values": [NAMESPACE]},
            isolated,
        ]}
        mutating_selector = {"matchExpressions": [isolated]}
    common = {
        "name": "webhook.cert-manager.io",
        "admissionReviewVersions": ["v1"],
        "matchPolicy": "Equivalent",
        "timeoutSeconds": timeout_seconds,
        "failurePolicy": "Fail",
        "sideEffects": "None",
        "rules": [{
            "apiGroups": ["cert-manager.io", "acme.cert-manager.io"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["*/*"],
        }],
    }
    metadata = {"name": name, "labels": {"app": "webhook", "app.kubernetes.io/component": "webhook"}}
    return [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": metadata, "webhooks": [{**common, "namespaceSelector": validating_selector,
                                             "clientConfig": {"url": f"{url}/validate", "caBundle": bundle}}]},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": metadata, "webhooks": [{**common, "namespaceSelector": mutating_selector,
                                             "clientConfig": {"url": f"{url}/mutate", "caBundle": bundle}}]},
    ]


def apply_webhook_configurations(api: client.ApiClient, documents: list[dict]) -> None:
    """Create or replace the webhook configurations returned by webhook_configurations()."""
    admission = client.AdmissionregistrationV1Api(api)
    for document in documents:
        kind = "validating" if document["kind"].startswith("Validating") else "mutating"
        create = getattr(admission, f"create_{kind}_webhook_configuration")
        read = getattr(admission, f"read_{kind}_webhook_configuration")
        replace = getattr(admission, f"replace_{kind}_webhook_configuration")
        name = document["metadata"]["name"]
        try:
            current = read(name)
        except client.ApiException as error:
            if error.status != 404:
                raise
            create(document)
            continue
        document["metadata"]["resourceVersion"] = current.metadata.resource_version
        replace(name, document)


def delete_webhook_configurations(api: client.ApiClient, name: str) -> None:
    admission = client.AdmissionregistrationV1Api(api)
    for delete in (admission.delete_validating_webhook_configuration, admission.delete_mutating_webhook_configuration):
        try:
            delete(name)
        except client.ApiException as error:
            if error.status != 404:
                raise
