"""pytest fixtures for the running stack and the scenario lab: session-scoped stack/lab and API client,
a namespace per test, issuers.

Loaded by the certchaos pytest plugin (harness.pytest_plugin), which registers the options they read
(--certchaos-provider, --certchaos-bin-dir, --certchaos-keep-stack, ...). Every name is prefixed `certchaos_`, so
nothing here shadows or answers a project's own `kube` or `namespace`; the catalogue's conftest.py gives its
scenarios the short names. The plugin fails a test that asks for one of them where certchaos is not active.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from typing import Iterator

import pytest
from kubernetes import client

from harness.chaos.invariants import LifecycleCheck
from harness.lab.issuers import (
    AcmeIssuer, Http01Issuer, Route53Issuer, delete_http01_issuer, make_acme_issuer, make_ca_issuer,
    make_http01_issuer, make_route53_issuer,
)
from harness.stack.kube import ensure_namespace
from harness.lab import providers
from harness.lab.lab import LAB_ENV, Lab, LabClient, LabInfo
from harness.lab.webhook import isolate_webhook, release_webhook
from harness.lab.providers.seam import ProviderOptions
from harness.stack.protocol import Stack
from harness.chaos.timeline import Timeline
from harness.run_state import run_state
from harness.stack.toxiproxy import Proxy
from harness.workloads import ingress

# The names an HTTP-01 issuer's zone resolves to the ingress controller (A records): what scenarios certify.
HTTP01_NAMES = ("web", "www", "api")


KUBECONFIG_ENV = "CERTCHAOS_KUBECONFIG"  # the existing cluster's kubeconfig for --provider kubeconfig under pytest


def provider_options(config: pytest.Config) -> ProviderOptions:
    """The provider options pytest's command line (and $CERTCHAOS_KUBECONFIG) gives."""
    return ProviderOptions(bin_dir=config.getoption("--certchaos-bin-dir", default=None),
                           workers=config.getoption("--certchaos-worker-nodes", default=0),
                           kubeconfig=os.environ.get(KUBECONFIG_ENV) or None)


def make_stack(config: pytest.Config) -> Stack:
    """The stack of the --certchaos-provider the options ask for (harness.lab.providers), not started."""
    keep = config.getoption("--certchaos-keep-stack", default=False)
    options = provider_options(config)
    chosen = providers.validate(config.getoption("--certchaos-provider", default=providers.DEFAULT), options)
    return chosen.make_stack(options, tempfile.mkdtemp(prefix="certchaos-stack-") if keep else None)


@pytest.fixture(scope="session")
def certchaos_stack(pytestconfig: pytest.Config) -> Iterator[Stack]:
    """A bare stack (no lab: no fake DNS, Pebble or Toxiproxy; local processes by default), started once per
    session and stopped at its end. With --certchaos-keep-stack its run dir (logs, kubeconfig, certs) is kept."""
    running = make_stack(pytestconfig)
    with running:
        yield running


@pytest.fixture(scope="session")
def certchaos_kube(certchaos_lab: LabClient) -> client.ApiClient:
    """A kubernetes ApiClient for the lab's admin (system:masters). Tests of the bare stack override it with
    `certchaos_stack.api()` (tests/integration/conftest.py), so certchaos_namespace starts no lab there."""
    return certchaos_lab.kube


@pytest.fixture
def certchaos_namespace(certchaos_kube: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test; deleted (in the background) afterwards."""
    slug = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug}-{uuid.uuid4().hex[:5]}"
    ensure_namespace(certchaos_kube, name)
    yield name
    client.CoreV1Api(certchaos_kube).delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="session")
def certchaos_lab(pytestconfig: pytest.Config) -> Iterator[LabClient]:
    """The scenario lab (stack + fake DNS + Pebble + Toxiproxy, see harness.lab.lab), as a client. Attaches
    to the lab in $CERTCHAOS_LAB (what `certchaos run` starts for its workers), else starts one for this
    session and stops it at the end."""
    owner = None
    if os.environ.get(LAB_ENV):
        info = LabInfo.load(os.environ[LAB_ENV])
    else:
        keep = pytestconfig.getoption("--certchaos-keep-stack", default=False)
        owner = Lab(bin_dir=pytestconfig.getoption("--certchaos-bin-dir", default=None),
                    run_dir=tempfile.mkdtemp(prefix="certchaos-lab-") if keep else None,
                    alert_rules=pytestconfig.getoption("--certchaos-alert-rules", default=None),
                    alert_rules_mode=pytestconfig.getoption("--certchaos-alert-rules-mode", default="add"),
                    provider=pytestconfig.getoption("--certchaos-provider", default=providers.DEFAULT),
                    workers=pytestconfig.getoption("--certchaos-worker-nodes", default=0),
                    kubeconfig=os.environ.get(KUBECONFIG_ENV) or None).start()
        info = owner.info
    state = run_state(pytestconfig)
    state.provider = info.provider
    state.components.update(info.components)
    lab_client = LabClient(info)
    try:
        yield lab_client
    finally:
        lab_client.close()
        if owner is not None:
            owner.stop()


@pytest.fixture
def certchaos_acme_issuer(certchaos_lab: LabClient, certchaos_namespace: str) -> Iterator[AcmeIssuer]:
    """An ACME Issuer on Pebble in the test's namespace, reaching Pebble through its own proxy and
    solving DNS-01 through its own fake-DNS zone and TSIG key (see harness.lab.issuers). Undo: deletes the
    proxy and the ACME fault layer's route; the Issuer goes with the namespace."""
    issuer = make_acme_issuer(certchaos_lab, certchaos_namespace)
    yield issuer
    issuer.close()


@pytest.fixture(scope="session")
def certchaos_ingress_controller(certchaos_lab: LabClient, pytestconfig: pytest.Config) -> ingress.IngressController:
    """The lab's ingress controller (Traefik, harness.workloads.ingress): installed once per cluster (a second
    session on the same lab finds it) and left there; it goes with the cluster."""
    return ingress.install(certchaos_lab.kube, bin_dir=pytestconfig.getoption("--certchaos-bin-dir", default=None))


@pytest.fixture
def certchaos_http01_issuer(certchaos_lab: LabClient, certchaos_namespace: str,
                            certchaos_ingress_controller: ingress.IngressController) -> Iterator[Http01Issuer]:
    """A ClusterIssuer on Pebble solving HTTP-01 through the ingress controller's class, through the test's own
    proxy, its zone's names (HTTP01_NAMES) pointing at the controller (see harness.lab.issuers). Undo: deletes
    the ClusterIssuer, its account Secret and the proxy."""
    controller = certchaos_ingress_controller
    issuer = make_http01_issuer(certchaos_lab, certchaos_namespace, controller.ingress_class, controller.address,
                                names=HTTP01_NAMES)
    yield issuer
    delete_http01_issuer(certchaos_lab, issuer)


@pytest.fixture
def certchaos_route53_issuer(certchaos_lab: LabClient, certchaos_namespace: str) -> Iterator[Route53Issuer]:
    """An ACME Issuer on Pebble whose DNS-01 solver is cert-manager's Route 53 one, with static keys of its own IAM
    user, its own hosted zone (served by the fake DNS) and its own proxy to Pebble (see harness.lab.issuers).
    Undo: deletes the proxy; the Issuer goes with the namespace, the IAM user and zone with the lab."""
    issuer = make_route53_issuer(certchaos_lab, certchaos_namespace)
    yield issuer
    issuer.proxy.delete()


@pytest.fixture
def certchaos_route53_role_issuer(certchaos_lab: LabClient, certchaos_namespace: str) -> Iterator[Route53Issuer]:
    """As certchaos_route53_issuer, but the policy is a role's that the user's keys may only assume (the Issuer's
    `role`: cert-manager's solver calls STS AssumeRole). Undo: deletes the proxy."""
    issuer = make_route53_issuer(certchaos_lab, certchaos_namespace, assume_role=True)
    yield issuer
    issuer.proxy.delete()


@pytest.fixture
def certchaos_isolated_webhook(certchaos_lab: LabClient, certchaos_namespace: str) -> Iterator[Proxy]:
    """The test's namespace gets its own registration of cert-manager's webhook (the chart's rules and
    failurePolicy Fail) through its own Toxiproxy proxy, which it yields: faulting that proxy breaks the
    webhook for this namespace only. Undo: deletes the registration and the proxy."""
    proxy = isolate_webhook(certchaos_lab, certchaos_namespace)
    yield proxy
    release_webhook(certchaos_lab, certchaos_namespace, proxy)


@pytest.fixture
def certchaos_ca_issuer(certchaos_kube: client.ApiClient, certchaos_namespace: str) -> dict:
    """A CA Issuer (bootstrapped by a self-signed one) in the test's namespace; its issuerRef."""
    return make_ca_issuer(certchaos_kube, certchaos_namespace)


@pytest.fixture
def certchaos_timeline(certchaos_scenario, certchaos_lab: LabClient, certchaos_namespace: str) -> Iterator[Timeline]:
    """Records the scenario's namespace (resource changes, Events), cert-manager metrics and its zone's
    DNS log into the scenario journal while the test runs, and registers the lifecycle invariants checked
    when the test has passed (harness.chaos.invariants); stops the observers afterwards."""
    scenario, lab, namespace = certchaos_scenario, certchaos_lab, certchaos_namespace
    scenario.add_end_check(LifecycleCheck(scenario, lab, namespace))  # before the observers: the log's offset
    observers = Timeline(scenario, lab, namespace).start()
    try:
        yield observers
    finally:
        observers.stop()
