"""The lab on the "kind" provider: the same servers and views as on local, where pods reach them (docs/kind.md).

    kind create --> anchors on the kind network (harness.stack.kind.labnet), one per address pods need:
        "cluster-dns", "ns-public", "ns-primary", "ns-secondary": the fake DNS's nameserver listeners on
            <anchor IP>:53 (sockets made inside each anchor's namespace; the fake DNS stays in this process);
            the authoritative view (RFC2136 updates) on ns-primary's IP, another port
        "ca": Pebble, the ACME fault layer's routes (sockets made in its namespace; the layer stays in this
            process), Toxiproxy (API and every scenario's proxy), the ca_resolver view Pebble's VA asks, and
            the AWS front on 443 (moto stays on 127.0.0.1; the fake DNS's zone amazonaws.com. names this anchor)
    --> helm install with the controller's --dns01-recursive-nameservers=<cluster-dns>:53, --v=2, and pod
        DNS naming cluster-dns only (its resolv.conf, as the local pod sandbox's): the self-check walks the
        same views as on local, so every DNS fault means the same on both providers
    --> a NodePort Service for the controller's metrics (the host scrapes <node IP>:<nodePort>)
    --> the controller's log and PID followed as the local stack writes them (harness.stack.kind.podlog)

The DNS control API, Prometheus, Alertmanager and the receiver stay on the host's 127.0.0.1.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from harness.errors import HarnessError
from harness.lab.providers.seam import LabWiring, ProviderOptions, Wired
from harness.stack.ports import LOOPBACK
from harness.stack.protocol import KIND
from harness.wait import Seen, wait_for

if TYPE_CHECKING:
    from kubernetes import client

    from harness.stack.kind.provider import KindStack

NAME = "kind"
SUMMARY = "a kind cluster: real nodes, cert-manager installed by its chart (needs `certchaos images build`)"
CAPABILITIES = KIND
OPTIONS: frozenset[str] = frozenset({"kubernetes"})

ANCHORS = ("ca", "cluster-dns", "ns-public", "ns-primary", "ns-secondary")
METRICS_SERVICE = "certchaos-controller-metrics"
WEBHOOK_SERVICE = "certchaos-webhook"  # the webhook on a node port: upstream of isolated namespaces' proxies
WEBHOOK_SELECTOR = "app.kubernetes.io/component=webhook,app.kubernetes.io/name=webhook"
# Where Pebble's VA dials a domain for HTTP-01: port 80, as every ACME CA does (RFC 8555 8.3), where the ingress
# controller of the HTTP-01 scenarios answers (harness/workloads/ingress.py).
HTTP01_PORT = 80
METRICS_PORT = 9402  # the chart's controller metrics port (containerPort http-metrics)
# kube-proxy programs a new NodePort within a second or two; the controller serves metrics once it runs.
# 120 s covers a loaded machine and a controller restarted by the crash the local lab also sees.
METRICS_TIMEOUT = 120.0


def chart_values(cluster_dns: str, proxy_name: str) -> dict:
    """cert-manager's chart values the lab needs: what the local lab gives the controller process, and the
    webhook's serving certificate also naming `proxy_name` (isolated namespaces reach the webhook through a
    proxy there; the chart's --dynamic-serving-dns-names is a list flag, so this one is appended)."""
    return {"extraArgs": [f"--dns01-recursive-nameservers={cluster_dns}:53",
                          # The trigger controller states its backoff only at --v=2 (as on local).
                          "--v=2"],
            "podDnsPolicy": "None", "podDnsConfig": {"nameservers": [cluster_dns]},
            "webhook": {"extraArgs": [f"--dynamic-serving-dns-names={proxy_name}"],
                        # The chart's 1 s probe timeouts restarted the webhook 3 times in 15 min on this 2-core
                        # machine at load 90-120 (API requests then failed "connection refused", a scenario's
                        # steady state broke). 5 s x 6 tolerates load; an unreachable webhook is still a fault
                        # the scenarios inject themselves.
                        "livenessProbe": {"timeoutSeconds": 5, "failureThreshold": 6},
                        "readinessProbe": {"timeoutSeconds": 5, "failureThreshold": 6}}}


# A private ACME CA in the controller's trust roots, as a user does for a cert-manager whose ACME issuers have
# no spec.acme.caBundle (before v1.11): the bundle in a ConfigMap of cert-manager's namespace, mounted into
# the controller through the chart's volumes/volumeMounts, SSL_CERT_FILE naming it (extraEnv).
TRUST_CONFIG_MAP = "certchaos-acme-ca"
TRUST_DIR = "/etc/certchaos/acme-ca"
TRUST_FILE = "ca-certificates.crt"
SYSTEM_ROOTS = "/etc/ssl/certs/ca-certificates.crt"  # what our images carry (images._skeleton) and Go reads


def trust_values(api: client.ApiClient, ca_pem: bytes, system_roots: str = SYSTEM_ROOTS) -> dict:
    """Put the system roots plus `ca_pem` in ConfigMap cert-manager/TRUST_CONFIG_MAP (the namespace made now:
    this runs before helm install) and return the chart values that make the controller trust it. The values
    merge with the lab's; a user values file that sets volumes, volumeMounts or extraEnv replaces these lists."""
    from kubernetes import client

    from harness.stack import certmanager
    from harness.stack.kube import ensure_namespace

    roots = Path(system_roots)
    bundle = (roots.read_text() if roots.is_file() else "") + ca_pem.decode()
    ensure_namespace(api, certmanager.NAMESPACE)
    client.CoreV1Api(api).create_namespaced_config_map(certmanager.NAMESPACE, {
        "metadata": {"name": TRUST_CONFIG_MAP, "labels": {"app.kubernetes.io/managed-by": "certchaos"}},
        "data": {TRUST_FILE: bundle}})
    return {"volumes": [{"name": "acme-ca", "configMap": {"name": TRUST_CONFIG_MAP}}],
            "volumeMounts": [{"name": "acme-ca", "mountPath": TRUST_DIR, "readOnly": True}],
            "extraEnv": [{"name": "SSL_CERT_FILE", "value": f"{TRUST_DIR}/{TRUST_FILE}"}]}


# cert-manager's Route 53 solver on kind: the pods' resolver (the fake DNS) answers AWS's host names with the "ca"
# anchor's address, where the AWS front listens on 443; aws-sdk-go trusts the lab CA through AWS_CA_BUNDLE, a file
# of a ConfigMap mounted into the controller (the chart's volumes, volumeMounts, extraEnv), as a user mounts a
# private CA. No proxy: the controller's own requests (API server, ACME) go where they went.
AWS_ZONE = "amazonaws.com."
AWS_CONFIG_MAP = "certchaos-aws-ca"
AWS_CA_DIR = "/etc/certchaos/aws-ca"
AWS_CA_FILE = "ca.pem"
AWS_FRONT_PORT = 443  # AWS's endpoints' port: aws-sdk-go builds https://route53.amazonaws.com/ with none


def aws_values(api: client.ApiClient, ca_pem: bytes) -> dict:
    """Put the lab CA in ConfigMap cert-manager/AWS_CONFIG_MAP and return the chart values that give the controller
    AWS_CA_BUNDLE naming it (and no instance metadata lookups: there is no EC2 here)."""
    from kubernetes import client

    from harness.stack import certmanager
    from harness.stack.kube import ensure_namespace

    ensure_namespace(api, certmanager.NAMESPACE)
    client.CoreV1Api(api).create_namespaced_config_map(certmanager.NAMESPACE, {
        "metadata": {"name": AWS_CONFIG_MAP, "labels": {"app.kubernetes.io/managed-by": "certchaos"}},
        "data": {AWS_CA_FILE: ca_pem.decode()}})
    return {"volumes": [{"name": "aws-ca", "configMap": {"name": AWS_CONFIG_MAP}}],
            "volumeMounts": [{"name": "aws-ca", "mountPath": AWS_CA_DIR, "readOnly": True}],
            "extraEnv": [{"name": "AWS_CA_BUNDLE", "value": f"{AWS_CA_DIR}/{AWS_CA_FILE}"},
                         {"name": "AWS_EC2_METADATA_DISABLED", "value": "true"}]}


def merge_values(values: dict, more: dict) -> dict:
    """`more` into `values`: the chart's lists (volumes, volumeMounts, extraEnv, extraArgs) joined, the rest set."""
    for key, value in more.items():
        values[key] = [*values.get(key, []), *value] if isinstance(value, list) else value
    return values


def validate(options: ProviderOptions) -> None:
    """The user's values file exists, the worker count is not negative, and moto's server (the lab's AWS API) can be
    started."""
    from harness.stack.aws.emulator import require_moto

    require_moto()
    if options.workers < 0:
        raise HarnessError(f"--worker-nodes {options.workers}: give 0 or more (the node-failure scenarios need 2)")
    if options.values is not None and not Path(options.values).expanduser().is_file():
        problem = "is a directory" if Path(options.values).expanduser().is_dir() else "no such file"
        raise HarnessError(f"--values {options.values}: {problem}. Fix: give the path of your Helm values YAML file")


def make_stack(options: ProviderOptions, run_dir: str | os.PathLike | None = None) -> KindStack:
    from harness.stack.kind.provider import KindStack

    return KindStack(bin_dir=options.bin_dir, run_dir=run_dir, values=options.values, workers=options.workers,
                     kubernetes=options.kubernetes)


def start_lab(wiring: LabWiring) -> Wired:
    """Start the kind stack and the lab's servers on its network; `wiring.started(thing)` registers a thing's
    stop with the lab (newest first). The stacks import here: the registry (and a refused option) stays light."""
    import yaml

    from fakes.dns import DnsServer
    from fakes.dns.control import ControlServer
    from harness.lab.info import AwsInfo, LabInfo
    from harness.stack import binaries, certmanager, official
    from harness.stack.acme_layer import AcmeLayer
    from harness.stack.aws.front import HOSTS
    from harness.stack.aws.part import AwsPart
    from harness.stack.kind.labnet import LabNetwork
    from harness.stack.kind.podlog import CONTROLLER_SELECTOR, ControllerFollower
    from harness.stack.kind.provider import KindStack
    from harness.stack.pebble import Pebble
    from harness.stack.pki import RunPKI
    from harness.stack.probes import http_ok, tls_answers
    from harness.stack.toxiproxy import ToxiproxyServer
    from harness.stack.versions import facts as component_facts

    options, started, run_dir, alerting = wiring.options, wiring.started, wiring.run_dir, wiring.alerting
    zone, nameservers, validity = wiring.zone, wiring.nameservers, wiring.validity
    servers: dict = {}

    def provision(stack: KindStack) -> dict:
        net = servers["net"] = started(LabNetwork(stack.engine, stack.name, ANCHORS).start())
        binders = {name: net[name].binder() for name in nameservers}
        binders.update(authoritative=net["ns-primary"].binder(), ca_resolver=net["ca"].binder())
        dns = servers["dns"] = started(DnsServer(
            zones=[zone], nameservers={name: (view, (net[name].ip, 53)) for name, (view, _) in nameservers.items()},
            zone_nameservers=[("ns1", "ns-public")], listen=(net["ns-primary"].ip, 0),
            ca_resolver_listen=(net["ca"].ip, 0), binders=binders).start())
        servers["control"] = started(ControlServer(dns, LOOPBACK).start())
        ca = net["ca"]
        pki = RunPKI(run_dir / "lab-pki")
        servers["pebble"] = started(Pebble(run_dir / "pebble", pki,
                                           resolver=dns.ca_resolver, validity=validity, bin_dir=options.bin_dir,
                                           netns=ca.netns, host=ca.ip, http_port=HTTP01_PORT).start())
        serving = pki.serving("acme-layer", ca.ip)  # the lab CA terminates TLS at the layer as at Pebble
        servers["acme_layer"] = started(AcmeLayer(serving.cert, serving.key, servers["pebble"].ca_bundle,
                                                  host=ca.ip, netns=ca.netns).start())
        servers["toxiproxy"] = started(ToxiproxyServer(run_dir / "toxiproxy", bin_dir=options.bin_dir,
                                                       netns=ca.netns, host=ca.ip).start())
        servers["aws"] = started(AwsPart(run_dir / "aws", pki, servers["control"].url, front=(ca.ip, AWS_FRONT_PORT),
                                         netns=ca.netns, proxy=False).start())
        dns.add_zone(AWS_ZONE)
        for host in HOSTS:
            dns.add_record(host, "A", ca.ip)
        values = merge_values(chart_values(net["cluster-dns"].ip, net["ca"].container),
                              aws_values(stack.api(), pki.ca_cert.read_bytes()))
        if options.trust_acme_ca:
            merge_values(values, trust_values(stack.api(), servers["pebble"].ca_bundle.read_bytes()))
        return values

    stack = KindStack(bin_dir=options.bin_dir, run_dir=run_dir / "stack", values=options.values,
                      workers=options.workers, provision=provision, kubernetes=options.kubernetes)
    # Registered before it starts, so the anchors (registered by provision, after it) go first and the
    # `kind` network can be removed by whichever stop comes last.
    started(stack, stack.stop)
    stack.start()
    api = stack.api()
    node_ip = stack.node_ip()
    metrics_url = f"http://{node_ip}:{node_port(api, METRICS_SERVICE, CONTROLLER_SELECTOR, METRICS_PORT)}/metrics"
    wait_for(http_ok(metrics_url), subject="cert-manager controller metrics",
             expected=f"to answer at {metrics_url}", timeout=METRICS_TIMEOUT, interval=1.0)
    pid_file = run_dir / "cert-manager-controller.pid"
    started(ControllerFollower(api, stack.run_dir / "logs" / "cert-manager-controller.log", pid_file).start())
    wait_for(lambda: Seen(pid_file.exists(), f"pid file {pid_file}"), subject="controller follower",
             expected="to find the controller's process", timeout=METRICS_TIMEOUT, interval=0.5)
    alerting.metrics_url = metrics_url
    started(alerting.start())
    # Isolated namespaces reach the webhook through this node port: a first admission before kube-proxy
    # has programmed it fails with EOF (seen in a game day's first create).
    webhook = (node_ip, node_port(api, WEBHOOK_SERVICE, WEBHOOK_SELECTOR, "https"))
    wait_for(tls_answers(*webhook), subject="cert-manager webhook", expected=f"to answer on node port {webhook[1]}",
             timeout=METRICS_TIMEOUT, interval=1.0)
    dns, pebble, toxiproxy, net, aws = (servers[name] for name in ("dns", "pebble", "toxiproxy", "net", "aws"))
    components = dict(stack.versions())
    chart = certmanager.chart_dir(options.bin_dir)
    components["cert-manager-chart"] = {"version": yaml.safe_load((chart / "Chart.yaml").read_text())["version"],
                                        "source": "chart", "path": str(chart)}
    components["cert-manager-chart"].update(official.chart_facts(options.bin_dir) or {})
    for name in ("pebble", "toxiproxy-server", *alerting.versions()):
        components[name] = component_facts(binaries.resolve(name, options.bin_dir))
    components["aws-emulator"] = aws.emulator.facts()
    return Wired(LabInfo(
        kubeconfig=str(stack.kubeconfig), controller_pid_file=str(pid_file), metrics_url=metrics_url,
        dns_control_url=servers["control"].url, dns_authoritative=dns.authoritative, zone=zone,
        pebble_listen=(net["ca"].ip, pebble.listen_port), pebble_management_url=pebble.management_url,
        pebble_ca_bundle_path=str(pebble.ca_bundle), toxiproxy_url=toxiproxy.url,
        webhook=webhook,
        webhook_ca_bundle=isolate_chart_webhooks(api), components=components, provider=NAME,
        dns_nameservers={name: list(dns.address(name)) for name in nameservers},
        controller_argv=None, alerting=alerting.info, proxy_host=net["ca"].ip,
        proxy_name=net["ca"].container, capabilities=CAPABILITIES,
        acme_layer_url=servers["acme_layer"].url,
        aws=AwsInfo(aws.emulator.url, aws.emulator.admin.access_key_id, aws.emulator.admin.secret_access_key,
                    aws.front.control_url, str(aws.pki.ca_cert))), stack)


def node_port(api: client.ApiClient, name: str, selector: str, target: int | str) -> int:
    """A NodePort Service `name` for the pods of `selector` ("k=v,k=v") on port `target`; its node port."""
    from kubernetes import client

    from harness.stack import certmanager

    service = client.CoreV1Api(api).create_namespaced_service(certmanager.NAMESPACE, {
        "metadata": {"name": name},
        "spec": {"type": "NodePort", "selector": dict(pair.split("=") for pair in selector.split(",")),
                 "ports": [{"name": "port", "port": 443 if isinstance(target, str) else target,
                            "targetPort": target}]}})
    return service.spec.ports[0].node_port


def isolate_chart_webhooks(api: client.ApiClient) -> str:
    """The chart's webhook registrations skip namespaces labelled isolated (they get their own, through a
    proxy: harness.fixtures.certchaos_isolated_webhook), as the local lab's cluster-wide one does; returns the PEM
    of the CA that signs the webhook's serving certificate (the chart's cainjector CA Secret)."""
    from kubernetes import client

    from harness.stack import certmanager

    registration = client.AdmissionregistrationV1Api(api)
    isolated = client.V1LabelSelectorRequirement(key=certmanager.ISOLATION_LABEL, operator="NotIn",
                                                 values=["isolated"])
    for read, replace in ((registration.read_validating_webhook_configuration,
                           registration.replace_validating_webhook_configuration),
                          (registration.read_mutating_webhook_configuration,
                           registration.replace_mutating_webhook_configuration)):
        body = read(certmanager.WEBHOOK_NAME)
        for webhook in body.webhooks:
            selector = webhook.namespace_selector or client.V1LabelSelector()
            # Idempotent: a helm upgrade may keep or drop the requirement; either way it is there once.
            if isolated not in (selector.match_expressions or []):
                selector.match_expressions = [*(selector.match_expressions or []), isolated]
            webhook.namespace_selector = selector
        replace(certmanager.WEBHOOK_NAME, body)
    secret = client.CoreV1Api(api).read_namespaced_secret(f"{certmanager.WEBHOOK_NAME}-ca", certmanager.NAMESPACE)
    return base64.b64decode(secret.data["ca.crt"]).decode()


def upgrade(stack: KindStack, bin_dir, on_step: Callable[[str], None]) -> None:
    """cert-manager upgraded in place on the lab's cluster (KindStack.upgrade_cert_manager: helm upgrade with
    the same values), then what the lab changed on the chart's objects made true again: its webhook
    registrations skip isolated namespaces (a three-way merge puts the chart's namespaceSelector back).
    The NodePort Services, the trust ConfigMap and the log follower need nothing: they select by label."""
    stack.upgrade_cert_manager(bin_dir, on_step=on_step)
    on_step("webhook registrations")
    isolate_chart_webhooks(stack.api())
