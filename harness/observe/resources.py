"""Read access to cert-manager's resources as the API server returns them (plain JSON dicts), their compact
summaries, and the describe block attached to failed expectations. Read only: actions live in
harness.chaos.actions.

Everything takes the caller's kubernetes ApiClient. Objects stay the API's JSON (camelCase, as in the
CRDs) so that what a condition saw can go into the journal unchanged.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from kubernetes import client
from kubernetes.client.rest import ApiException

from harness.errors import HarnessError

CERTIFICATE_NAME_ANNOTATION = "cert-manager.io/certificate-name"
REVISION_ANNOTATION = "cert-manager.io/certificate-revision"
# Condition messages (ACME errors especially) can run to kilobytes; summaries keep the start, which
# names the error. Conditions match on the full text.
MESSAGE_LIMIT = 300
# A describe shows the newest events only: enough for the last few sync attempts of each controller.
DESCRIBE_EVENTS = 15


@dataclass(frozen=True)
class ResourceKind:
    """A resource type: its kind, plural and API group ("" for the core group)."""

    kind: str
    plural: str
    group: str = ""
    version: str = "v1"
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


CERTIFICATE = ResourceKind("Certificate", "certificates", "cert-manager.io")
CERTIFICATE_REQUEST = ResourceKind("CertificateRequest", "certificaterequests", "cert-manager.io")
ISSUER = ResourceKind("Issuer", "issuers", "cert-manager.io")
CLUSTER_ISSUER = ResourceKind("ClusterIssuer", "clusterissuers", "cert-manager.io", namespaced=False)
ORDER = ResourceKind("Order", "orders", "acme.cert-manager.io")
CHALLENGE = ResourceKind("Challenge", "challenges", "acme.cert-manager.io")
SECRET = ResourceKind("Secret", "secrets")
EVENT = ResourceKind("Event", "events")

_CORE_LISTERS = {"secrets": "list_namespaced_secret", "events": "list_namespaced_event"}
_CORE_READERS = {"secrets": "read_namespaced_secret", "events": "read_namespaced_event"}


def lister(api: client.ApiClient, kind: ResourceKind) -> tuple[Callable[..., Any], tuple]:
    """The client's list function for `kind` and its leading positional arguments (namespace follows).
    kubernetes.watch.Watch.stream takes exactly this pair."""
    if kind.group:
        objects = client.CustomObjectsApi(api)
        if kind.namespaced:
            return objects.list_namespaced_custom_object, (kind.group, kind.version)
        return objects.list_cluster_custom_object, (kind.group, kind.version, kind.plural)
    return getattr(client.CoreV1Api(api), _CORE_LISTERS[kind.plural]), ()


def list_raw(api: client.ApiClient, kind: ResourceKind, namespace: str | None = None,
             label_selector: str | None = None, timeout: float | None = None) -> dict:
    """The list response as JSON: `items` plus `metadata.resourceVersion` (where a watch starts)."""
    function, leading = lister(api, kind)
    options: dict[str, Any] = {"_preload_content": False}
    if label_selector:
        options["label_selector"] = label_selector
    if timeout is not None:
        options["_request_timeout"] = timeout
    if kind.group and kind.namespaced:
        response = function(*leading, namespace, kind.plural, **options)
    elif kind.group:
        response = function(*leading, **options)
    else:
        response = function(namespace, **options)
    return json.loads(response.data)


def list_objects(api: client.ApiClient, kind: ResourceKind, namespace: str | None = None,
                 label_selector: str | None = None) -> list[dict]:
    return list_raw(api, kind, namespace, label_selector)["items"]


def get(api: client.ApiClient, kind: ResourceKind, namespace: str | None, name: str) -> dict | None:
    """The object as JSON, or None when it does not exist (any other API error is raised)."""
    try:
        if kind.group:
            objects = client.CustomObjectsApi(api)
            if kind.namespaced:
                response = objects.get_namespaced_custom_object(
                    kind.group, kind.version, namespace, kind.plural, name, _preload_content=False)
            else:
                response = objects.get_cluster_custom_object(
                    kind.group, kind.version, kind.plural, name, _preload_content=False)
        else:
            reader = getattr(client.CoreV1Api(api), _CORE_READERS[kind.plural])
            response = reader(name, namespace, _preload_content=False)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return json.loads(response.data)


# --- what an object says, compactly -------------------------------------------------------------------


def short(text: str | None, limit: int = MESSAGE_LIMIT) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def conditions_of(obj: dict | None) -> dict[str, dict]:
    """{type: {status, reason, message}} of an object's status.conditions, messages shortened."""
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return {
        c["type"]: {"status": c.get("status"), "reason": c.get("reason"), "message": short(c.get("message"))}
        for c in conditions
    }


def condition(obj: dict | None, type_: str) -> dict | None:
    """The full condition of that type (message not shortened), or None."""
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return c
    return None


_CERTIFICATE_FIELDS = ("revision", "failedIssuanceAttempts", "lastFailureTime", "notAfter", "renewalTime")


def summary(kind: ResourceKind, obj: dict) -> dict:
    """The parts of an object whose change is worth a line on the timeline."""
    status = obj.get("status") or {}
    if kind == CERTIFICATE:
        # generation: a spec change is a cause to re-issue (harness.chaos.invariants)
        out = {"conditions": conditions_of(obj), "generation": obj["metadata"].get("generation")}
        out.update({name: status[name] for name in _CERTIFICATE_FIELDS if status.get(name) is not None})
        return out
    if kind == CERTIFICATE_REQUEST:
        out = {"conditions": conditions_of(obj), "revision": revision_of(obj)}
        if status.get("failureTime"):
            out["failureTime"] = status["failureTime"]
        return out
    if kind == ORDER:
        return {"state": status.get("state", ""), "reason": short(status.get("reason"))}
    if kind == CHALLENGE:
        spec = obj.get("spec") or {}
        return {"type": spec.get("type"), "dnsName": spec.get("dnsName"), "state": status.get("state", ""),
                "presented": status.get("presented", False), "reason": short(status.get("reason"))}
    if kind == EVENT:
        involved = obj.get("involvedObject") or {}
        return {"type": obj.get("type"), "reason": obj.get("reason"), "message": short(obj.get("message")),
                "involvedObject": f"{involved.get('kind')}/{involved.get('name')}",
                "count": obj.get("count") or 1, "time": event_time(obj)}
    raise HarnessError(f"summary: no summary defined for kind {kind.kind}")


def revision_of(request: dict) -> int | None:
    value = ((request.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    return int(value) if value is not None and value.isdigit() else None


def epoch(timestamp: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp as the API writes it ("2026-11-28T04:01:00Z")."""
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def event_time(event: dict) -> str:
    return (event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
            or event["metadata"].get("creationTimestamp") or "")


# --- how cert-manager's resources hang together --------------------------------------------------------


def owned_by(obj: dict, owner: dict) -> bool:
    """Whether `obj` carries an ownerReference to `owner` (by uid)."""
    uid = owner["metadata"].get("uid")
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def belongs_to_certificate(request: dict, certificate_name: str) -> bool:
    """cert-manager marks a Certificate's requests both with an ownerReference and an annotation."""
    metadata = request["metadata"]
    if (metadata.get("annotations") or {}).get(CERTIFICATE_NAME_ANNOTATION) == certificate_name:
        return True
    return any(ref.get("kind") == "Certificate" and ref.get("name") == certificate_name
               for ref in metadata.get("ownerReferences") or [])


def _created(obj: dict) -> str:
    return obj["metadata"].get("creationTimestamp") or ""


@dataclass
class Related:
    """A Certificate and everything issuing it produced, oldest first."""

    namespace: str
    name: str
    certificate: dict | None
    requests: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    challenges: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    @property
    def latest_request(self) -> dict | None:
        return self.requests[-1] if self.requests else None

    def orders_of(self, request: dict) -> list[dict]:
        return [order for order in self.orders if owned_by(order, request)]

    def challenges_of(self, order: dict) -> list[dict]:
        return [challenge for challenge in self.challenges if owned_by(challenge, order)]

    def latest_challenges(self) -> list[dict]:
        """The challenges of the newest request's orders: what the current issuance attempt is doing."""
        request = self.latest_request
        if request is None:
            return []
        return [c for order in self.orders_of(request) for c in self.challenges_of(order)]


def related(api: client.ApiClient, namespace: str, certificate_name: str, *, acme: bool = True,
            events: bool = False) -> Related:
    """Gather a Certificate's requests (by revision), their Orders and Challenges and, if asked, Events."""
    found = Related(namespace, certificate_name, get(api, CERTIFICATE, namespace, certificate_name))
    found.requests = sorted(
        (r for r in list_objects(api, CERTIFICATE_REQUEST, namespace) if belongs_to_certificate(r, certificate_name)),
        key=lambda r: (revision_of(r) or 0, _created(r)),
    )
    if acme and found.requests:
        found.orders = sorted(
            (o for o in list_objects(api, ORDER, namespace) if any(owned_by(o, r) for r in found.requests)),
            key=_created,
        )
        if found.orders:
            found.challenges = sorted(
                (c for c in list_objects(api, CHALLENGE, namespace) if any(owned_by(c, o) for o in found.orders)),
                key=_created,
            )
    if events:
        names = {("Certificate", certificate_name)} | {
            (kind, obj["metadata"]["name"])
            for kind, objects in (("CertificateRequest", found.requests), ("Order", found.orders),
                                  ("Challenge", found.challenges))
            for obj in objects
        }
        found.events = sorted(
            (e for e in list_objects(api, EVENT, namespace)
             if ((e.get("involvedObject") or {}).get("kind"), (e.get("involvedObject") or {}).get("name")) in names),
            key=event_time,
        )
    return found


# --- describe -----------------------------------------------------------------------------------------


def _condition_lines(obj: dict, indent: str) -> list[str]:
    lines = []
    for c in (obj.get("status") or {}).get("conditions") or []:
        line = f"{indent}{c.get('type')}={c.get('status')} {c.get('reason') or ''}: {short(c.get('message')) or ''}"
        extras = [f"since {c['lastTransitionTime']}"] if c.get("lastTransitionTime") else []
        if c.get("observedGeneration") is not None:
            extras.append(f"observedGeneration {c['observedGeneration']}")
        lines.append(line + (f" ({', '.join(extras)})" if extras else ""))
    return lines or [f"{indent}no conditions"]


def format_description(found: Related) -> str:
    """The describe block: Certificate, then each request with its orders and challenges, then events."""
    where = f"{found.namespace}/{found.name}"
    crt = found.certificate
    if crt is None:
        lines = [f"Certificate {where}: not found"]
    else:
        spec, status = crt.get("spec") or {}, crt.get("status") or {}
        issuer = spec.get("issuerRef") or {}
        names = spec.get("dnsNames") or spec.get("ipAddresses") or [spec.get("commonName")]
        lines = [f"Certificate {where} (generation {crt['metadata'].get('generation')}): "
                 f"secretName={spec.get('secretName')} issuer={issuer.get('kind') or 'Issuer'}/{issuer.get('name')} "
                 f"names={','.join(str(n) for n in names)}"]
        lines += _condition_lines(crt, "  ")
        fields = [f"{name}={status[name]}" for name in
                  ("revision", "notBefore", "notAfter", "renewalTime", "failedIssuanceAttempts", "lastFailureTime")
                  if status.get(name) is not None]
        if fields:
            lines.append("  " + " ".join(fields))
    for request in found.requests:
        lines.append(f"CertificateRequest {request['metadata']['name']} (revision {revision_of(request)}, "
                     f"created {_created(request)}):")
        lines += _condition_lines(request, "  ")
        for order in found.orders_of(request):
            status = order.get("status") or {}
            lines.append(f"  Order {order['metadata']['name']}: state={status.get('state') or '(none)'}"
                         + (f" reason={short(status['reason'])}" if status.get("reason") else ""))
            for challenge in found.challenges_of(order):
                spec, status = challenge.get("spec") or {}, challenge.get("status") or {}
                lines.append(f"    Challenge {challenge['metadata']['name']}: {spec.get('type')} {spec.get('dnsName')} "
                             f"state={status.get('state') or '(none)'} presented={status.get('presented', False)} "
                             f"processing={status.get('processing', False)}"
                             + (f" reason={short(status['reason'])}" if status.get("reason") else ""))
    shown = found.events[-DESCRIBE_EVENTS:]
    lines.append(f"Events (newest {len(shown)} of {len(found.events)}):" if found.events else "Events: none")
    for event in shown:
        involved = event.get("involvedObject") or {}
        count = event.get("count") or 1
        lines.append(f"  {event_time(event)} {event.get('type')} {event.get('reason')} "
                     f"{involved.get('kind')}/{involved.get('name')}: {short(event.get('message'))}"
                     + (f" (x{count})" if count > 1 else ""))
    return "\n".join(lines)


def describe_certificate(api: client.ApiClient, namespace: str, certificate_name: str) -> str:
    """The describe block of a Certificate, for failure messages. Never raises: a failure to gather is
    itself reported in the block, so the expectation's own failure message still reaches the user."""
    try:
        return format_description(related(api, namespace, certificate_name, events=True))
    except Exception as error:  # noqa: BLE001 - describe only decorates a failure that is already being raised
        return f"Certificate {namespace}/{certificate_name}: describe failed: {type(error).__name__}: {error}"
