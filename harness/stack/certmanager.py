"""cert-manager installation pieces that the local provider applies itself: CRDs, the chart's RBAC and
ServiceAccounts, and webhook registrations.

The CRDs and the Helm chart come from the cert-manager Go module of the pinned version (copied into the
cache on first use; a user's --bin-dir may hold `crds/` and `chart/` of their own build). The CRDs'
labels carry Helm template strings; they are replaced with what the chart would render. The chart is
rendered by the real helm (stack/helm.py); only its RBAC documents and ServiceAccounts are applied, and
each component gets a kubeconfig with its ServiceAccount's token from the TokenRequest API, as a pod
gets a projected token. The webhook configurations mirror the official chart's (rules,
namespaceSelector, matchPolicy, failurePolicy Fail, timeoutSeconds) with the chart's `webhook.url.host`
form: registered by URL with a caBundle.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

from kubernetes import client

from harness.stack import binaries
from harness.errors import HarnessError
from harness.stack import helm
from harness.stack.gotoolchain import module_source
from harness.stack.kube import load_documents, service_account_token

MODULE = "github.com/cert-manager/cert-manager"
NAMESPACE = "cert-manager"
WEBHOOK_NAME = "cert-manager-webhook"
# The chart's default `webhook.timeoutSeconds`.
WEBHOOK_TIMEOUT_SECONDS = 10

_TEMPLATE_LABELS = {
    '{{ template "cert-manager.name" . }}': "cert-manager",
    "{{ .Release.Name }}": "cert-manager",
}


def _module_dir(what: str, version: str, fix: str) -> Path:
    """The cert-manager module's source of `version` (downloaded through the Go proxy if needed)."""
    return module_source(MODULE, version, f"cert-manager {what}", fix)


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
    source = _module_dir("CRDs", version, f"run `{binaries.BUILD_COMMAND}` on a machine with Go, "
                                          f"or put the CRD YAML files in <bin-dir>/crds")
    cached.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(source, "deploy", "crds").glob("crd-*.yaml")):
        shutil.copyfile(path, cached / path.name)
    return cached


def chart_dir(bin_dir: str | os.PathLike | None = None) -> Path:
    """cert-manager's Helm chart: <bin-dir>/chart if the user gives one (their build's chart), else a
    copy of the pinned module's deploy/charts/cert-manager in the cache, with the Chart.yaml the release
    process would write (the module holds Chart.template.yaml with placeholder versions)."""
    user = binaries.user_bin_dir(bin_dir)
    if user is not None and (user / "chart" / "Chart.yaml").is_file():
        return user / "chart"
    version = binaries.load_components()["cert-manager-controller"].version
    cached = binaries.cache_dir() / "charts" / f"cert-manager-{version}"
    if (cached / "Chart.yaml").is_file():
        return cached
    source = _module_dir("chart", version, f"run `{binaries.BUILD_COMMAND}` on a machine with Go, "
                                           f"or put the chart in <bin-dir>/chart")
    scratch = cached.with_name(cached.name + f".tmp-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(Path(source, "deploy", "charts", "cert-manager"), scratch)
    for path in [scratch, *scratch.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # the module cache is read-only
    template = scratch / "Chart.template.yaml"
    (scratch / "Chart.yaml").write_text(render_chart_metadata(template.read_text(), version))
    template.unlink()
    scratch.replace(cached)
    return cached


def render_chart_metadata(text: str, version: str) -> str:
    """Chart.template.yaml -> Chart.yaml: the version fields and placeholders the release tool fills."""
    text = re.sub(r"^(version|appVersion): .*$", lambda m: f"{m.group(1)}: {version}", text, flags=re.M)
    text = text.replace("{{IS_PRERELEASE}}", "true" if "-" in version else "false")
    if "{{" in text:
        raise HarnessError(f"cert-manager chart: unrendered placeholder left in Chart.yaml: "
                           f"{next(l for l in text.splitlines() if '{{' in l).strip()!r}")
    return text


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
    if only_namespace:
        # A namespaceSelector never skips a cluster-scoped object (a ClusterIssuer): a namespace's own pair takes
        # namespaced objects only, or breaking it would break every ClusterIssuer created meanwhile.
        common["rules"] = [{**rule, "scope": "Namespaced"} for rule in common["rules"]]
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


# The values the local provider renders the chart with: what it runs (no startupapicheck Job; CRDs are
# applied from crds()) and the chart's defaults spelled out where the lab depends on them.
CHART_VALUES = {
    "installCRDs": False,
    "startupapicheck": {"enabled": False},
    "global": {"leaderElection": {"namespace": "kube-system"}, "rbac": {"create": True}},
}
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
# The components and their chart ServiceAccounts (release name "cert-manager").
SERVICE_ACCOUNTS = {
    "cert-manager-controller": "cert-manager",
    "cert-manager-cainjector": "cert-manager-cainjector",
    "cert-manager-webhook": "cert-manager-webhook",
}
LEADER_ELECTION_NAMESPACE = CHART_VALUES["global"]["leaderElection"]["namespace"]
CONTROLLER_LEASE = "cert-manager-controller"  # the controller's Lease (cmd/controller/app/controller.go)


def chart_rbac(kube_version: str, bin_dir: str | os.PathLike | None = None) -> list[dict]:
    """The chart's ServiceAccounts, (Cluster)Roles and bindings, rendered by helm with CHART_VALUES."""
    documents = helm.render(chart_dir(bin_dir), "cert-manager", NAMESPACE, CHART_VALUES,
                            kube_version=kube_version, bin_dir=bin_dir)
    rbac = [doc for doc in documents if doc.get("kind") in RBAC_KINDS]
    accounts = {doc["metadata"]["name"] for doc in rbac if doc["kind"] == "ServiceAccount"}
    missing = sorted(set(SERVICE_ACCOUNTS.values()) - accounts)
    if missing:
        raise HarnessError(f"cert-manager chart: rendered no ServiceAccount {', '.join(missing)} "
                           f"(rendered: {', '.join(sorted(accounts)) or 'none'})")
    return rbac


# Token lifetime for the components' kubeconfigs. A kubelet asks for 1 h and refreshes the file at 80%;
# the local provider asks once, so the token outlives any lab (the catalogue runs for minutes).
TOKEN_SECONDS = 24 * 3600


def component_tokens(api: client.ApiClient, directory: Path) -> dict[str, Path]:
    """A token file per component from the TokenRequest API for its chart ServiceAccount (what a pod's
    projected service account token holds); returns component -> token file."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for component, account in SERVICE_ACCOUNTS.items():
        path = directory / f"{component}.token"
        path.write_text(service_account_token(api, NAMESPACE, account, TOKEN_SECONDS))
        path.chmod(0o600)
        files[component] = path
    return files
