"""The alerting pipeline for real: Debian's Prometheus, Alertmanager and blackbox exporter, the default
rules checked by promtool, the harness's webhook receiver, and a real TLS server probed by SNI name."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from pathlib import Path

import pytest
import trustme

from harness.alerts.pipeline import AlertingClient, AlertPipeline
from harness.alerts.rules import RulesInvalid, TimeScale
from harness.errors import ComponentFailed
from harness.observe.conditions.alerts import UnknownAlert, alert_state, no_alert_firing, notification_received
from harness.stack.ports import LOOPBACK, free_port
from harness.wait import wait_for

LAB_SCALE = TimeScale.for_lifetime(3600)
# The absent rule's lab `for:` is 10 s; Prometheus evaluates every second and Alertmanager waits 1 s to
# group: 30 s leaves room for a loaded machine.
FIRING_WITHIN = 30
PROBE_WITHIN = 30  # file_sd sees the new target within ~2 s; the probe runs every 5 s


class SniServer:
    """A real TLS server on loopback serving a different certificate per SNI name (trustme)."""

    def __init__(self, certificates: dict[str, trustme.LeafCert]):
        self.contexts = {}
        for name, leaf in certificates.items():
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            leaf.configure_cert(context)
            self.contexts[name] = context
        self.default = next(iter(self.contexts.values()))
        self.default.sni_callback = self._pick
        self.sock = socket.create_server((LOOPBACK, 0))
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._closing = threading.Event()

    def _pick(self, tls: ssl.SSLObject, name: str | None, _context) -> None:
        if name in self.contexts:
            tls.context = self.contexts[name]

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.default.wrap_socket(raw, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass  # the prober closes after the handshake

    def __enter__(self) -> "SniServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self.sock.close()
        self._thread.join()


@pytest.fixture
def pipeline(tmp_path: Path):
    """The pipeline with the default lab rules, scraping a port where no cert-manager listens."""
    with AlertPipeline(tmp_path, f"http://{LOOPBACK}:{free_port()}/metrics", LAB_SCALE) as running:
        client = AlertingClient(running.info)
        yield running, client
        client.close()


def test_a_missing_controller_goes_pending_then_firing_and_pages_the_receiver(pipeline):
    running, client = pipeline
    assert no_alert_firing(client)().ok  # nothing fires before the `for:` window has passed
    wait_for(alert_state(client, "CertManagerAbsent", state="pending"), subject="CertManagerAbsent",
             expected="pending", timeout=FIRING_WITHIN)
    wait_for(alert_state(client, "CertManagerAbsent", state="firing"), subject="CertManagerAbsent",
             expected="firing", timeout=FIRING_WITHIN)
    seen = wait_for(notification_received(client, "CertManagerAbsent", {"severity": "page"}),
                    subject="receiver", expected="a CertManagerAbsent notification", timeout=FIRING_WITHIN)
    assert seen["received"][0]["status"] == "firing"
    assert not no_alert_firing(client)().ok
    assert no_alert_firing(client, alertnames=["CertManagerCertificateNotReady"])().ok


def test_an_alert_no_rule_defines_is_refused_when_the_expectation_is_made(pipeline):
    _, client = pipeline
    with pytest.raises(UnknownAlert, match="CertManagerTypo: no loaded rule defines it .*CertManagerAbsent"):
        alert_state(client, "CertManagerTypo")
    with pytest.raises(UnknownAlert):
        notification_received(client, "CertManagerTypo")


def test_the_blackbox_probe_reports_the_certificate_served_for_the_server_name(pipeline):
    _, client = pipeline
    ca = trustme.CA()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    expiries = {"a.certchaos.test": now + datetime.timedelta(days=3), "b.certchaos.test": now + datetime.timedelta(days=40)}
    leaves = {name: ca.issue_cert(name, not_after=expiry) for name, expiry in expiries.items()}
    with SniServer(leaves) as server:
        for name in expiries:
            client.probes.add(name.split(".")[0], LOOPBACK, server.port, server_name=name)

        def probed():
            result = client.prometheus.query('probe_ssl_earliest_cert_expiry{job="blackbox"}')
            found = {r["metric"]["probe"]: float(r["value"][1]) for r in result}
            from harness.wait import Seen
            return Seen(len(found) == 2, found)

        found = wait_for(probed, subject="blackbox probes", expected="both probed", timeout=PROBE_WITHIN)
    # Each probe saw the certificate of its own SNI name, not the server's default one.
    assert found == {name.split(".")[0]: expiry.timestamp() for name, expiry in expiries.items()}


def test_a_rule_file_promtool_refuses_is_named_with_its_line_before_anything_starts(tmp_path: Path):
    bad = tmp_path / "mine.yml"
    bad.write_text("groups:\n- name: mine\n  rules:\n  - alert: Broken\n    expr: rate(up[5m] >\n")
    with pytest.raises(RulesInvalid, match=r"mine\.yml: 5:11: .*Broken.*could not parse expression"):
        AlertPipeline(tmp_path / "run", "http://127.0.0.1:1/metrics", LAB_SCALE, user_rules=bad)
    assert not (tmp_path / "run" / "prometheus").exists()


def test_a_component_that_cannot_start_is_named_with_its_log(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    broken = bin_dir / "prometheus"  # a user's binary that dies at start, as a bad flag or config would
    broken.write_text("#!/bin/sh\necho 'err=\"opening storage failed: lock DB directory\"' >&2\nexit 1\n")
    broken.chmod(0o755)
    pipeline = AlertPipeline(tmp_path / "run", f"http://{LOOPBACK}:{free_port()}/metrics", LAB_SCALE, bin_dir=bin_dir)
    with pytest.raises(ComponentFailed, match=r"(?s)prometheus: exited with code 1.*opening storage failed"):
        pipeline.start()
    # Alertmanager and the exporter, already started, were stopped again: no process runs from the run dir.
    assert not [pid for pid in _processes_mentioning(str(tmp_path / "run"))]


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            pass  # exited while we looked
    return found
