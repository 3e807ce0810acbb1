"""One ClusterIssuer for every team's namespace, as platforms run cert-manager: its ACME account key and its
DNS-01 credentials live in cert-manager's own namespace, the cluster resource namespace. The classic misstep, the
solver's Secret put in the workload's namespace beside its Certificate, leaves the ClusterIssuer unable to solve
anything: the Challenge names the Secret it cannot find and presents no record, until the Secret is where
cert-manager reads it.

Spec (cert-manager v1.11.5): the challenges controller resolves a Challenge's ClusterIssuer through its lister
(pkg/controller/acmechallenges/controller.go registers it when the controller is not namespaced), and
pkg/issuer/acme/dns/dns.go reads the solver's Secrets from the issuer's resource namespace, for a ClusterIssuer
--cluster-resource-namespace (never the Certificate's namespace). A Present that fails sets the Challenge's reason
and is retried with backoff, presenting nothing. Once the Secret is in the cluster resource namespace, the next
attempt presents the record and the Certificate issues.
Evidence: the Challenge's reason and presented flag; the Certificate's status; the Secret's chain to Pebble's roots.
"""

from __future__ import annotations

import pytest

from harness.scenario_api import (
    ISSUANCE, NAMESPACE, SECRET, SecretMisplaced, certificate, certificate_done_issuing, challenge_presented,
    challenge_reason_contains, create_acme_issuer, create_certificate, delete_cluster_issuer, dns01_zone, get,
    holds_throughout, inspect_secret,
)

# A failed Present is retried after the challenges queue's backoff: 5 s, doubling; the Secret arrives after a few.
RETRIED_WITHIN = 60
QUIET = 20  # seconds with the Secret misplaced during which no record may be presented


@pytest.fixture
def cluster_issuer(lab, namespace):
    """An ACME ClusterIssuer through the scenario's own proxy, solving DNS-01 in the scenario's zone with a TSIG
    key whose Secret is in cert-manager's namespace; undone: the ClusterIssuer and its Secrets there, the proxy
    and the ACME layer's route."""
    name = f"platform-{namespace}"[:63]
    zone, solver, _ = dns01_zone(lab, namespace, NAMESPACE, f"{name}-tsig")
    route = lab.acme_layer.add_route(f"acme-{namespace}", lab.info.pebble_listen) if lab.acme_layer else None
    proxy = lab.proxy_to(f"acme-{namespace}", route.listen if route else lab.info.pebble_listen)
    try:
        create_acme_issuer(lab, None, name, f"https://{proxy.listen[0]}:{proxy.listen[1]}/dir", [solver])
        yield {"name": name, "zone": zone.rstrip("."), "tsig": f"{name}-tsig"}
    finally:
        delete_cluster_issuer(lab, name, secrets=(f"{name}-tsig",))
        proxy.delete()
        if route is not None:
            route.delete()


def test_a_cluster_issuer_reads_its_solver_secret_from_the_cluster_resource_namespace_only(
        scenario, lab, kube, namespace, cluster_issuer):
    name, subject, tsig = "web", f"Certificate {namespace}/web", cluster_issuer["tsig"]
    with scenario.fault(SecretMisplaced(kube, tsig, where=NAMESPACE, instead=namespace)):
        create_certificate(kube, namespace, certificate(
            name, {"name": cluster_issuer["name"], "kind": "ClusterIssuer"}, [f"{name}.{cluster_issuer['zone']}"]))
        # Catches a ClusterIssuer that reads the Secret from the Certificate's namespace (it would present and
        # issue at once) and a challenges controller that cannot resolve ClusterIssuers (no such reason).
        scenario.expect(challenge_reason_contains(kube, namespace, name, f'"{tsig}" not found'),
                        subject=f"Challenge of {subject}", expected=f"the Secret looked for in {NAMESPACE}, not found",
                        within=ISSUANCE, detects=True)
        scenario.expect(holds_throughout(challenge_presented(kube, namespace, name, presented=False), QUIET),
                        subject=f"Challenge of {subject}", expected=f"no record presented for {QUIET} s",
                        within=QUIET + 15)
    scenario.expect(certificate_done_issuing(kube, namespace, name), subject=subject,
                    expected=f"issued once the Secret is back in {NAMESPACE}", within=RETRIED_WITHIN + ISSUANCE,
                    recovers=True)
    found = inspect_secret(get(kube, SECRET, namespace, name), root=lab.pebble.roots().encode())
    assert found.verified and found.key_matches, (
        f"the Secret should hold Pebble's certificate for its key: {found.summary()} ({found.verify_error})")
