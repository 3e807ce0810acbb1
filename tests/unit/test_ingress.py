"""The kind lab's ingress controller as installed (Traefik's published RBAC and CRDs, our Deployment), the
annotated Ingress scenarios create, and the A-record fault against a real fake-DNS server: what the
resolver and CA views answer for the domain before, during and after."""

from __future__ import annotations

import dns.message
import dns.query
import pytest

from fakes.dns import DnsServer
from harness.chaos.ingress_faults import ARecordElsewhere, SolverIngressClassWrong
from harness.workloads import ingress
from loopback_http import Quiet, serving

ZONE = "ns-1.certchaos.test."
NAME = f"web.{ZONE}"
NODE, ELSEWHERE = "172.18.0.2", "172.18.0.9"


def test_traefiks_published_rbac_binds_its_service_account_in_our_namespace():
    role, binding = ingress.rbac("somewhere")
    assert (role["kind"], binding["kind"]) == ("ClusterRole", "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": ingress.NAME, "namespace": "somewhere"}]
    rules = {resource for rule in role["rules"] for resource in rule["resources"]}
    assert {"ingresses", "ingressclasses", "secrets", "endpointslices", "middlewares"} <= rules


def test_traefiks_published_crds_include_its_middlewares():
    names = {crd["metadata"]["name"] for crd in ingress.published("kubernetes-crd-definition-v1.yml")}
    assert "middlewares.traefik.io" in names


def test_the_controller_maps_its_entrypoints_on_the_node_and_serves_its_ingress_class():
    account, deployment, ingress_class = ingress.manifests("example/traefik:v0")
    assert account["metadata"]["name"] == deployment["spec"]["template"]["spec"]["serviceAccountName"] == ingress.NAME
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {(p["name"], p.get("hostPort")) for p in container["ports"]} == {
        ("web", 80), ("websecure", 443), ("ping", None)}
    assert container["image"] == "example/traefik:v0" and container["imagePullPolicy"] == "Never"
    assert "--providers.kubernetesingress=true" in container["args"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # one pod holds the node's ports
    assert ingress_class["spec"]["controller"] == ingress.CONTROLLER and ingress_class["metadata"]["name"] == ingress.CLASS


def test_an_annotated_ingress_names_its_cluster_issuer_and_every_host_in_tls_and_rules():
    made = ingress.annotated_ingress("web", "http01-ns", ["a.example", "b.example"], "web-tls")
    assert made["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "http01-ns"}
    assert made["spec"]["tls"] == [{"hosts": ["a.example", "b.example"], "secretName": "web-tls"}]
    assert [rule["host"] for rule in made["spec"]["rules"]] == ["a.example", "b.example"]
    assert made["spec"]["ingressClassName"] == ingress.CLASS


@pytest.fixture
def control(dns_control):
    with DnsServer([ZONE]) as server:
        yield server, dns_control(server)


def a_records(server: DnsServer) -> list[str]:
    """What the authoritative listener answers for the domain's A query, over the wire."""
    host, port = server.authoritative
    answer = dns.query.udp(dns.message.make_query(NAME, "A"), host, port=port, timeout=5)
    return sorted(item.address for rrset in answer.answer for item in rrset)


def test_an_a_record_elsewhere_is_what_every_view_answers_until_it_is_reverted(control):
    server, client = control
    client.add_record(NAME, "A", NODE)
    fault = ARecordElsewhere(client, NAME, NODE, ELSEWHERE)
    fault.apply()
    assert a_records(server) == [ELSEWHERE]
    assert [r["data"] for r in client.records(NAME, "A", view="ca_resolver")] == [ELSEWHERE]
    fault.revert()
    assert a_records(server) == [NODE]
    assert [r["data"] for r in client.records(NAME, "A", view="ca_resolver")] == [NODE]
    assert repr(fault) == f"ARecordElsewhere(name={NAME!r}, address={NODE!r}, elsewhere={ELSEWHERE!r})"


class FakeIssuers:
    """The ClusterIssuer API of one object (get, patch by merge), for the solver fault."""

    def __init__(self, solvers):
        self.obj = {"spec": {"acme": {"solvers": solvers}}}

    def get_cluster_custom_object(self, group, version, plural, name):
        return self.obj

    def patch_cluster_custom_object(self, group, version, plural, name, body):
        self.obj["spec"]["acme"]["solvers"] = body["spec"]["acme"]["solvers"]


def test_a_wrong_solver_class_is_set_on_every_http01_solver_and_the_original_comes_back(monkeypatch):
    dns01 = {"dns01": {"rfc2136": {"nameserver": "10.0.0.1:53"}}}
    issuers = FakeIssuers([{"http01": {"ingress": {"class": "traefik", "serviceType": "ClusterIP"}}}, dns01])
    monkeypatch.setattr("harness.chaos.ingress_faults._issuers", lambda api: issuers)
    fault = SolverIngressClassWrong(api=None, issuer="http01-ns", ingress_class="nginx")
    fault.apply()
    assert issuers.obj["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"class": "nginx",
                                                                               "serviceType": "ClusterIP"}}}, dns01]
    fault.revert()
    assert issuers.obj["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"class": "traefik",
                                                                               "serviceType": "ClusterIP"}}}, dns01]
    assert repr(fault) == "SolverIngressClassWrong(issuer='http01-ns', ingress_class='nginx')"


@pytest.fixture
def redirecting():
    """A loopback HTTP server that redirects every GET to https on the Host it was asked for."""
    class Redirect(Quiet):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            self.send_response(308)
            self.send_header("Location", f"https://{self.headers['Host']}{self.path}")
            self.end_headers()

    with serving(Redirect) as address:
        yield address


def test_the_challenge_path_is_seen_redirected_to_https_with_the_host_asked_for(redirecting):
    from harness.observe.conditions.http01 import challenge_path_redirected

    seen = challenge_path_redirected(*redirecting, "web.example")()
    assert seen.ok and seen.state["status"] == 308
    assert seen.state["location"] == "https://web.example/.well-known/acme-challenge/certchaos-probe"
