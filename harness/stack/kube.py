"""Kubernetes plumbing shared by the stack providers: kubeconfigs, API clients, applying manifests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from harness.wait import Hopeless, Seen, wait_for


def write_kubeconfig(path: Path, server: str, ca_cert: Path, client_cert: Path | None = None,
                     client_key: Path | None = None, name: str = "certchaos", token_file: Path | None = None) -> Path:
    """A kubeconfig with one cluster, one user (client certificate, or a bearer token read from
    `token_file`, as in-cluster clients read their projected token) and one current context."""
    user = ({"tokenFile": str(token_file)} if token_file is not None
            else {"client-certificate": str(client_cert), "client-key": str(client_key)})
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path


def copy_kubeconfig(source: Path, path) -> Path:
    """`source` copied to `path` (made private: it holds credentials)."""
    target = Path(path).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(0o600)
    return target


def api_client(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


def load_documents(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


# Answers of an overloaded or restarting API server (kind's under load answered 504 to a CRD create):
# worth another try within the deadline, unlike a 4xx, which is our mistake.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


def apply_crds(api: client.ApiClient, documents: Iterable[dict], timeout: float = 60.0) -> list[str]:
    """Create (or replace) CustomResourceDefinitions and wait until each is Established."""
    extensions = client.ApiextensionsV1Api(api)
    names = []

    def applied(document: dict) -> Seen:
        name = document["metadata"]["name"]
        try:
            try:
                extensions.create_custom_resource_definition(document)
            except ApiException as error:
                if error.status != 409:
                    raise
                current = extensions.read_custom_resource_definition(name)
                document["metadata"]["resourceVersion"] = current.metadata.resource_version
                extensions.replace_custom_resource_definition(name, document)
        except ApiException as error:
            if error.status not in TRANSIENT_STATUSES:  # wait_for would retry it: stop now, with the API's words
                raise Hopeless(f"CRD {name}: the API server refused it ({error.status} {error.reason}): {error.body}")
            return Seen(False, f"{error.status} {error.reason}")
        return Seen(True, "applied")

    for document in documents:
        name = document["metadata"]["name"]
        wait_for(lambda: applied(document), subject=f"CRD {name}", expected="created or replaced",
                 timeout=timeout)
        names.append(name)

    def established() -> Seen:
        pending = []
        for name in names:
            conditions = extensions.read_custom_resource_definition(name).status.conditions or []
            if not any(c.type == "Established" and c.status == "True" for c in conditions):
                pending.append(name)
        return Seen(not pending, {"not established": pending})

    # CRDs are established within a second or two on an idle API server; 60 s covers a loaded CI machine.
    wait_for(established, subject="cert-manager CRDs", expected="to be Established", timeout=timeout)
    return names


def ensure_namespace(api: client.ApiClient, name: str) -> None:
    try:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    except ApiException as error:
        if error.status != 409:
            raise


_RBAC_KINDS = {
    "ServiceAccount": ("CoreV1Api", "namespaced_service_account"),
    "ClusterRole": ("RbacAuthorizationV1Api", "cluster_role"),
    "ClusterRoleBinding": ("RbacAuthorizationV1Api", "cluster_role_binding"),
    "Role": ("RbacAuthorizationV1Api", "namespaced_role"),
    "RoleBinding": ("RbacAuthorizationV1Api", "namespaced_role_binding"),
}


def apply_rbac(api: client.ApiClient, documents: Iterable[dict]) -> list[str]:
    """Create (or replace) ServiceAccounts, (Cluster)Roles and their bindings; returns "Kind ns/name"s."""
    applied = []
    for document in documents:
        kind, metadata = document["kind"], document["metadata"]
        if kind not in _RBAC_KINDS:
            raise ValueError(f"apply_rbac: {kind} {metadata.get('name')} is not one of {', '.join(_RBAC_KINDS)}")
        group, suffix = _RBAC_KINDS[kind]
        resource = getattr(client, group)(api)
        namespaced = suffix.startswith("namespaced_")
        args = [metadata["namespace"]] if namespaced else []
        try:
            getattr(resource, f"create_{suffix}")(*args, document)
        except ApiException as error:
            if error.status != 409:
                raise
            if kind != "ServiceAccount":  # a ServiceAccount has nothing to update; replacing would drop its tokens
                getattr(resource, f"replace_{suffix}")(metadata["name"], *args, document)
        applied.append(f"{kind} {metadata.get('namespace', '')}/{metadata['name']}".replace(" /", " "))
    return applied


def service_account_token(api: client.ApiClient, namespace: str, name: str, seconds: int) -> str:
    """A bound token for ServiceAccount namespace/name from the TokenRequest API."""
    response = client.CoreV1Api(api).create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": seconds}})
    return response.status.token
