"""The catalogue's opt-in place: its scenarios ask for certchaos's fixtures by short names, and every one
records its timeline.

The plugin's fixtures are all prefixed `certchaos_` so that, installed, it shadows nothing in other projects;
here, where certchaos is asked for (the repository's pytest config sets `certchaos = true`; `certchaos run`
passes `-p certchaos`), the short names read as the story. Copy this file beside scenarios of your own.
"""

import pytest


@pytest.fixture
def scenario(certchaos_scenario):
    """The scenario run (certchaos_scenario): steady_state, fault, expect, note; its journal and verdict."""
    return certchaos_scenario


@pytest.fixture(scope="session")
def lab(certchaos_lab):
    """The scenario lab's client (certchaos_lab): stack, fake DNS, Pebble, Toxiproxy."""
    return certchaos_lab


@pytest.fixture(scope="session")
def kube(certchaos_kube):
    """The lab's Kubernetes client (certchaos_kube)."""
    return certchaos_kube


@pytest.fixture
def namespace(certchaos_namespace):
    """The test's own namespace (certchaos_namespace)."""
    return certchaos_namespace


@pytest.fixture
def acme_issuer(certchaos_acme_issuer):
    """An ACME Issuer on Pebble with its own zone, TSIG key and proxy (certchaos_acme_issuer)."""
    return certchaos_acme_issuer


@pytest.fixture(scope="session")
def ingress_controller(certchaos_ingress_controller):
    """The kind lab's ingress controller, Traefik (certchaos_ingress_controller): its class and address."""
    return certchaos_ingress_controller


@pytest.fixture
def http01_issuer(certchaos_http01_issuer):
    """A ClusterIssuer on Pebble solving HTTP-01 through the ingress controller (certchaos_http01_issuer)."""
    return certchaos_http01_issuer


@pytest.fixture
def route53_issuer(certchaos_route53_issuer):
    """An ACME Issuer on Pebble solving DNS-01 with cert-manager's Route 53 solver, static keys of its own IAM user
    and its own hosted zone (certchaos_route53_issuer)."""
    return certchaos_route53_issuer


@pytest.fixture
def route53_role_issuer(certchaos_route53_role_issuer):
    """As route53_issuer, but the solver assumes a role holding the policy (certchaos_route53_role_issuer)."""
    return certchaos_route53_role_issuer


@pytest.fixture
def ca_issuer(certchaos_ca_issuer):
    """A CA Issuer's issuerRef in the test's namespace (certchaos_ca_issuer)."""
    return certchaos_ca_issuer


@pytest.fixture
def isolated_webhook(certchaos_isolated_webhook):
    """The namespace's own webhook registration through its own proxy (certchaos_isolated_webhook)."""
    return certchaos_isolated_webhook


@pytest.fixture(autouse=True)
def timeline(certchaos_timeline):
    """Every scenario's journal records its namespace, metrics and DNS zone as they change (certchaos_timeline)."""
    return certchaos_timeline
