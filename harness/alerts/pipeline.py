"""The lab's alerting pipeline: Prometheus scraping cert-manager and probing TLS endpoints through the
blackbox exporter, evaluating the rules, Alertmanager notifying the harness's webhook receiver.

Started in dependency order (receiver, Alertmanager, blackbox exporter, Prometheus) and stopped in reverse,
also when a later one fails to start. The rules are written and checked by promtool before anything starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.alerts.receiver import ReceiverClient, WebhookReceiver
from harness.alerts.rules import Mode, RuleSet, TimeScale, prepare
from harness.stack import binaries, versions
from harness.stack.prometheus import (
    Alertmanager, BlackboxExporter, ProbeTargets, Prometheus, PrometheusClient,
)
from harness.stack.service import Service


@dataclass(frozen=True)
class AlertingInfo:
    """What a client of the pipeline needs (part of lab.json)."""

    prometheus_url: str
    alertmanager_url: str
    blackbox_url: str
    receiver_url: str
    probes_dir: str
    blackbox_config: str
    alert_names: tuple[str, ...]


class AlertPipeline(Service):
    def __init__(self, run_dir: str | os.PathLike, metrics_url: str, scale: TimeScale, *,
                 user_rules: str | os.PathLike | None = None, mode: Mode = "add",
                 bin_dir: str | os.PathLike | None = None):
        self.run_dir = Path(run_dir)
        self.metrics_url, self.scale, self.bin_dir = metrics_url, scale, bin_dir
        # Checked now, so a bad rule file is refused before the lab starts anything.
        self.rules: RuleSet = prepare(self.run_dir / "rules", scale, user_rules, mode)
        self._stops: list = []
        self.info: AlertingInfo | None = None

    def _start(self) -> None:
        receiver = self._started(WebhookReceiver())
        alertmanager = self._started(Alertmanager(self.run_dir / "alertmanager", receiver.url, self.bin_dir))
        blackbox = self._started(BlackboxExporter(self.run_dir / "blackbox", self.bin_dir))
        prometheus = self._started(Prometheus(
            self.run_dir / "prometheus", metrics_url=self.metrics_url, rule_files=list(self.rules.files),
            alertmanager_url=alertmanager.url, blackbox_url=blackbox.url, bin_dir=self.bin_dir))
        self.receiver = receiver
        self.info = AlertingInfo(prometheus.url, alertmanager.url, blackbox.url, receiver.url,
                                 str(prometheus.probes_dir), str(blackbox.config_path), tuple(sorted(self.rules.alerts)))

    def versions(self) -> dict[str, str]:
        return {name: versions.reported(binaries.resolve(name, self.bin_dir)).version
                for name in ("prometheus", "alertmanager", "blackbox-exporter", "promtool")}

    def _started(self, service: Service):
        self._stops.append(service)  # stopped even if its own start fails half way
        return service.start()

    def stop(self) -> None:
        failures = []
        while self._stops:
            try:
                self._stops.pop().stop()
            except Exception as error:  # noqa: BLE001 - re-raised after the others are stopped
                failures.append(error)
        if failures:
            raise failures[0]


class AlertingClient:
    """A running pipeline, driven through its APIs from any process (the lab's clients)."""

    def __init__(self, info: AlertingInfo):
        self.info = info
        self.prometheus = PrometheusClient(info.prometheus_url)
        self.receiver = ReceiverClient(info.receiver_url)
        self.probes = ProbeTargets(info.probes_dir, info.blackbox_config, info.blackbox_url)

    def close(self) -> None:
        self.prometheus.close()
        self.receiver.close()
