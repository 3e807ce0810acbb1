"""Faults of the reload path: the reloader that should roll workloads when their Secret changes."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubernetes import client

from harness.chaos.fault import BaseFault
from harness.workloads import reloader


@dataclass(repr=False)
class ReloaderDown(BaseFault):
    """Reloader is scaled to 0: nothing rolls the workloads on a Secret change."""

    api: client.ApiClient
    namespace: str
    reloader: str = "Stakater Reloader"  # what is installed, for the journal
    _replicas: int | None = field(default=None)

    def apply(self) -> None:
        scale = client.AppsV1Api(self.api).read_namespaced_deployment_scale(reloader.NAME, self.namespace)
        self._replicas = scale.spec.replicas
        reloader.scale(self.api, self.namespace, 0)

    def revert(self) -> None:
        reloader.scale(self.api, self.namespace, self._replicas or 1)

    def __repr__(self) -> str:
        return f"ReloaderDown(namespace={self.namespace!r}, reloader={self.reloader!r})"
