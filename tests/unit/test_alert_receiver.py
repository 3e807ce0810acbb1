"""The webhook receiver: Alertmanager's payloads recorded per alert and read back over HTTP."""

from __future__ import annotations

import pytest
import requests

from harness.alerts.receiver import ReceiverClient, WebhookReceiver
from harness.errors import HarnessError

PAYLOAD = {"version": "4", "receiver": "certchaos", "status": "firing", "alerts": [
    {"status": "firing", "labels": {"alertname": "A", "namespace": "ns", "name": "web"}, "startsAt": "t0"},
    {"status": "resolved", "labels": {"alertname": "A", "namespace": "other", "name": "web"}, "startsAt": "t1"},
]}


def test_each_alert_of_a_payload_is_a_notification_read_back_from_another_client():
    with WebhookReceiver() as receiver:
        assert requests.post(receiver.url + "/notify", json=PAYLOAD, timeout=5).status_code == 200
        client = ReceiverClient(receiver.url)
        found = client.notifications()
        client.close()
    assert [(n.alertname, n.status, n.labels["namespace"]) for n in found] == [
        ("A", "firing", "ns"), ("A", "resolved", "other")]
    assert found[0].matches("A", {"namespace": "ns"}, "firing") and not found[0].matches("A", {"namespace": "other"})
    assert not found[0].matches("B")


def test_a_payload_that_is_not_json_is_refused_and_surfaces_as_an_error():
    with WebhookReceiver() as receiver:
        response = requests.post(receiver.url + "/notify", data=b"not json", timeout=5)
        client = ReceiverClient(receiver.url)
        with pytest.raises(HarnessError, match="refused payloads"):
            client.notifications()
        client.close()
    assert response.status_code == 400
