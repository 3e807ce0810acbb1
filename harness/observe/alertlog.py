"""Follows the lab's alerts into a journal: every state change of an alert that concerns a scenario (pending,
firing, inactive) as it appears in Prometheus, and every notification that reached the webhook receiver.

An alert concerns the scenario when its `namespace` label is the scenario's, or when it has no namespace
label at all (cert-manager absent, ACME errors per CA host): those concern every scenario running. A
notification concerns it only when it arrived after the log began: the receiver keeps every notification of the
lab's life, and those of earlier scenarios are not this one's evidence (seen: 85 of them at a scenario's start).
"""

from __future__ import annotations

import threading
import time

from harness.alerts.pipeline import AlertingClient
from harness.observe.dnslog import DnsLogFollower

POLL_INTERVAL = 1.0  # seconds: Prometheus evaluates the rules every second in the lab


def _key(labels: dict) -> tuple:
    return tuple(sorted(labels.items()))


class AlertLog(DnsLogFollower):
    """Polls Prometheus's active alerts and the receiver; `record(kind, subject, detail)` gets each change.
    The polling thread is DnsLogFollower's (start, poll every interval, a last poll at stop, errors to
    on_error); only what a poll reads differs."""

    def __init__(self, alerting: AlertingClient, namespace: str, record, on_error, interval: float = POLL_INTERVAL):
        self.alerting, self.namespace, self.record, self.on_error = alerting, namespace, record, on_error
        self.interval = interval
        self.states: dict[tuple, tuple[str, dict]] = {}  # alert's labels -> (state, labels)
        self._seen_notifications: set[tuple] = set()
        self.since = time.time()  # the receiver stamps notifications with this host's clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"alert-log {namespace}", daemon=True)

    def concerns(self, labels: dict) -> bool:
        return labels.get("namespace", self.namespace) == self.namespace

    def poll(self) -> None:
        current = {_key(a["labels"]): (a["state"], a) for a in self.alerting.prometheus.alerts()
                   if self.concerns(a["labels"])}
        for key, (state, alert) in current.items():
            if self.states.get(key, ("inactive",))[0] != state:
                self._record_alert(alert["labels"], state, active_at=alert.get("activeAt"), value=alert.get("value"))
        for key, (state, labels) in list(self.states.items()):
            if key not in current:
                self._record_alert(labels, "inactive")
        self.states = {key: (state, alert["labels"]) for key, (state, alert) in current.items()}
        for notification in self.alerting.receiver.notifications():
            key = (notification.received_at, notification.status, _key(notification.labels))
            if (key in self._seen_notifications or notification.received_at < self.since
                    or not self.concerns(notification.labels)):
                continue
            self._seen_notifications.add(key)
            self.record("notification", f"notification {notification.alertname} {notification.status}",
                        {"alertname": notification.alertname, "status": notification.status,
                         "labels": dict(notification.labels), "received_at": notification.received_at,
                         "starts_at": notification.starts_at})

    def _record_alert(self, labels: dict, state: str, **detail) -> None:
        alertname = labels.get("alertname", "")
        self.record("alert", f"alert {alertname} {state}",
                    {"alertname": alertname, "state": state, "labels": dict(labels),
                     **{k: v for k, v in detail.items() if v is not None}})
