"""Faults made through the Kubernetes API, as people and jobs make them to cert-manager's objects: a pending
CertificateRequest deleted, a solver's Secret put in the wrong namespace."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubernetes import client

from harness.chaos.fault import DescribedFault


@dataclass(repr=False)
class CertificateRequestDeleted(DescribedFault):
    """A CertificateRequest is deleted (a clean-up job, `kubectl delete certificaterequests --all`); a deletion
    cannot be taken back, so the revert does nothing: what comes next is cert-manager's to do."""

    api: client.ApiClient
    namespace: str
    name: str

    def apply(self) -> None:
        client.CustomObjectsApi(self.api).delete_namespaced_custom_object(
            "cert-manager.io", "v1", self.namespace, "certificaterequests", self.name)

    def revert(self) -> None:
        pass

    def describe(self) -> str:
        return f"CertificateRequest {self.namespace}/{self.name} deleted"


@dataclass(repr=False)
class SecretMisplaced(DescribedFault):
    """A Secret cert-manager reads is in the wrong namespace: moved from `where` (where cert-manager looks, e.g.
    its cluster resource namespace for a ClusterIssuer's) to `instead` (e.g. the workload's, beside its
    Certificate: the classic misstep); the revert moves it back."""

    api: client.ApiClient
    name: str
    where: str
    instead: str
    _data: dict | None = field(default=None)

    def apply(self) -> None:
        core = client.CoreV1Api(self.api)
        self._data = core.read_namespaced_secret(self.name, self.where).data
        core.create_namespaced_secret(self.instead, {"metadata": {"name": self.name}, "data": self._data})
        core.delete_namespaced_secret(self.name, self.where)

    def revert(self) -> None:
        if self._data is None:  # apply failed before it read the Secret: nothing moved
            return
        core = client.CoreV1Api(self.api)
        try:
            core.create_namespaced_secret(self.where, {"metadata": {"name": self.name}, "data": self._data})
        except client.ApiException as error:
            if error.status != 409:  # still there: apply failed before its delete
                raise
        try:
            core.delete_namespaced_secret(self.name, self.instead)
        except client.ApiException as error:
            if error.status != 404:
                raise

    def describe(self) -> str:
        return f"Secret {self.name} in namespace {self.instead}, not in {self.where} where it is read"
