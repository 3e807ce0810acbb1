"""The scenario lab: one stack with everything the failure modes need, wired the way production is.

    cert-manager controller --ACME over TLS--> Toxiproxy "acme-<namespace>" --> ACME fault layer route
        "acme-<namespace>" (TLS ends there; rules answer as a CA in trouble) --> Pebble
    kube-apiserver --admission webhook--> Toxiproxy "webhook" --> cert-manager webhook (jailed)
    a supervisor restarts the cert-manager controller when it dies, as the kubelet would
        (a namespace that breaks its webhook gets its own registration and "webhook-<namespace>" proxy)
    cert-manager RFC2136 provider --TSIG update--> fake DNS, authoritative view
    cert-manager DNS-01 self-check (authoritative, its default) --> fake DNS resolver view for the zone's
        SOA and NS, then each NS host on port 53: by default ns1 = "ns-public", the resolver view (lag
        lever for the self-check); a zone may name "ns-primary" / "ns-secondary" (the lagging secondary)
    controller's resolv.conf (pod DNS) --> "cluster-dns", the resolver view on port 53 (NS host names)
    Pebble's VA --> fake DNS, CA view (lag lever for the CA)

That is the local provider's lab (harness.lab.providers.local); kind's has the same servers on the kind network,
an existing cluster's (kubeconfig) none of them. `Lab` starts the provider's pieces; `LabClient` drives a running lab through APIs only (Kubernetes, the DNS
control API, Toxiproxy's API, Pebble's management API), so scenario workers in other processes share one
lab described by lab.json.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from harness.alerts.pipeline import AlertingClient, AlertPipeline
from harness.stack.leftovers import owned_prefix
from harness.alerts.rules import TimeScale
from harness.errors import as_harness_error
from harness.lab import providers
from harness.lab.info import LabInfo
from harness.lab.providers.seam import LabWiring, ProviderOptions
from harness.stack.acme_control import AcmeLayerControl
from harness.stack.aws.admin import AwsAdmin, FrontControl
from harness.stack.aws.emulator import Credentials
from harness.stack.dnscontrol import DnsControl
from harness.stack.pebble import CERTIFICATE_VALIDITY, Management
from harness.stack.service import Service
from harness.stack.toxiproxy import Proxy, Toxiproxy

__all__ = ["LAB_ENV", "NAMESERVERS", "ZONE", "Lab", "LabClient", "LabInfo", "copy_logs"]

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


class LabClient:
    """A running lab, driven through its APIs."""

    def __init__(self, info: LabInfo):
        """On a provider without the lab's servers (an existing cluster) dns, toxiproxy and pebble are None."""
        from harness.stack.kube import api_client  # here: the commands that import Lab refuse bad input without it

        self.info = info
        self.kube = api_client(Path(info.kubeconfig))
        self.dns = DnsControl(info.dns_control_url) if info.dns_control_url else None
        self.toxiproxy = Toxiproxy(info.toxiproxy_url) if info.toxiproxy_url else None
        self.pebble = (Management(info.pebble_management_url, Path(info.pebble_ca_bundle_path))
                       if info.pebble_management_url else None)
        self.alerts = AlertingClient(info.alerting) if info.alerting else None
        self.acme_layer = AcmeLayerControl(info.acme_layer_url) if info.acme_layer_url else None
        aws = info.aws
        # The account's administrator (moto directly) and the AWS front's control API (answers, faults).
        self.aws = (AwsAdmin(aws.emulator_url, Credentials(aws.admin_access_key_id, aws.admin_secret_access_key))
                    if aws else None)
        self.aws_front = FrontControl(aws.front_control_url, aws.ca_bundle_path) if aws else None

    def proxy_to(self, name: str, upstream: tuple[str, int]) -> Proxy:
        """A new Toxiproxy proxy (on a free port where cert-manager reaches it: loopback, or on kind the "ca"
        anchor's address) for one scenario's faults."""
        return self.toxiproxy.create(name, upstream=upstream, listen_host=self.info.proxy_host)

    def close(self) -> None:
        self.kube.close()
        for part in (self.dns, self.toxiproxy, self.pebble, self.alerts, self.acme_layer, self.aws, self.aws_front):
            if part is not None:
                part.close()


class Lab(Service):
    """Starts (start()) and stops (stop(), reverse order) the lab's processes and servers."""

    def __init__(self, bin_dir: str | os.PathLike | None = None, run_dir: str | os.PathLike | None = None,
                 alert_rules: str | os.PathLike | None = None, alert_rules_mode: str = "add",
                 provider: str = "local", values: str | os.PathLike | None = None, workers: int = 0,
                 trust_acme_ca: bool = False, logs_to: str | os.PathLike | None = None,
                 kubeconfig: str | os.PathLike | None = None, kubernetes: str | None = None):
        """`provider`: a name of harness.lab.providers (local, kind, kubeconfig); `values`: the user's Helm values
        for cert-manager's chart, `workers`: worker nodes, `trust_acme_ca`: Pebble's CA joins the controller's
        trust roots at install, for a cert-manager without spec.acme.caBundle (chart values); `kubeconfig`: the
        existing cluster's; `kubernetes`: another Kubernetes than the default (the local provider's); the provider
        refuses what it cannot honour, here, before anything starts.
        `logs_to`: every component's log is copied there when the lab stops (a report's lab/). The run dir
        holds private keys and credentials (PKI, kubeconfigs, tokens): give a report `logs_to`, never the
        run dir."""
        self.options = ProviderOptions(bin_dir=bin_dir, values=values, workers=workers, trust_acme_ca=trust_acme_ca,
                                       kubeconfig=kubeconfig, alert_rules=alert_rules, kubernetes=kubernetes)
        self.seam = providers.validate(provider, self.options)
        self.provider, self.capabilities = provider, self.seam.CAPABILITIES
        self.stack = None  # the provider's running stack, once started
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
            self.dns = thing  # the provider starts it: its keys are the lab's credentials
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
        # Rules checked by promtool first: a bad rule file is refused before anything starts. Without a lab
        # network no Prometheus reaches cert-manager's metrics: no alerting.
        alerting = AlertPipeline(self.run_dir / "alerting", "", TimeScale.for_lifetime(CERTIFICATE_VALIDITY),
                                 user_rules=self.alert_rules, mode=self.alert_rules_mode, bin_dir=self.bin_dir,
                                 ) if self.capabilities.lab_network else None
        wired = self.seam.start_lab(LabWiring(self.run_dir, self.options, alerting, self._started, zone=ZONE,
                                              nameservers=NAMESERVERS, validity=CERTIFICATE_VALIDITY))
        self.info, self.stack = wired.info, wired.stack
        self.info_path = self.info.save(self.run_dir / "lab.json")

    def upgrade_cert_manager(self, bin_dir: str | os.PathLike | None, on_step=lambda step: None) -> None:
        """cert-manager upgraded in place to `bin_dir`'s version, as a user would on this provider (its
        `upgrade`: on local CRDs, RBAC and the binaries in the chart's order; on kind `helm upgrade`)."""
        self.seam.upgrade(self.stack, bin_dir, on_step)

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
