"""The webhook receiver Alertmanager notifies: an HTTP server on loopback recording every notification.

POST /notify takes Alertmanager's webhook payload (version 4) and records it with the time it arrived;
GET /notifications returns everything recorded, so scenario workers in other processes read what reached
it through `ReceiverClient`. A payload that is not JSON is answered 400 and recorded as an error, which
`errors` exposes: a receiver that silently drops notifications would make "no page" look true.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Mapping

import requests

from harness.errors import HarnessError
from harness.stack.httpserver import ThreadedServer
from harness.stack.ports import LOOPBACK
from harness.stack.service import Service

REQUEST_TIMEOUT = 5.0  # the receiver answers from memory; 5 s means it hangs


@dataclass(frozen=True)
class Notification:
    """One alert of one webhook payload: Alertmanager groups alerts, an expectation is about one."""

    received_at: float
    status: str  # "firing" or "resolved" (of this alert)
    labels: Mapping[str, str]
    starts_at: str
    receiver: str

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    def matches(self, alertname: str, labels: Mapping[str, str] | None = None, status: str | None = None) -> bool:
        return (self.alertname == alertname and (status is None or self.status == status)
                and all(self.labels.get(k) == v for k, v in (labels or {}).items()))

    def to_dict(self) -> dict:
        return {"received_at": self.received_at, "status": self.status, "labels": dict(self.labels),
                "starts_at": self.starts_at, "receiver": self.receiver}


def notifications_of(payload: dict, received_at: float) -> list[Notification]:
    return [Notification(received_at, alert.get("status", ""), dict(alert.get("labels") or {}),
                         alert.get("startsAt", ""), payload.get("receiver", ""))
            for alert in payload.get("alerts") or []]


class WebhookReceiver(Service):
    """Records Alertmanager's notifications; started on a free loopback port."""

    def __init__(self, host: str = LOOPBACK, port: int = 0):
        self._address = (host, port)
        self._lock = threading.Lock()
        self.payloads: list[tuple[float, dict]] = []
        self.errors: list[str] = []
        self._server: ThreadedServer | None = None

    @property
    def url(self) -> str:
        return self._server.url

    def notifications(self) -> list[Notification]:
        with self._lock:
            return [n for at, payload in self.payloads for n in notifications_of(payload, at)]

    def start(self) -> "WebhookReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = json.loads(body)
                    if not isinstance(payload, dict):
                        raise ValueError("not a JSON object")
                except ValueError as error:
                    with receiver._lock:
                        receiver.errors.append(f"{self.path}: {error}: {body[:200]!r}")
                    self._reply(400, {"error": str(error)})
                    return
                with receiver._lock:
                    receiver.payloads.append((time.time(), payload))
                self._reply(200, {})

            def do_GET(self) -> None:  # noqa: N802
                if self.path != "/notifications":
                    self._reply(404, {"error": "try /notifications"})
                    return
                self._reply(200, {"notifications": [n.to_dict() for n in receiver.notifications()],
                                  "errors": list(receiver.errors)})

            def _reply(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                for header, value in (("Content-Type", "application/json"), ("Content-Length", str(len(data)))):
                    self.send_header(header, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # the payloads are the record; no stderr noise
                pass

        self._server = ThreadedServer(self._address, Handler, "alert-receiver")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


class ReceiverClient:
    """What reached a running receiver, read over HTTP (from any process)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()

    def notifications(self) -> list[Notification]:
        response = self.session.get(self.url + "/notifications", timeout=REQUEST_TIMEOUT)
        if response.status_code != 200:
            raise HarnessError(f"alert receiver {self.url}: HTTP {response.status_code}")
        body = response.json()
        if body.get("errors"):
            raise HarnessError(f"alert receiver {self.url} refused payloads: {body['errors']}")
        return [Notification(n["received_at"], n["status"], n["labels"], n["starts_at"], n["receiver"])
                for n in body["notifications"]]

    def close(self) -> None:
        self.session.close()
