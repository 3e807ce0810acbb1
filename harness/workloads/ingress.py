"""The kind lab's ingress controller: Traefik, our build of its release (image certchaos.local/traefik), installed
as its documentation's Kubernetes manifests install it, once per cluster, for the HTTP-01 scenarios.

What Traefik publishes is read from its module (the Go module cache, as cert-manager's CRDs are): the CRDs
(docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml, for its Middlewares) and the
RBAC (kubernetes-crd-rbac.yml, its ClusterRoleBinding's subject moved into our namespace, as users do). What
users write themselves is written here: the ServiceAccount, the Deployment with its command line, and the
IngressClass "traefik" (controller traefik.io/ingress-controller, which Traefik's Ingress provider serves).

Pebble's VA and cert-manager's self-check reach it where ACME says a domain is validated: port 80 of the
address its A record names. The pod maps its entrypoints to ports 80 and 443 of the control-plane node
(hostPort, the CNI's portmap: kind's own ingress guide does the same), and a scenario's A records point at
that node's address on the kind network, which the host reaches too (served certificates by handshake).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import client, utils

from harness.errors import HarnessError
from harness.stack import binaries
from harness.stack.gotoolchain import module_source
from harness.stack.kind.images import INGRESS_IMAGE
from harness.stack.kube import apply_crds, apply_rbac, ensure_namespace
from harness.workloads.deploy import load_images, pods, wait_rolled_out

MODULE = "github.com/traefik/traefik/v3"
NAMESPACE = "certchaos-ingress"
NAME = "traefik-ingress-controller"  # the ServiceAccount its RBAC manifest binds, and so the Deployment's name
CLASS = "traefik"  # Traefik's default IngressClass name (pkg/provider/kubernetes/ingress: traefikDefaultIngressClass)
CONTROLLER = "traefik.io/ingress-controller"  # the IngressClass controller Traefik's Ingress provider serves
SELECTOR = {"app": NAME}
HTTP_PORT, HTTPS_PORT = 80, 443  # on the node: where HTTP-01 is validated and TLS served
PING_PORT = 8080  # Traefik's own entrypoint for /ping, the readiness probe
DOCS = Path("docs/content/reference/dynamic-configuration")
# A Traefik pod is ready 2-5 s after it starts on an idle node; the image load and a loaded 2-core machine
# (CRDs watched, the scheduler and kubelet slow) stretch it: 180 s.
READY_TIMEOUT = 180.0


@dataclass(frozen=True)
class IngressController:
    """A running ingress controller: its IngressClass and the address Pebble and the host reach it at."""

    ingress_class: str
    address: str  # the node address its ports 80 and 443 are mapped on: what a domain's A record names
    node: str  # that node's name
    http_port: int = HTTP_PORT
    https_port: int = HTTPS_PORT
    namespace: str = NAMESPACE
    name: str = NAME
    selector: tuple[tuple[str, str], ...] = tuple(SELECTOR.items())


def version() -> str:
    return binaries.load_components()["traefik"].version


def published(name: str) -> list[dict]:
    """A manifest Traefik's documentation publishes, from its module's source."""
    source = module_source(MODULE, version(), f"Traefik's {name}", "run `certchaos binaries build --provider kind`")
    return [doc for doc in yaml.safe_load_all((source / DOCS / name).read_text()) if doc]


def rbac(namespace: str = NAMESPACE) -> list[dict]:
    """Traefik's ClusterRole and ClusterRoleBinding, the binding's ServiceAccount in `namespace`."""
    documents = published("kubernetes-crd-rbac.yml")
    for document in documents:
        for subject in document.get("subjects", []):
            subject["namespace"] = namespace
    return documents


def manifests(image: str = INGRESS_IMAGE, namespace: str = NAMESPACE) -> list[dict]:
    """The objects users write themselves: ServiceAccount, Deployment (one replica on the control-plane node,
    entrypoints web :8000 -> node 80, websecure :8443 -> node 443, the Ingress and CRD providers), IngressClass."""
    arguments = [
        "--entryPoints.web.address=:8000", "--entryPoints.websecure.address=:8443",
        f"--entryPoints.traefik.address=:{PING_PORT}", "--ping=true",
        "--providers.kubernetesingress=true", "--providers.kubernetescrd=true", "--log.level=INFO",
        # An Ingress whose backend has no ready endpoint still gets its router (503) and its TLS certificate:
        # the scenarios' annotated Ingresses need no backend to show what is served.
        "--providers.kubernetesingress.allowEmptyServices=true",
    ]
    container = {
        "name": "traefik", "image": image, "imagePullPolicy": "Never", "args": arguments,
        "ports": [{"name": "web", "containerPort": 8000, "hostPort": HTTP_PORT},
                  {"name": "websecure", "containerPort": 8443, "hostPort": HTTPS_PORT},
                  {"name": "ping", "containerPort": PING_PORT}],
        "readinessProbe": {"httpGet": {"path": "/ping", "port": PING_PORT}, "periodSeconds": 2},
    }
    pod = {"serviceAccountName": NAME, "containers": [container],
           # The node whose address the A records name: the control plane (there on every cluster shape).
           "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
           "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                            "effect": "NoSchedule"}]}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": NAME, "namespace": namespace}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME, "namespace": namespace},
         # Recreate: a second pod cannot take the node's ports while the first holds them.
         "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": SELECTOR},
                  "template": {"metadata": {"labels": SELECTOR}, "spec": pod}}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": CLASS},
         "spec": {"controller": CONTROLLER}},
    ]


def annotated_ingress(name: str, cluster_issuer: str, hosts: list[str], secret: str,
                      ingress_class: str = CLASS, backend: str = "web") -> dict:
    """An Ingress as users annotate it for cert-manager's ingress-shim: `cert-manager.io/cluster-issuer`, a tls:
    entry for `hosts` into Secret `secret`, a rule per host to Service `backend` port 80."""
    path = {"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": backend, "port": {"number": 80}}}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "annotations": {"cert-manager.io/cluster-issuer": cluster_issuer}},
            "spec": {"ingressClassName": ingress_class, "tls": [{"hosts": hosts, "secretName": secret}],
                     "rules": [{"host": host, "http": {"paths": [path]}} for host in hosts]}}


def _create_if_missing(api: client.ApiClient, document: dict) -> None:
    try:
        utils.create_from_dict(api, document, namespace=document["metadata"].get("namespace"))
    except utils.FailToCreateError as error:
        # Another worker of the same run installed it first: the same manifests, nothing to do.
        if any(e.status != 409 for e in error.api_exceptions):
            raise HarnessError(f"creating {document['kind']} {document['metadata']['name']} failed: "
                               f"{'; '.join(f'{e.status} {e.reason} {str(e.body)[:300]}' for e in error.api_exceptions)}")


def ready_pod(api: client.ApiClient, namespace: str = NAMESPACE) -> client.V1Pod | None:
    return next((pod for pod in pods(api, namespace, SELECTOR) if pod.metadata.deletion_timestamp is None and
                 any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])), None)


def wait_ready(api: client.ApiClient, timeout: float = READY_TIMEOUT, namespace: str = NAMESPACE) -> client.V1Pod:
    """The ready controller pod, once its Deployment is rolled out; a HarnessError naming what each pod showed
    if it is not."""
    wait_rolled_out(api, namespace, NAME, SELECTOR, timeout)
    pod = ready_pod(api, namespace)
    if pod is None:
        raise HarnessError(f"ingress controller {namespace}/{NAME}: rolled out, yet no ready pod is listed")
    return pod


def install(api: client.ApiClient, image: str | None = None, bin_dir=None) -> IngressController:
    """Traefik in the cluster of `api` (idempotent: a second call finds it), ready; where it answers."""
    chosen = image or INGRESS_IMAGE
    load_images(api, chosen, what="ingress controller image", bin_dir=bin_dir)
    ensure_namespace(api, NAMESPACE)
    apply_crds(api, published("kubernetes-crd-definition-v1.yml"))
    apply_rbac(api, rbac())
    for document in manifests(chosen):
        _create_if_missing(api, document)
    pod = wait_ready(api)
    return IngressController(CLASS, pod.status.host_ip, pod.spec.node_name)


def scale(api: client.ApiClient, replicas: int, namespace: str = NAMESPACE) -> None:
    client.AppsV1Api(api).patch_namespaced_deployment_scale(NAME, namespace, {"spec": {"replicas": replicas}})


def create_ingress(api: client.ApiClient, namespace: str, document: dict) -> dict:
    """Create an Ingress in `namespace`, and each backend Service it names that does not exist as a Service
    without endpoints (no selector: the controller routes to it and answers 503, so the routers and their TLS
    are real without a workload). An API refusal is one HarnessError with the API's words."""
    core = client.CoreV1Api(api)
    backends = {path["backend"]["service"]["name"] for rule in document["spec"].get("rules", [])
                for path in rule["http"]["paths"]}
    try:
        for backend in sorted(backends):
            try:
                core.create_namespaced_service(namespace, {"metadata": {"name": backend},
                                                           "spec": {"ports": [{"name": "http", "port": 80}]}})
            except client.ApiException as error:
                if error.status != 409:
                    raise
        return client.NetworkingV1Api(api).create_namespaced_ingress(namespace, document).to_dict()
    except client.ApiException as error:
        raise HarnessError(f"creating Ingress {namespace}/{document['metadata']['name']} and its backends: "
                           f"{error.status} {error.reason} {str(error.body)[:300]}") from None
