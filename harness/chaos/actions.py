"""Actions a scenario takes on the system, as a user or time would: trigger a renewal the way `cmctl renew`
does, let the time since a failed issuance pass (lastFailureTime moved back), and expire an Issuer's ACME
authorizations at the CA.

Why expire authorizations: Let's Encrypt reuses an account's valid authorization for a new order for up
to 30 days, so a renewal minutes after issuance may need no challenge at all. The lab runs Pebble with
PEBBLE_AUTHZREUSE=0, which still reuses one identifier's authorization in a hundred (wfe.go reuses unless
rand.Intn(100) > the percentage: seen once, a renewal's Order came with one challenge for its two names), and
a scenario about the renewal's challenge must not depend on the CA's reuse policy anyway: in production a
renewal comes ~60 days after issuance, when the authorizations have long expired, and deactivating them (as
the Issuer's own ACME account) gives a compressed-time renewal the same fresh challenge.
"""

from __future__ import annotations

import base64
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import josepy
from acme import client as acme_client
from acme import messages
from cryptography.hazmat.primitives import serialization
from kubernetes import client
from kubernetes.client.rest import ApiException

from harness.chaos.process_faults import DEPLOYMENT, Controller
from harness.errors import HarnessError
from harness.chaos.certificates import certificate, create_certificate
from harness.observe.conditions.acme import challenges_gone
from harness.observe.conditions.certificates import certificate_done_issuing
from harness.observe.resources import CERTIFICATE, CLUSTER_ISSUER, ISSUER, ORDER, SECRET, get, list_objects
from harness.observe.tlsinspect import Inspection, inspect_secret
from harness.stack.timings import ISSUANCE
from harness.stack.pod import pod_argv, pod_name
from harness.stack.ports import LOOPBACK, free_port
from harness.stack.certmanager import NAMESPACE
from harness.stack.probes import http_ok, log_contains, log_holds
from harness.stack.process import ManagedProcess
from harness.wait import Condition, Seen, wait_for


def _account(kube: client.ApiClient, namespace: str, issuer_name: str, directory_url: str, ca_bundle: str,
             kind: str):
    # A ClusterIssuer's account key is in cert-manager's cluster resource namespace (its own, in the lab).
    issuer = (get(kube, ISSUER, namespace, issuer_name) if kind == "Issuer" else
              get(kube, CLUSTER_ISSUER, None, issuer_name))
    acme_spec, acme_status = issuer["spec"]["acme"], issuer["status"]["acme"]
    secret = get(kube, SECRET, namespace if kind == "Issuer" else NAMESPACE, acme_spec["privateKeySecretRef"]["name"])
    key = serialization.load_pem_private_key(base64.b64decode(secret["data"]["tls.key"]), password=None)
    registration = messages.RegistrationResource(uri=acme_status["uri"], body=messages.Registration())
    network = acme_client.ClientNetwork(josepy.JWKRSA(key=key), account=registration, verify_ssl=ca_bundle)
    return acme_client.ClientV2(acme_client.ClientV2.get_directory(directory_url, network), network)


def expire_authorizations(kube: client.ApiClient, namespace: str, issuer_name: str, directory_url: str,
                          ca_bundle: str, kind: str = "Issuer") -> list[str]:
    """Deactivate every valid authorization of the namespace's Orders at the CA, as the account of the Issuer (or
    `kind` ClusterIssuer) `issuer_name`; return their URLs."""
    acme = _account(kube, namespace, issuer_name, directory_url, ca_bundle, kind)
    deactivated = []
    for order in list_objects(kube, ORDER, namespace):
        for entry in (order.get("status") or {}).get("authorizations", []):
            url = entry["url"]
            authorization, _ = acme.poll(messages.AuthorizationResource(uri=url, body=messages.Authorization()))
            if authorization.body.status == messages.STATUS_VALID:
                acme.deactivate_authorization(authorization)
                deactivated.append(url)
    return deactivated


# --- cmctl renew --------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_certificate_condition(crt: dict, type_: str, status: str, reason: str, message: str,
                              now: str | None = None) -> dict:
    """cert-manager's apiutil.SetCertificateCondition on a JSON Certificate (in place; returned too):
    the condition gets the object's generation; its lastTransitionTime changes only when the status does."""
    new = {"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": now or _now(), "observedGeneration": crt["metadata"].get("generation")}
    conditions = crt.setdefault("status", {}).setdefault("conditions", [])
    for index, existing in enumerate(conditions):
        if existing.get("type") != type_:
            continue
        if existing.get("status") == status:
            new["lastTransitionTime"] = existing.get("lastTransitionTime")
        conditions[index] = new
        return crt
    conditions.append(new)
    return crt


# Optimistic-concurrency conflicts: the controller may write the status between our read and write (during an
# issuance its issuing, readiness and key-manager controllers write it in bursts; three attempts lost to one
# burst at load 15). cmctl gives up on the first; a test would only retry by hand, so re-read up to ten times.
_STATUS_ATTEMPTS = 10


def _update_status(api: client.ApiClient, namespace: str, name: str, change: Callable[[dict], None],
                   what: str) -> dict:
    """Read the Certificate, `change` it, replace its status (the status subresource); re-read on a conflict."""
    objects = client.CustomObjectsApi(api)
    for attempt in range(_STATUS_ATTEMPTS):
        crt = objects.get_namespaced_custom_object(CERTIFICATE.group, CERTIFICATE.version, namespace,
                                                   CERTIFICATE.plural, name)
        change(crt)
        try:
            return objects.replace_namespaced_custom_object_status(
                CERTIFICATE.group, CERTIFICATE.version, namespace, CERTIFICATE.plural, name, crt)
        except ApiException as error:
            if error.status == 409 and attempt + 1 < _STATUS_ATTEMPTS:
                continue
            raise HarnessError(f"failed to {what} of Certificate {namespace}/{name}: "
                               f"{error.status} {error.reason}") from error
    raise AssertionError("unreachable")


# When this process triggered each Certificate's renewal, by (namespace, name): the lifecycle invariants accept
# a ManuallyTriggered issuance only after one of these, not on cert-manager's own word.
_TRIGGERED: dict[tuple[str, str], list[float]] = {}


def renewals_triggered(namespace: str) -> dict[str, list[float]]:
    """The times (epoch s) trigger_renewal was called for each Certificate of `namespace` in this process."""
    return {name: list(times) for (ns, name), times in _TRIGGERED.items() if ns == namespace}


def trigger_renewal(api: client.ApiClient, namespace: str, name: str) -> dict:
    """What `cmctl renew` v1.11 does: set Issuing=True, reason ManuallyTriggered, through the status
    subresource, so the controller re-issues now instead of at renewalTime. Returns the updated object."""
    # Noted before the write: the watch may journal the condition before the update call returns.
    _TRIGGERED.setdefault((namespace, name), []).append(time.time())
    return _update_status(api, namespace, name, lambda crt: set_certificate_condition(
        crt, "Issuing", "True", "ManuallyTriggered", "Certificate re-issuance manually triggered"),
        "trigger issuance")


def backdate_last_failure(api: client.ApiClient, namespace: str, name: str, seconds_ago: float) -> int:
    """Set status.lastFailureTime to `seconds_ago` before now, as if that long had passed since the failed
    issuance (the trigger controller reads it to decide when the backoff ends). Returns it (epoch s)."""
    failed_at = int(time.time() - seconds_ago)  # the API stores it to the second

    def backdate(crt: dict) -> None:
        if not crt.get("status", {}).get("lastFailureTime"):
            raise HarnessError(f"Certificate {namespace}/{name} has no lastFailureTime to move: it has not failed")
        crt["status"]["lastFailureTime"] = datetime.fromtimestamp(failed_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    _update_status(api, namespace, name, backdate, "move lastFailureTime")
    return failed_at


# --- a second controller replica ------------------------------------------------------------------------

# The standby's metrics answer within seconds of its start (they are served before leader election).
STANDBY_READY = 60.0
# kind: the second pod of the scaled Deployment runs within seconds (its image is loaded on every node);
# 120 s covers scheduling and a container start on a loaded 2-core machine.
STANDBY_POD_RUNNING = 120.0


@dataclass(frozen=True)
class Standby:
    """The second replica a scenario watches: its name and a condition on its own log."""

    name: str
    log_contains: Callable[[str | re.Pattern], Condition]


def _pod_log_contains(api: client.ApiClient, namespace: str, pod: str) -> Callable[[str | re.Pattern], Condition]:
    def contains(text: str | re.Pattern) -> Condition:
        def probe() -> Seen:
            log = client.CoreV1Api(api).read_namespaced_pod_log(pod, namespace)
            found = log_holds(log, text)
            return Seen(found, {"pod": pod, "bytes": len(log), "found": found})
        return probe
    return contains


@contextmanager
def standby_controller(info, log_dir: Path) -> Iterator[Standby]:
    """A second replica of the cert-manager controller (the chart's replicaCount: 2), removed when the block
    ends. `info`: the lab's LabInfo. A controller process (local): the same command line (controller_argv) in a
    pod of its own (its own hostname, hence its own Lease identity) with its own metrics port. The chart's
    Deployment (kind): scaled to 2 (and back to 1), the standby being the new pod."""
    if not info.capabilities.controller_process:
        with _scaled_controller(Controller.of(info)) as standby:
            yield standby
        return
    metrics = free_port()
    replica = [f"--metrics-listen-address={LOOPBACK}:{metrics}" if arg.startswith("--metrics-listen-address=")
               else arg for arg in info.controller_argv]
    pod = pod_name("cert-manager")
    process = ManagedProcess(f"cert-manager-controller {pod}", pod_argv(replica, pod), Path(log_dir) / f"{pod}.log")
    try:
        process.start()
        process.wait_ready(http_ok(f"http://{LOOPBACK}:{metrics}/metrics"), STANDBY_READY)
        yield Standby(process.name, lambda text: log_contains(process.log_path, text))
    finally:
        process.stop()


def _scale(api: client.ApiClient, replicas: int) -> None:
    client.AppsV1Api(api).patch_namespaced_deployment_scale(DEPLOYMENT, NAMESPACE, {"spec": {"replicas": replicas}})


@contextmanager
def _scaled_controller(controller: Controller) -> Iterator[Standby]:
    api = controller.api()
    core = client.CoreV1Api(api)
    selector = "app.kubernetes.io/component=controller,app.kubernetes.io/instance=cert-manager"
    try:
        before = {pod.metadata.name for pod in core.list_namespaced_pod(NAMESPACE, label_selector=selector).items}
        _scale(api, 2)

        def new_pod_running() -> Seen:
            pods = core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
            new = [pod.metadata.name for pod in pods if pod.metadata.name not in before
                   and pod.status.phase == "Running" and pod.metadata.deletion_timestamp is None]
            return Seen(bool(new), new[0] if new else {p.metadata.name: p.status.phase for p in pods})

        pod = wait_for(new_pod_running, subject=f"Deployment {NAMESPACE}/{DEPLOYMENT} scaled to 2",
                       expected="to run a second pod", timeout=STANDBY_POD_RUNNING, interval=1.0)
        yield Standby(f"pod {NAMESPACE}/{pod}", _pod_log_contains(api, NAMESPACE, pod))
    finally:
        try:
            _scale(api, 1)
        finally:
            api.close()


def rotate_access_key(aws, kube: client.ApiClient, namespace: str, secret: str, user: str):
    """Rotate an IAM user's access key as an on-call engineer does: a new key for the user, written into the
    cluster Secret the solver reads (access-key-id, secret-access-key); the old key is left as it is. Returns the
    new key's id."""
    credentials = aws.create_access_key(user)
    client.CoreV1Api(kube).patch_namespaced_secret(secret, namespace, {"stringData": {
        "access-key-id": credentials.access_key_id, "secret-access-key": credentials.secret_access_key}})
    return credentials.access_key_id


# The first issuance's Challenge is deleted, its record removed, seconds after the Certificate is Ready.
CLEANED_UP = 30


def issued_and_due_for_a_fresh_challenge(scenario, lab, namespace: str, issuer, name: str) -> Inspection:
    """A renewal scenario's set-up: Certificate `name` issued through `issuer` (steady state: done issuing, then
    the first issuance's Challenge cleaned up: a fault applied before that would refuse its clean-up too, counted
    as the renewal's retries), its Secret as it is now (returned), and the account's authorizations expired at the
    CA, so the renewal needs a fresh DNS-01 challenge as a real one 30 days on would."""
    kube, subject = lab.kube, f"Certificate {namespace}/{name}"
    create_certificate(kube, namespace, certificate(name, issuer.ref, [issuer.dns_name(name)]))
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=subject,
                          expected="Ready=True and done issuing", within=ISSUANCE)
    scenario.steady_state(challenges_gone(kube, namespace), subject=f"Challenges of {namespace}",
                          expected="the first issuance's cleaned up", within=CLEANED_UP)
    before = inspect_secret(get(kube, SECRET, namespace, name), root=lab.pebble.roots().encode())
    expired = expire_authorizations(kube, namespace, issuer.name, issuer.directory, lab.info.pebble_ca_bundle_path)
    scenario.note("authorizations expired at the CA: the renewal needs a fresh DNS-01 challenge", authorizations=expired)
    return before
