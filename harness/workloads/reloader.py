"""The reloader of the reload scenarios: Stakater Reloader, our build of its release (image
certchaos.local/reloader, harness/stack/gomodules/stakater-reloader) or the user's image (--reloader-image).

Installed per scenario namespace, watching only it (KUBERNETES_NAMESPACE, as Reloader's chart does with
watchGlobally: false), with a ServiceAccount and a namespaced Role, so scenarios running at once never roll
each other's Deployments. Its env-vars strategy is written here once (env_var_name, data_hash) and the
scenarios check the rolled Deployments against it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from kubernetes import client

NAME = "reloader"
# Reloader's RBAC, namespaced: it reads ConfigMaps and Secrets, lists every workload kind it supports to find
# the annotated ones, rolls them and records an Event on each ("Reloaded"); a Lease only with --enable-ha.
RULES = [
    {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "daemonsets", "statefulsets"],
     "verbs": ["get", "list", "watch", "update", "patch"]},
    {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": ["get", "list", "watch", "create", "update", "patch"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "watch", "create", "update"]},
]


def env_var_name(secret: str) -> str:
    """Reloader's env-vars strategy variable for Secret `secret`: STAKATER_<NAME>_SECRET, the name upper-cased
    and each run of characters outside A-Z0-9 after a valid one turned into one "_"."""
    return "STAKATER_" + re.sub(r"[^A-Z0-9]+", "_", secret.upper()).lstrip("_") + "_SECRET"


def data_hash(data: dict[str, str]) -> str:
    """The variable's value: SHA1 (hex) of the Secret's decoded data as sorted "key=value" joined by ";".
    `data` is the Secret's .data as the API returns it (base64)."""
    pairs = sorted(f"{key}={base64.b64decode(value).decode('latin-1')}" for key, value in (data or {}).items())
    return hashlib.sha1(";".join(pairs).encode("latin-1")).hexdigest()


@dataclass(frozen=True)
class ReloaderInstall:
    """What is installed: the image (for the journal)."""

    namespace: str
    image: str

    @property
    def description(self) -> str:
        return f"Stakater Reloader ({self.image})"


def manifests(namespace: str, image: str) -> list[dict]:
    labels = {"app": NAME}
    meta = {"name": NAME, "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
         "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}]},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "serviceAccountName": NAME, "terminationGracePeriodSeconds": 1,
                      "containers": [{"name": NAME, "image": image, "imagePullPolicy": "IfNotPresent",
                                      "env": [{"name": "KUBERNETES_NAMESPACE", "value": namespace}]}]}}}},
    ]


def scale(api: client.ApiClient, namespace: str, replicas: int) -> None:
    client.AppsV1Api(api).patch_namespaced_deployment_scale(NAME, namespace, {"spec": {"replicas": replicas}})
