"""The lab on the "local" provider: every server and cert-manager as processes on loopback (docs/local-stack.md).

    fake DNS (views, listeners on 127.53.x.y:53) and its control API -> the AWS part (moto, the front under
    AWS's host names, the CONNECT proxy) -> Pebble (its VA asks the CA view) -> the ACME fault layer in front of it
    -> Toxiproxy -> LocalStack (cert-manager's self-check and pod DNS on the fake DNS) -> the cluster-wide
    webhook registration through the "webhook" proxy -> the controller's supervisor -> alerting
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable

from harness.lab.providers.seam import LabWiring, ProviderOptions, Wired
from harness.stack.ports import LOOPBACK
from harness.stack.protocol import LOCAL

if TYPE_CHECKING:
    from harness.stack.local import LocalStack

NAME = "local"
SUMMARY = "local processes on loopback, seconds to start, no nodes"
CAPABILITIES = LOCAL
OPTIONS: frozenset[str] = frozenset({"kubernetes"})


def validate(options: ProviderOptions) -> None:
    """moto's server (the lab's AWS API) can be started; another Kubernetes is one the lab builds and is built.
    The other binaries are resolved when the stack starts, before any runs."""
    from harness.stack import binaries
    from harness.stack.aws.emulator import require_moto

    if options.kubernetes is not None:
        binaries.check_kubernetes(options.kubernetes)
        for name in ("etcd", "kube-apiserver", "kube-controller-manager"):  # what another Kubernetes swaps
            binaries.resolve(name, options.bin_dir, options.kubernetes)
    require_moto()


def make_stack(options: ProviderOptions, run_dir: str | os.PathLike | None = None) -> LocalStack:
    from harness.stack.local import LocalStack

    return LocalStack(bin_dir=options.bin_dir, run_dir=run_dir, kubernetes=options.kubernetes)


def start_lab(wiring: LabWiring) -> Wired:
    """The servers and the stack, each registered with the lab as it starts. The stacks import here: the registry
    (and a refused option) stays light."""
    from fakes.dns import DnsServer
    from fakes.dns.control import ControlServer
    from harness.lab.info import AwsInfo, LabInfo
    from harness.stack import binaries, official
    from harness.stack.acme_layer import AcmeLayer
    from harness.stack.aws.part import AwsPart
    from harness.stack.local import LocalStack
    from harness.stack.pebble import Pebble
    from harness.stack.pki import RunPKI
    from harness.stack.supervisor import ControllerSupervisor
    from harness.stack.toxiproxy import ToxiproxyServer
    from harness.stack.versions import facts as component_facts

    started, bin_dir, run_dir = wiring.started, wiring.options.bin_dir, wiring.run_dir
    dns = started(DnsServer(zones=[wiring.zone], nameservers=wiring.nameservers,
                            zone_nameservers=[("ns1", "ns-public")]).start())
    control = started(ControlServer(dns, LOOPBACK).start())
    pki = RunPKI(run_dir / "lab-pki")
    aws = started(AwsPart(run_dir / "aws", pki, control.url).start())
    pebble = started(Pebble(run_dir / "pebble", pki, resolver=dns.ca_resolver,
                            validity=wiring.validity, bin_dir=bin_dir).start())
    serving = pki.serving("acme-layer")  # the lab CA terminates TLS at the layer as it does at Pebble
    acme_layer = started(AcmeLayer(serving.cert, serving.key, pebble.ca_bundle).start())
    toxiproxy = started(ToxiproxyServer(run_dir / "toxiproxy", bin_dir=bin_dir).start())
    host, port = dns.resolver
    stack = started(LocalStack(
        bin_dir=bin_dir, run_dir=run_dir / "stack",
        dns01_recursive_nameservers=[f"{host}:{port}"], dns01_recursive_nameservers_only=False,
        pod_dns=dns.address("cluster-dns")[0],
        # The Helm chart's log level: the trigger controller states its backoff only at --v=2.
        controller_args=["--v=2"],
        # aws-sdk-go in cert-manager's Route 53 solver: the lab CA and the proxy to the AWS front.
        controller_env=aws.controller_env(), kubernetes=wiring.options.kubernetes).start())
    # The cluster-wide registration goes through a proxy too, so the path the API server takes is
    # the same for isolated and shared namespaces.
    webhook = toxiproxy.api.create("webhook", upstream=(LOOPBACK, stack.ports["cert-manager-webhook"]))
    stack.register_webhook(f"https://{LOOPBACK}:{webhook.listen[1]}")
    supervisor = started(ControllerSupervisor(stack, run_dir / "cert-manager-controller.pid").start())
    alerting = wiring.alerting
    alerting.metrics_url = stack.metrics_url
    started(alerting.start())
    components = dict(stack.versions())
    for name in ("pebble", "toxiproxy-server", *alerting.versions()):
        components[name] = component_facts(binaries.resolve(name, bin_dir))
    if official.chart_facts(bin_dir):  # `--cert-manager VERSION`: the chart whose RBAC the lab applied
        components["cert-manager-chart"] = official.chart_facts(bin_dir)
    components["aws-emulator"] = aws.emulator.facts()
    info = LabInfo(
        kubeconfig=str(stack.kubeconfig),
        controller_pid_file=str(supervisor.pid_file),
        metrics_url=stack.metrics_url,
        dns_control_url=control.url,
        dns_authoritative=dns.authoritative,
        zone=wiring.zone,
        pebble_listen=(LOOPBACK, pebble.listen_port),
        pebble_management_url=pebble.management_url,
        pebble_ca_bundle_path=str(pebble.ca_bundle),
        toxiproxy_url=toxiproxy.url,
        webhook=(LOOPBACK, stack.ports["cert-manager-webhook"]),
        webhook_ca_bundle=stack.pki.ca_pem.decode(),
        components=components,
        provider=NAME,
        dns_nameservers={name: list(dns.address(name)) for name in wiring.nameservers},
        controller_argv=[str(arg) for arg in stack.controller_argv()],
        alerting=alerting.info,
        capabilities=CAPABILITIES,
        acme_layer_url=acme_layer.url,
        aws=AwsInfo(aws.emulator.url, aws.emulator.admin.access_key_id, aws.emulator.admin.secret_access_key,
                    aws.front.control_url, str(pki.ca_cert)),
    )
    return Wired(info, stack)


def upgrade(stack: LocalStack, bin_dir, on_step: Callable[[str], None]) -> None:
    """CRDs, RBAC and the three binaries in the chart's order; the supervisor starts B's controller."""
    stack.upgrade_cert_manager(bin_dir, supervised=True, on_step=on_step)
