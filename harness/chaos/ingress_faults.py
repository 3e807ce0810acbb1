"""Faults on the path of an HTTP-01 validation through an ingress controller: the issuer's solver, the nodes
the solver pods may run on, the domain's A record, and the ingress controller itself."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from kubernetes import client

from harness.chaos.fault import DescribedFault
from harness.stack.dnscontrol import DnsControl
from harness.wait import Seen, wait_for
from harness.workloads import ingress

GROUP, VERSION, PLURAL = "cert-manager.io", "v1", "clusterissuers"
# The controller's pod leaves within its termination grace (Traefik stops in about a second on SIGTERM);
# 60 s covers a loaded node.
POD_GONE_TIMEOUT = 60.0


def _issuers(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


@dataclass(repr=False)
class SolverIngressClassWrong(DescribedFault):
    """The ClusterIssuer's HTTP-01 solver names an ingress class no ingress controller serves."""

    api: client.ApiClient
    issuer: str
    ingress_class: str
    _solvers: list | None = field(default=None)

    def apply(self) -> None:
        found = _issuers(self.api).get_cluster_custom_object(GROUP, VERSION, PLURAL, self.issuer)
        self._solvers = copy.deepcopy(found["spec"]["acme"]["solvers"])
        solvers = copy.deepcopy(self._solvers)
        for solver in solvers:  # the HTTP-01 ingress solvers; DNS-01 ones are left as they are
            if (solver.get("http01") or {}).get("ingress") is not None:
                solver["http01"]["ingress"]["class"] = self.ingress_class
        self._patch(solvers)

    def revert(self) -> None:
        if self._solvers is not None:
            self._patch(self._solvers)

    def _patch(self, solvers: list) -> None:
        _issuers(self.api).patch_cluster_custom_object(GROUP, VERSION, PLURAL, self.issuer,
                                                       {"spec": {"acme": {"solvers": solvers}}})


@dataclass(repr=False)
class NodeLabelRemoved(DescribedFault):
    """The label the HTTP-01 solver pods' nodeSelector asks for is gone from the node (a node pool replaced)."""

    api: client.ApiClient
    node: str
    label: str
    _value: str | None = field(default=None)

    def apply(self) -> None:
        core = client.CoreV1Api(self.api)
        self._value = (core.read_node(self.node).metadata.labels or {}).get(self.label)
        core.patch_node(self.node, {"metadata": {"labels": {self.label: None}}})

    def revert(self) -> None:
        if self._value is not None:
            client.CoreV1Api(self.api).patch_node(self.node, {"metadata": {"labels": {self.label: self._value}}})


@dataclass(repr=False)
class ARecordElsewhere(DescribedFault):
    """The domain's A record names another address, where no ingress controller answers."""

    dns: DnsControl
    name: str  # the domain, fully qualified with its dot
    address: str  # where the ingress controller answers
    elsewhere: str

    def apply(self) -> None:
        self.dns.remove_records(self.name, "A", self.address)
        self.dns.add_record(self.name, "A", self.elsewhere)

    def revert(self) -> None:
        self.dns.remove_records(self.name, "A", self.elsewhere)
        self.dns.add_record(self.name, "A", self.address)


@dataclass(repr=False)
class IngressControllerDown(DescribedFault):
    """The ingress controller has no pod: nothing answers on the node's ports 80 and 443."""

    api: client.ApiClient
    namespace: str = ingress.NAMESPACE

    def apply(self) -> None:
        ingress.scale(self.api, 0, self.namespace)
        wait_for(lambda: Seen(not (pods := ingress.pods(self.api, self.namespace, ingress.SELECTOR)),
                              [p.metadata.name for p in pods]),
                 subject=f"ingress controller {self.namespace}/{ingress.NAME}", expected="no pod left",
                 timeout=POD_GONE_TIMEOUT, interval=0.5)

    def revert(self) -> None:
        ingress.scale(self.api, 1, self.namespace)
        ingress.wait_ready(self.api, namespace=self.namespace)


# Traefik's entrypoint redirection, as its documentation configures it for all HTTP traffic; to the node's port 443
# (the entrypoint's own :8443 is not what the outside reaches).
REDIRECT_ARGUMENTS = ("--entryPoints.web.http.redirections.entryPoint.to=:443",
                      "--entryPoints.web.http.redirections.entryPoint.scheme=https")


@dataclass(repr=False)
class HttpsRedirectInFront(DescribedFault):
    """The ingress controller redirects all plain HTTP to HTTPS, the challenge path included (restarted with it)."""

    api: client.ApiClient
    namespace: str = ingress.NAMESPACE

    def apply(self) -> None:
        self._set_arguments(lambda args: [*args, *(a for a in REDIRECT_ARGUMENTS if a not in args)])

    def revert(self) -> None:
        self._set_arguments(lambda args: [a for a in args if a not in REDIRECT_ARGUMENTS])

    def _set_arguments(self, change) -> None:
        apps = client.AppsV1Api(self.api)
        deployment = apps.read_namespaced_deployment(ingress.NAME, self.namespace)
        container = deployment.spec.template.spec.containers[0]
        apps.patch_namespaced_deployment(ingress.NAME, self.namespace, {"spec": {"template": {"spec": {
            "containers": [{"name": container.name, "args": change(list(container.args or []))}]}}}})
        ingress.wait_ready(self.api, namespace=self.namespace)
