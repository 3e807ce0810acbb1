"""The alert log observer: state changes of the alerts that concern a namespace, and notifications, once
each; and time to alert computed from the journal."""

from __future__ import annotations

from types import SimpleNamespace

import requests

from harness.alerts.receiver import ReceiverClient, WebhookReceiver
from harness.observe.alertlog import AlertLog
from harness.report.journal import Clock, EntryKind, Journal, ScenarioInfo, time_to_alert


def _alert(alertname: str, state: str, **labels: str) -> dict:
    return {"labels": {"alertname": alertname, **labels}, "state": state, "activeAt": "t"}


class ScriptedPrometheus:
    """Prometheus's /api/v1/alerts as a sequence of answers, one per poll."""

    def __init__(self, answers: list[list[dict]]):
        self.answers = answers

    def alerts(self) -> list[dict]:
        return self.answers.pop(0)


def test_transitions_of_its_namespace_and_global_alerts_are_recorded_once_each():
    mine, other = {"namespace": "ns", "name": "web"}, {"namespace": "other", "name": "web"}
    prometheus = ScriptedPrometheus([
        [_alert("NotReady", "pending", **mine), _alert("NotReady", "pending", **other)],
        [_alert("NotReady", "pending", **mine), _alert("Absent", "firing")],
        [_alert("NotReady", "firing", **mine), _alert("Absent", "firing")],
        [],
    ])
    recorded = []
    with WebhookReceiver() as receiver:
        client = ReceiverClient(receiver.url)
        earlier = {"receiver": "certchaos", "alerts": [  # an earlier scenario's, before this log began
            {"status": "firing", "labels": {"alertname": "Absent"}, "startsAt": "t"}]}
        requests.post(receiver.url + "/notify", json=earlier, timeout=5)
        log = AlertLog(SimpleNamespace(prometheus=prometheus, receiver=client), "ns",
                       lambda kind, subject, detail: recorded.append((kind, subject)), on_error=None)
        payload = {"receiver": "certchaos", "alerts": [
            {"status": "firing", "labels": {"alertname": "NotReady", **mine}, "startsAt": "t"},
            {"status": "firing", "labels": {"alertname": "NotReady", **other}, "startsAt": "t"}]}
        for poll in range(4):
            if poll == 2:
                requests.post(receiver.url + "/notify", json=payload, timeout=5)
            log.poll()
        client.close()
    assert recorded == [
        ("alert", "alert NotReady pending"),
        ("alert", "alert Absent firing"),
        ("alert", "alert NotReady firing"),
        ("notification", "notification NotReady firing"),  # only the namespace's, and only once
        ("alert", "alert NotReady inactive"),
        ("alert", "alert Absent inactive"),
    ]


def test_time_to_alert_counts_from_the_fault_to_the_first_firing_entry():
    now = [0.0]
    journal = Journal("/nonexistent/journal.json", ScenarioInfo("t"), clock=Clock(lambda: now[0], lambda: now[0]),
                      environment={})
    journal.record(EntryKind.ALERT, "alert A firing", alertname="A", state="firing")  # before the fault
    now[0] = 10
    journal.record(EntryKind.FAULT_APPLIED, "F()", fault_id=1)
    now[0] = 15
    journal.record(EntryKind.ALERT, "alert A pending", alertname="A", state="pending")
    now[0] = 40
    journal.record(EntryKind.ALERT, "alert A firing", alertname="A", state="firing")
    now[0] = 42
    journal.record(EntryKind.NOTIFICATION, "notification A firing", alertname="A", status="firing")
    assert time_to_alert(journal.entries) == 30
    assert time_to_alert(journal.entries, kind=EntryKind.NOTIFICATION) == 32
    assert time_to_alert(journal.entries, "B") is None
