"""What a running lab is, for whoever drives it: LabInfo, saved as lab.json, read by workers in other processes."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.stack.ports import LOOPBACK
from harness.stack.protocol import Capabilities

if TYPE_CHECKING:
    from harness.alerts.pipeline import AlertingInfo


@dataclass(frozen=True)
class AwsInfo:
    """The lab's AWS part (harness.stack.aws): moto's own URL and its administrator's key (set-up and faults act
    as the account's administrator), the front's control API and the CA its TLS certificate chains to."""

    emulator_url: str
    admin_access_key_id: str
    admin_secret_access_key: str
    front_control_url: str
    ca_bundle_path: str


@dataclass(frozen=True)
class LabInfo:
    """Everything a client needs to drive a running lab; saved as lab.json. On a provider without the lab's
    servers (Capabilities.lab_network False: an existing cluster) their fields are None."""

    kubeconfig: str
    metrics_url: str | None
    dns_control_url: str | None
    dns_authoritative: tuple[str, int] | None
    zone: str | None
    pebble_listen: tuple[str, int] | None  # Pebble's ACME API; each scenario reaches it through a proxy of its own
    pebble_management_url: str | None
    pebble_ca_bundle_path: str | None  # the CA that signs Pebble's TLS certificate: what ACME clients trust
    toxiproxy_url: str | None
    controller_pid_file: str | None  # the cert-manager controller's current PID (the supervisor restarts it)
    webhook: tuple[str, int] | None  # cert-manager's webhook; isolated namespaces reach it through their own proxy
    webhook_ca_bundle: str | None  # PEM that signs the webhook's serving certificate
    components: dict[str, dict]  # name -> {"version", "source" (cache, bin-dir, apt, ...), "path"}
    provider: str = "local"
    dns_nameservers: dict | None = None  # fake DNS listener -> [host, port] (NAMESERVERS, port 53)
    controller_argv: list | None = None  # the controller's command line, for a second replica
    alerting: AlertingInfo | None = None  # Prometheus, Alertmanager, blackbox exporter, webhook receiver
    proxy_host: str = LOOPBACK  # where scenario proxies listen: loopback, or the kind lab's "ca" anchor
    proxy_name: str | None = None  # kind: the proxies' host name for the API server (the anchor's container)
    capabilities: Capabilities | None = None  # the provider's (harness.stack.protocol); None: a lab.json before it
    acme_layer_url: str | None = None  # the ACME fault layer's control API (harness.stack.acme_layer); None: no layer
    aws: AwsInfo | None = None  # the AWS API cert-manager's Route 53 solver reaches (capability aws_api)

    def save(self, path: Path) -> Path:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2))
        temporary.replace(path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LabInfo":
        data = json.loads(Path(path).read_text())
        for key in ("dns_authoritative", "pebble_listen", "webhook"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        if data.get("alerting"):
            from harness.alerts.pipeline import AlertingInfo  # here: the provider registry imports this module

            data["alerting"] = AlertingInfo(**{**data["alerting"], "alert_names": tuple(data["alerting"]["alert_names"])})
        if data.get("aws"):
            data["aws"] = AwsInfo(**data["aws"])
        if data.get("capabilities"):
            data["capabilities"] = Capabilities(**data["capabilities"])
        return cls(**data)
