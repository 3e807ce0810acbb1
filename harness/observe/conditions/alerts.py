"""Conditions on alerts: a rule's state in Prometheus, a notification at the harness's receiver, and the
steady state's "nothing fires".

An expectation about an alert no loaded rule defines can never hold: the condition refuses it when it is
created (UnknownAlert, with the names that are defined), instead of timing out later.
"""

from __future__ import annotations

from typing import Iterable, Literal, Mapping

from harness.alerts.pipeline import AlertingClient
from harness.alerts.receiver import ReceiverClient
from harness.errors import HarnessError
from harness.observe.conditions.general import observe
from harness.stack.prometheus import PrometheusClient
from harness.wait import Condition

State = Literal["pending", "firing", "inactive"]
STATES = ("pending", "firing", "inactive")

# The default rules' names (harness/alerts/rules.py), for scenarios' expectations.
EXPIRING_SOON = "CertManagerCertificateExpiringSoon"
NOT_READY = "CertManagerCertificateNotReady"
RENEWAL_OVERDUE = "CertManagerRenewalOverdue"
ACME_ERRORS = "CertManagerAcmeRequestErrors"  # labelled by the CA host only: select a scenario's by its proxy
ABSENT = "CertManagerAbsent"  # global: only an exclusive scenario may expect it


def certificate_labels(namespace: str, name: str) -> dict[str, str]:
    """The labels that select one Certificate's alerts (the lab's Prometheus sees every scenario's)."""
    return {"namespace": namespace, "name": name}


class UnknownAlert(HarnessError):
    pass


def _prometheus(source: str | AlertingClient | PrometheusClient) -> PrometheusClient:
    if isinstance(source, AlertingClient):
        return source.prometheus
    return source if isinstance(source, PrometheusClient) else PrometheusClient(source)


def require_defined(prometheus: PrometheusClient, alertnames: Iterable[str]) -> None:
    """UnknownAlert if a name is not an alerting rule Prometheus has loaded."""
    defined = prometheus.alert_names()
    unknown = sorted(set(alertnames) - defined)
    if unknown:
        raise UnknownAlert(f"alert {', '.join(unknown)}: no loaded rule defines it (loaded: "
                           f"{', '.join(sorted(defined)) or 'none'}). Fix: use a defined name, or load the rule "
                           "with --alert-rules FILE")


def _matches(labels: Mapping[str, str], alertname: str | None, wanted: Mapping[str, str]) -> bool:
    return ((alertname is None or labels.get("alertname") == alertname)
            and all(labels.get(k) == v for k, v in wanted.items()))


def _compact(alert: dict) -> dict:
    labels = {k: v for k, v in alert["labels"].items() if k not in ("issuer_group", "issuer_kind", "job")}
    return {"state": alert["state"], "labels": labels, "since": alert.get("activeAt")}


def alert_state(prometheus: str | AlertingClient | PrometheusClient, alertname: str,
                labels: Mapping[str, str] | None = None, state: State = "firing") -> Condition:
    """Prometheus has the alert `alertname` with (a superset of) `labels` in `state`; "inactive": none is
    active (neither pending nor firing)."""
    if state not in STATES:
        raise HarnessError(f"alert_state: state {state!r}: choose one of {', '.join(STATES)}")
    client = _prometheus(prometheus)
    require_defined(client, [alertname])
    wanted = dict(labels or {})

    def holds(active: list[dict]) -> bool:
        return not active if state == "inactive" else any(alert["state"] == state for alert in active)

    return observe(lambda: [a for a in client.alerts() if _matches(a["labels"], alertname, wanted)], holds,
                   lambda active: {"alert": alertname, "labels": wanted, "active": [_compact(a) for a in active]})


def notification_received(alerting: AlertingClient, alertname: str, labels: Mapping[str, str] | None = None,
                          status: str = "firing") -> Condition:
    """A notification for `alertname` with (a superset of) `labels` and `status` ("firing" or "resolved")
    reached the harness's webhook receiver through Alertmanager."""
    require_defined(alerting.prometheus, [alertname])
    wanted = dict(labels or {})
    receiver: ReceiverClient = alerting.receiver

    def fetch():
        return [n for n in receiver.notifications() if n.matches(alertname, wanted)]

    return observe(fetch, lambda found: any(n.status == status for n in found),
                   lambda found: {"alert": alertname, "labels": wanted, "received": [
                       {"status": n.status, "at": round(n.received_at, 1)} for n in found]})


def no_alert_firing(prometheus: str | AlertingClient | PrometheusClient, labels: Mapping[str, str] | None = None,
                    alertnames: Iterable[str] | None = None, include_pending: bool = False) -> Condition:
    """No alert (of `alertnames`, default any) with (a superset of) `labels` is firing, or pending either
    when `include_pending`: the steady state's "nothing pages"."""
    client = _prometheus(prometheus)
    names = list(alertnames or [])
    if names:
        require_defined(client, names)
    wanted = dict(labels or {})
    states = ("pending", "firing") if include_pending else ("firing",)

    def fetch() -> list[dict]:
        return [a for a in client.alerts() if a["state"] in states and _matches(a["labels"], None, wanted)
                and (not names or a["labels"].get("alertname") in names)]

    return observe(fetch, lambda active: not active,
                   lambda active: {"labels": wanted, "active": [_compact(a) for a in active]})


def certificates_quiet(prometheus: str | AlertingClient | PrometheusClient, namespace: str,
                       names: Iterable[str]) -> Condition:
    """Prometheus has scraped each named Certificate of `namespace` as Ready (its ready_status{condition="True"}
    series is 1) and no alert of those Certificates is pending or firing: a "pages no one" that cannot hold
    merely because Prometheus has not scraped a new Certificate yet (its NotReady would go pending a second
    later)."""
    client = _prometheus(prometheus)
    names = sorted(names)
    query = f'certmanager_certificate_ready_status{{namespace="{namespace}",condition="True"}}'

    def fetch() -> tuple[dict, list[dict]]:
        ready = {s["metric"].get("name"): float(s["value"][1]) for s in client.query(query)}
        active = [a for a in client.alerts() if a["state"] in ("pending", "firing")
                  and a["labels"].get("namespace") == namespace and a["labels"].get("name") in names]
        return ready, active

    return observe(fetch, lambda seen: all(seen[0].get(name) == 1 for name in names) and not seen[1],
                   lambda seen: {"ready_in_prometheus": {name: seen[0].get(name) for name in names},
                                 "active": [_compact(a) for a in seen[1]]})
