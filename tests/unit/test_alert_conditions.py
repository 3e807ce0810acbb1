"""certificates_quiet: "pages no one" holds only once Prometheus has scraped each Certificate as Ready and
none of their alerts is active; another namespace's or another Certificate's alerts do not count."""

from __future__ import annotations

from harness.observe.conditions.alerts import certificates_quiet
from harness.stack.prometheus import PrometheusClient


class ScriptedPrometheus(PrometheusClient):
    """The ready series and the active alerts Prometheus answers, without a server."""

    def __init__(self, ready: dict[str, float], alerts: list[dict]):
        super().__init__("http://127.0.0.1:9")  # never contacted
        self.ready, self.active, self.queries = ready, alerts, []

    def query(self, expr: str) -> list[dict]:
        self.queries.append(expr)
        return [{"metric": {"name": name, "namespace": "ns", "condition": "True"}, "value": [0, str(value)]}
                for name, value in self.ready.items()]

    def alerts(self) -> list[dict]:
        return self.active


def _alert(state: str, **labels: str) -> dict:
    return {"labels": {"alertname": "CertManagerCertificateNotReady", **labels}, "state": state, "activeAt": "t"}


def test_quiet_needs_every_certificate_scraped_ready_and_none_of_their_alerts_active():
    cases = [
        ({}, [], False),  # not scraped yet: an alert could still go pending
        ({"web": 1}, [], False),  # "api" not scraped
        ({"web": 1, "api": 0}, [], False),  # "api" scraped not Ready
        ({"web": 1, "api": 1}, [_alert("pending", namespace="ns", name="api")], False),
        ({"web": 1, "api": 1}, [_alert("firing", namespace="ns", name="web")], False),
        ({"web": 1, "api": 1}, [_alert("firing", namespace="other", name="web"),
                                _alert("firing", namespace="ns", name="ca-root")], True),
        ({"web": 1, "api": 1}, [], True),
    ]
    for ready, alerts, holds in cases:
        prometheus = ScriptedPrometheus(ready, alerts)
        seen = certificates_quiet(prometheus, "ns", ["web", "api"])()
        assert seen.ok is holds, (ready, alerts, seen.state)
        assert prometheus.queries == ['certmanager_certificate_ready_status{namespace="ns",condition="True"}']
        assert seen.state["ready_in_prometheus"] == {"api": ready.get("api"), "web": ready.get("web")}
