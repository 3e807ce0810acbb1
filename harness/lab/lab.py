"""The scenario lab: one stack with everything the failure modes need, wired the way production is.

    cert-manager controller --ACME over TLS--> Toxiproxy "acme-<namespace>" --> Pebble
    kube-apiserver --admission webhook--> Toxiproxy "webhook" --> cert-manager webhook (jailed)
    a supervisor restarts the cert-manager controller when it dies, as the kubelet would
        (a namespace that breaks its webhook gets its own registration and "webhook-<namespace>" proxy)
    cert-manager RFC2136 provider --TSIG update--> fake DNS, authoritative view
    cert-manager DNS-01 self-check (authoritative, its default) --> fake DNS resolver view for the zone's
        SOA and NS, then each NS host on port 53: by default ns1 = "ns-public", the resolver view (lag
        lever for the self-check); a zone may name "ns-primary" / "ns-secondary" (the lagging secondary)
    controller's resolv.conf (pod DNS) --> "cluster-dns", the resolver view on port 53 (NS host names)
    Pebble's VA --> fake DNS, CA view (lag lever for the CA)

`Lab` owns and starts the pieces; `LabClient` drives a running lab through APIs only (Kubernetes, the DNS
control API, Toxiproxy's API, Pebble's management API), so scenario workers in other processes share one
lab described by lab.json.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.stack.leftovers import owned_prefix
from harness.alerts.pipeline import AlertingClient, AlertingInfo, AlertPipeline
from harness.alerts.rules import TimeScale
from harness.stack import binaries
from harness.stack.dnscontrol import DnsControl
from harness.stack.kube import api_client
from harness.stack.pebble import CERTIFICATE_VALIDITY, Management, Pebble
from harness.stack.pki import RunPKI
from harness.stack.ports import LOOPBACK
from harness.stack.local import LocalStack, component_facts
from harness.stack.supervisor import ControllerSupervisor
from harness.errors import HarnessError, as_harness_error
from harness.stack.toxiproxy import Proxy, Toxiproxy, ToxiproxyServer
from harness.stack.service import Service

ZONE = "certchaos.test."
LAB_ENV = "CERTCHAOS_LAB"  # path of a running lab's lab.json; fixtures attach to it instead of starting one
# The fake DNS server's listeners on port 53 (each on a free 127.53.x.y), where cert-manager's default
# (authoritative) self-check and the controller's resolv.conf reach it. Scenario zones' NS is ns-public;
# ns-primary and ns-secondary are there for a zone that names them (see docs/local-stack.md).
NAMESERVERS = {
    "cluster-dns": ("resolver", ("127.53.0.0/16", 53)),   # the pod's nameserver: resolves NS host names
    "ns-public": ("resolver", ("127.53.0.0/16", 53)),     # the provider's public NS, trailing its API
    "ns-primary": ("authoritative", ("127.53.0.0/16", 53)),
    "ns-secondary": ("secondary", ("127.53.0.0/16", 53)),  # zone transfers lag by secondary_propagation_delay
}


@dataclass(frozen=True)
class LabInfo:
    """Everything a client needs to drive a running lab; saved as lab.json."""

    kubeconfig: str
    metrics_url: str
    dns_control_url: str
    dns_authoritative: tuple[str, int]
    zone: str
    pebble_listen: tuple[str, int]  # Pebble's ACME API; each scenario reaches it through a proxy of its own
    pebble_management_url: str
    pebble_ca_bundle_path: str  # the CA that signs Pebble's TLS certificate: what ACME clients trust
    toxiproxy_url: str
    controller_pid_file: str  # the cert-manager controller's current PID (the supervisor restarts it)
    webhook: tuple[str, int]  # cert-manager's webhook; isolated namespaces reach it through their own proxy
    webhook_ca_bundle: str  # PEM that signs the webhook's serving certificate
    components: dict[str, dict]  # name -> {"version", "source" (cache, bin-dir, apt, ...), "path"}
    provider: str = "local"
    dns_nameservers: dict | None = None  # fake DNS listener -> [host, port] (NAMESERVERS, port 53)
    controller_argv: list | None = None  # the controller's command line, for a second replica
    alerting: AlertingInfo | None = None  # Prometheus, Alertmanager, blackbox exporter, webhook receiver
    proxy_host: str = LOOPBACK  # where scenario proxies listen: loopback, or the kind lab's "ca" anchor
    proxy_name: str | None = None  # kind: the proxies' host name for the API server (the anchor's container)

    def save(self, path: Path) -> Path:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2))
        temporary.replace(path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LabInfo":
        data = json.loads(Path(path).read_text())
        for key in ("dns_authoritative", "pebble_listen", "webhook"):
            data[key] = tuple(data[key])
        if data.get("alerting"):
            data["alerting"] = AlertingInfo(**{**data["alerting"], "alert_names": tuple(data["alerting"]["alert_names"])})
        return cls(**data)


class LabClient:
    """A running lab, driven through its APIs."""

    def __init__(self, info: LabInfo):
        self.info = info
        self.kube = api_client(Path(info.kubeconfig))
        self.dns = DnsControl(info.dns_control_url)
        self.toxiproxy = Toxiproxy(info.toxiproxy_url)
        self.pebble = Management(info.pebble_management_url, Path(info.pebble_ca_bundle_path))
        self.alerts = AlertingClient(info.alerting) if info.alerting else None

    def proxy_to(self, name: str, upstream: tuple[str, int]) -> Proxy:
        """A new Toxiproxy proxy (on a free port where cert-manager reaches it: loopback, or on kind the "ca"
        anchor's address) for one scenario's faults."""
        return self.toxiproxy.create(name, upstream=upstream, listen_host=self.info.proxy_host)

    def close(self) -> None:
        self.kube.close()
        self.dns.close()
        self.toxiproxy.close()
        self.pebble.close()
        if self.alerts:
            self.alerts.close()


class Lab(Service):
    """Starts (start()) and stops (stop(), reverse order) the lab's processes and servers."""

    def __init__(self, bin_dir: str | os.PathLike | None = None, run_dir: str | os.PathLike | None = None,
                 alert_rules: str | os.PathLike | None = None, alert_rules_mode: str = "add",
                 provider: str = "local", values: str | os.PathLike | None = None, workers: int = 0,
                 trust_acme_ca: bool = False, logs_to: str | os.PathLike | None = None):
        """`provider`: "local" (processes on loopback) or "kind" (harness.lab.kind); `values`: the user's
        Helm values for cert-manager's chart, `workers`: worker nodes, `trust_acme_ca`: Pebble's CA joins the
        controller's trust roots at install, for a cert-manager without spec.acme.caBundle (kind only);
        `logs_to`: every component's log is copied there when the lab stops (a report's lab/). The run dir
        holds private keys and credentials (PKI, kubeconfigs, tokens): give a report `logs_to`, never the
        run dir."""
        if provider not in ("local", "kind"):
            raise HarnessError(f"lab provider {provider!r}: use local or kind")
        if values is not None and provider != "kind":
            raise HarnessError("Helm --values are for the kind provider (the local one runs cert-manager's binaries)")
        if workers and provider != "kind":
            raise HarnessError("worker nodes are for the kind provider (the local one has no nodes)")
        if trust_acme_ca and provider != "kind":
            raise HarnessError("trust_acme_ca is for the kind provider (on local the controller's environment "
                               "names the CA: LocalStack.replace_controller)")
        self.provider, self.values, self.workers, self.trust_acme_ca = provider, values, workers, trust_acme_ca
        self.bin_dir = bin_dir
        self.alert_rules, self.alert_rules_mode = alert_rules, alert_rules_mode
        self._own_run_dir = run_dir is None
        # The owner (this process) in the dir's name: `certchaos clean` removes it only once the owner is gone.
        self.run_dir = Path(run_dir or tempfile.mkdtemp(prefix=owned_prefix("lab"))).resolve()
        self.logs_to = None if logs_to is None else Path(logs_to).resolve()
        self._stops: list = []
        self.info: LabInfo | None = None
        self.dns = None  # the fake DNS server, once started

    def _started(self, thing, stop=None):
        from fakes.dns import DnsServer

        self._stops.append(stop or thing.stop)
        if isinstance(thing, DnsServer):
            self.dns = thing  # on kind, harness.lab.kind starts it: its keys are the lab's credentials
        return thing

    def tsig_secrets(self) -> dict[str, str]:
        """"TSIG key NAME" -> secret for every key the lab's DNS server holds: what a report must not contain.
        Scenarios add a key per namespace and never remove one; a rotation fault puts the old secret back."""
        if self.dns is None:
            return {}
        secrets = {}
        for described in self.dns.keys.describe():
            held = self.dns.keys.get(described["name"])
            if held is not None:
                secrets[f"TSIG key {described['name']}"] = held[0].secret
        return secrets

    def _start(self) -> None:
        from fakes.dns.errors import FakeDnsError

        with as_harness_error(FakeDnsError):  # the fake DNS server's refusals, as the harness's own
            self._start_parts()

    def _start_parts(self) -> None:
        from fakes.dns import DnsServer
        from fakes.dns.control import ControlServer

        # Rules checked by promtool first: a bad rule file is refused before anything starts.
        alerting = AlertPipeline(self.run_dir / "alerting", "", TimeScale.for_lifetime(CERTIFICATE_VALIDITY),
                                 user_rules=self.alert_rules, mode=self.alert_rules_mode, bin_dir=self.bin_dir)
        if self.provider == "kind":
            from harness.lab.kind import start_kind_lab

            self.info = LabInfo(**start_kind_lab(self, alerting, zone=ZONE, nameservers=NAMESERVERS,
                                                 validity=CERTIFICATE_VALIDITY, started=self._started))
            self.info_path = self.info.save(self.run_dir / "lab.json")
            return
        dns = self.dns = self._started(DnsServer(zones=[ZONE], nameservers=NAMESERVERS,
                                                 zone_nameservers=[("ns1", "ns-public")]).start())
        control = self._started(ControlServer(dns, LOOPBACK).start())
        pki = RunPKI(self.run_dir / "lab-pki")
        pebble = self.pebble = self._started(
            Pebble(self.run_dir / "pebble", pki, resolver=dns.ca_resolver, validity=CERTIFICATE_VALIDITY,
                   bin_dir=self.bin_dir).start())
        toxiproxy = self._started(ToxiproxyServer(self.run_dir / "toxiproxy", bin_dir=self.bin_dir).start())
        host, port = dns.resolver
        stack = self.stack = self._started(LocalStack(
            bin_dir=self.bin_dir, run_dir=self.run_dir / "stack",
            dns01_recursive_nameservers=[f"{host}:{port}"], dns01_recursive_nameservers_only=False,
            pod_dns=dns.address("cluster-dns")[0],
            # The Helm chart's log level: the trigger controller states its backoff only at --v=2.
            controller_args=["--v=2"]).start())
        # The cluster-wide registration goes through a proxy too, so the path the API server takes is
        # the same for isolated and shared namespaces.
        webhook = toxiproxy.api.create("webhook", upstream=(LOOPBACK, stack.ports["cert-manager-webhook"]))
        stack.register_webhook(f"https://{LOOPBACK}:{webhook.listen[1]}")
        supervisor = self._started(ControllerSupervisor(stack, self.run_dir / "cert-manager-controller.pid").start())
        alerting.metrics_url = stack.metrics_url
        self._started(alerting.start())
        components = dict(stack.versions())
        for name in ("pebble", "toxiproxy-server", *alerting.versions()):
            components[name] = component_facts(binaries.resolve(name, self.bin_dir))
        self.info = LabInfo(
            kubeconfig=str(stack.kubeconfig),
            controller_pid_file=str(supervisor.pid_file),
            metrics_url=stack.metrics_url,
            dns_control_url=control.url,
            dns_authoritative=dns.authoritative,
            zone=ZONE,
            pebble_listen=(LOOPBACK, pebble.listen_port),
            pebble_management_url=pebble.management_url,
            pebble_ca_bundle_path=str(pebble.ca_bundle),
            toxiproxy_url=toxiproxy.url,
            webhook=(LOOPBACK, stack.ports["cert-manager-webhook"]),
            webhook_ca_bundle=stack.pki.ca_pem.decode(),
            components=components,
            dns_nameservers={name: list(dns.address(name)) for name in NAMESERVERS},
            controller_argv=[str(arg) for arg in stack.controller_argv()],
            alerting=alerting.info,
        )
        self.info_path = self.info.save(self.run_dir / "lab.json")

    def upgrade_cert_manager(self, bin_dir: str | os.PathLike | None, on_step=lambda step: None) -> None:
        """cert-manager upgraded in place to `bin_dir`'s version, as a user would on this provider: on local,
        CRDs, RBAC and the three binaries in the chart's order (the supervisor starts B's controller); on
        kind, `helm upgrade` with the same values (harness.lab.kind.upgrade_kind_lab)."""
        if self.provider == "kind":
            from harness.lab.kind import upgrade_kind_lab

            upgrade_kind_lab(self, bin_dir, on_step)
        else:
            self.stack.upgrade_cert_manager(bin_dir, supervised=True, on_step=on_step)

    def stop(self) -> None:
        """Stop everything in reverse order; one part failing to stop does not keep the others running."""
        failures = []
        while self._stops:
            try:
                self._stops.pop()()
            except Exception as error:  # noqa: BLE001 - re-raised below, after the rest is stopped
                failures.append(error)
        if self.logs_to is not None:
            try:
                copy_logs(self.run_dir, self.logs_to)
            except OSError as error:
                failures.append(error)
        if self._own_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        if failures:
            raise failures[0]


def copy_logs(run_dir: Path, destination: Path) -> list[Path]:
    """Every component's log (`*.log` under `run_dir`, e.g. stack/logs/cert-manager-controller.log) copied to
    the same relative path under `destination`, and nothing else: keys, kubeconfigs and tokens stay behind."""
    copied = []
    for log in sorted(Path(run_dir).rglob("*.log")):
        if log.is_file() and not log.is_symlink():
            target = Path(destination) / log.relative_to(run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, target)
            copied.append(target)
    return copied
