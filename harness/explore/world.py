"""The live world of an explored example: its Certificates, faults and end state, through the lab's APIs
(harness.chaos and harness.observe: the scenarios' own builders, actions, faults and conditions)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from harness.chaos.actions import backdate_last_failure, trigger_renewal
from harness.chaos.certificates import certificate, create_certificate
from harness.chaos.fault import Fault
from harness.chaos.invariants import LifecycleCheck
from harness.explore.faults import EXPLORABLE, Target
from harness.observe import resources
from harness.observe.conditions.acme import challenges_gone
from harness.observe.conditions.certificates import certificate_done_issuing, certificate_view
from harness.observe.resources import CERTIFICATE
from harness.wait import Condition, Seen


def _issuing(crt: dict) -> bool:
    return (resources.condition(crt, "Issuing") or {}).get("status") == "True"


def _ready(crt: dict) -> bool:
    return (resources.condition(crt, "Ready") or {}).get("status") == "True"


class LiveWorld:
    """An example's namespace on a running lab; `check` is its LifecycleCheck (the end state it captures)."""

    def __init__(self, target: Target, check: LifecycleCheck):
        self.target, self.check = target, check
        self.namespace = target.namespace
        self.kube = target.lab.kube

    def dns_names(self, certificate_name: str, count: int) -> list[str]:
        return [self.target.issuer.dns_name(certificate_name if i == 0 else f"{certificate_name}-{i}")
                for i in range(count)]

    def create(self, certificate_name: str, dns_names: list[str]) -> None:
        create_certificate(self.kube, self.namespace, certificate(certificate_name, self.target.issuer.ref, dns_names))

    def change(self, certificate_name: str, dns_names: list[str]) -> None:
        client.CustomObjectsApi(self.kube).patch_namespaced_custom_object(
            CERTIFICATE.group, CERTIFICATE.version, self.namespace, CERTIFICATE.plural, certificate_name,
            {"spec": {"dnsNames": dns_names}})

    def renew(self, certificate_name: str) -> None:
        trigger_renewal(self.kube, self.namespace, certificate_name)

    def make_fault(self, name: str) -> Fault:
        return EXPLORABLE[name].make(self.target)

    def challenges_gone(self) -> Condition:
        return challenges_gone(self.kube, self.namespace)

    def _certificates(self) -> dict[str, dict]:
        return {c["metadata"]["name"]: c for c in resources.list_objects(self.kube, CERTIFICATE, self.namespace)}

    def watch(self, certificates: list[str]) -> Condition:
        """Always holds: what each Certificate says (Ready, Issuing, revision), for the journal; an API error is
        shown, not raised (the wait is about time passing, not about the API)."""
        def condition() -> Seen:
            try:
                found = self._certificates()
            except Exception as error:  # noqa: BLE001 - a view, see the docstring
                return Seen(True, f"{type(error).__name__}: {error}")
            return Seen(True, {name: {**certificate_view(found[name]), "Issuing": _issuing(found[name])}
                               if name in found else "absent" for name in certificates})
        return condition

    def settled(self, certificate_name: str) -> Condition:
        """Done issuing (Ready=True, no issuance in progress), or its issuance failed and it waits out the
        trigger controller's backoff (failedIssuanceAttempts set, not issuing)."""
        done = certificate_done_issuing(self.kube, self.namespace, certificate_name)

        def condition() -> Seen:
            seen = done()
            if seen.ok:
                return seen
            crt = resources.get(self.kube, CERTIFICATE, self.namespace, certificate_name) or {}
            failed = (crt.get("status") or {}).get("failedIssuanceAttempts")
            return Seen(bool(failed) and not _issuing(crt), seen.state)
        return condition

    def done_issuing(self, certificate_name: str) -> Condition:
        return certificate_done_issuing(self.kube, self.namespace, certificate_name)

    def failed_attempts(self, certificate_name: str) -> tuple[int, bool]:
        crt = resources.get(self.kube, CERTIFICATE, self.namespace, certificate_name) or {}
        return int((crt.get("status") or {}).get("failedIssuanceAttempts") or 0), _ready(crt)

    def backdate_last_failure(self, certificate_name: str, seconds: float) -> None:
        backdate_last_failure(self.kube, self.namespace, certificate_name, seconds)

    def capture(self) -> dict[str, Any]:
        return self.check.capture()
