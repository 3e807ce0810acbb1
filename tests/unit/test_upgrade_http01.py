"""The HTTP-01 witness of upgrade-check: what it needs to have seen for a renewal to count as gone the whole way
over HTTP-01 (each piece missing is named), its GET of the challenge path against a real loopback server, and
the CA view's answers read back from a real fake-DNS server."""

from __future__ import annotations

from pathlib import Path

import dns.message
import dns.query
import pytest

from fakes.dns import DnsServer
from fakes.dns.control import ControlServer
from harness.stack.dnscontrol import DnsControl
from harness.upgrade import report
from harness.upgrade.check import PHASES, UpgradeCheck, issued_over_http01, shim_certificates
from harness.upgrade.http01 import CA_VIEW, CHALLENGE_PATH, ChallengeSeen, Http01Witness, missing
from harness.upgrade.rewrite import LabTarget, check_something_left, rewrite
from harness.upgrade.setup import load
from harness.upgrade.versions import VersionBinaries
from loopback_http import Quiet, serving

NAME, ADDRESS = "store.shop.example.com", "172.18.0.2"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "upgrade-setup"
LOCAL = LabTarget("https://pebble/dir", None, "127.0.0.1:53", "c2VjcmV0")
KIND = LabTarget("https://pebble/dir", None, "127.0.0.1:53", "c2VjcmV0", "traefik", ADDRESS)
TOKEN, KEY = "tok3n", "tok3n.thumbprint"


def complete() -> ChallengeSeen:
    return ChallengeSeen("shop", "storefront-tls-2-1-0", NAME, TOKEN, ["pending", "valid"], {"cm-acme-http-solver-x"},
                         ingress_routes=True, key_served=True)


ANSWERS = {NAME: [f"{NAME}. 60 IN A {ADDRESS}"]}


def test_a_renewal_witnessed_the_whole_way_lacks_nothing_and_wildcards_are_not_asked():
    assert missing([NAME, "*.shop.example.com"], [complete()], ANSWERS, ADDRESS) == []


@pytest.mark.parametrize("change,gap", [
    (lambda c: c.pods_running.clear(), "a solver pod Running"),
    (lambda c: setattr(c, "ingress_routes", False), "a solver Ingress routing the token's path"),
    (lambda c: setattr(c, "key_served", False), "the key authorization served at the ingress controller"),
    (lambda c: c.states.remove("valid"), "the Challenge valid"),
])
def test_each_piece_of_evidence_missing_is_named(change, gap):
    seen = complete()
    change(seen)
    found = missing([NAME], [seen], ANSWERS, ADDRESS)
    assert len(found) == 1 and found[0].startswith(f"{NAME}: {gap}")


def test_no_challenge_or_a_ca_lookup_answered_elsewhere_is_named():
    assert missing([NAME], [], ANSWERS, ADDRESS) == [f"{NAME}: no HTTP-01 Challenge seen"]
    elsewhere = {NAME: [f"{NAME}. 60 IN A 172.18.0.9"]}
    assert missing([NAME], [complete()], elsewhere, ADDRESS) == [
        f"{NAME}: the CA's resolver answered with the controller's address {ADDRESS} not seen"]


@pytest.fixture
def solver_route():
    """A loopback HTTP server answering the challenge path for NAME with KEY, 503 otherwise (as the controller
    does before it routes the solver's Ingress)."""
    class Route(Quiet):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            ok = self.headers.get("Host") == NAME and self.path == f"{CHALLENGE_PATH}{TOKEN}"
            body = (KEY if ok else "no route").encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Route) as address:
        yield address


def test_the_route_counts_only_when_it_serves_the_key_authorization_for_the_name(solver_route):
    host, port = solver_route
    witness = Http01Witness(None, [], host, port)
    assert witness._get(NAME, TOKEN, KEY) == (True, "200 the key authorization")
    served, answer = witness._get("www.shop.example.com", TOKEN, KEY)
    assert not served and answer.startswith("503")
    assert witness._get(NAME, TOKEN, "another key")[0] is False


def test_the_cas_answers_are_those_its_view_gave_for_the_name_since_the_witness_started():
    with DnsServer(["shop.example.com."]) as server:
        api = ControlServer(server, "127.0.0.1").start()
        control = DnsControl(api.url)
        try:
            control.add_record(f"{NAME}.", "A", ADDRESS)
            witness = Http01Witness(None, [], ADDRESS, 80)
            host, port = server.address(CA_VIEW)
            dns.query.udp(dns.message.make_query(f"{NAME}.", "A"), host, port=port, timeout=5)
            witness.started_at = server.log.entries()[-1].time + 0.001  # that query came before the witness
            assert witness.ca_answers(control, [NAME]) == {}
            dns.query.udp(dns.message.make_query(f"{NAME}.", "A"), host, port=port, timeout=5)
            answers = witness.ca_answers(control, [NAME])
            assert len(answers[NAME]) == 1 and ADDRESS in answers[NAME][0]
            # The self-check's view (the cluster's resolver) is not the CA's.
            resolver = server.address("resolver")
            dns.query.udp(dns.message.make_query(f"{NAME}.", "A"), resolver[0], port=resolver[1], timeout=5)
            assert len(witness.ca_answers(control, [NAME])[NAME]) == 1
        finally:
            control.close()
            api.stop()


# --- the phase: which certificates, and not applicable with the reason -----------------------------------

def test_the_bundled_example_renews_ingress_shims_certificate_over_http01_and_the_rest_in_renewal():
    rewritten = rewrite(load(EXAMPLE), KIND)
    assert shim_certificates(rewritten) == ["shop/storefront-tls"]
    found = {"shop/storefront-tls": {"spec": {"issuerRef": {"name": "letsencrypt-http01", "kind": "ClusterIssuer"}}},
             "shop/www": {"spec": {"issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"}}},
             # A namespaced Issuer of the same name is another issuer.
             "shop/other": {"spec": {"issuerRef": {"name": "letsencrypt-http01"}}}}
    assert issued_over_http01(found, rewritten) == {"shop/storefront-tls"}
    assert rewritten.a_records == [(f"{NAME}.", ADDRESS)]


def test_the_http01_phase_on_local_is_not_applicable_with_the_reason_and_the_check_still_passes(tmp_path):
    local = rewrite(load(EXAMPLE), LOCAL)
    check = UpgradeCheck(VersionBinaries("v1.10.2", tmp_path, "pinned"), VersionBinaries("v1.11.5", None, "cache"),
                         EXAMPLE, tmp_path / "report", catalogue=False)
    check.facts["not_applicable"] = [vars(n) for n in local.not_applicable]
    for name in PHASES[:-2]:
        check.phases[name].verdict, check.phases[name].seconds = "passed", 1.0
    check._phase("http01", lambda: check._http01(None, None, local))
    phase = check.phases["http01"]
    assert phase.verdict == "not applicable" and phase.error is None
    assert "no nodes" in phase.reason and "ClusterIssuer letsencrypt-http01, Ingress shop/storefront" in phase.reason
    built = report.build(check)
    assert built["verdict"] == "passed"
    text = report.markdown(built)
    assert "Phase `http01` not applicable: HTTP-01 needs solver pods" in text
    assert "- Ingress shop/storefront (`40-storefront.yaml`): HTTP-01 needs solver pods" in text
    # A setup without HTTP-01 says so instead.
    plain = rewrite([o for o in load(EXAMPLE) if o.file != "40-storefront.yaml"], LOCAL)
    check._phase("http01", lambda: check._http01(None, None, plain))
    assert check.phases["http01"].reason == "the setup has no HTTP-01 issuer"


def test_a_setup_issued_only_over_http01_is_refused_on_local_before_anything_starts(tmp_path, capsys):
    from harness.cli.main import main

    only = tmp_path / "setup"
    only.mkdir()
    for name in ("00-namespace.yaml", "40-storefront.yaml"):
        (only / name).write_text((EXAMPLE / name).read_text())
    assert main(["upgrade-check", "--from", "v1.11.5", "--to", "v1.11.5", "--no-build", "--setup", str(only),
                 "--report-dir", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert "Ingress shop/storefront" in err and "issued over HTTP-01" in err and "--provider kind" in err
    assert not (tmp_path / "report").exists()
    check_something_left(load(EXAMPLE))  # the bundled example keeps its CA and DNS-01 certificates there


def test_the_report_shows_the_witnessed_challenges(tmp_path):
    check = UpgradeCheck(VersionBinaries("v1.10.2", tmp_path, "pinned"), VersionBinaries("v1.11.5", None, "cache"),
                         EXAMPLE, tmp_path / "report", catalogue=False)
    seen = complete()
    seen.last_answer = "200 the key authorization"
    check.phases["http01"].verdict = "passed"
    check.phases["http01"].detail = {"renewed": {}, "challenges": [seen.view()], "ca_lookups": ANSWERS,
                                     "solvers": "none left"}
    text = report.markdown(report.build(check))
    assert f"- Pebble's lookup of {NAME} (the fake DNS's CA view) answered: {NAME}. 60 IN A {ADDRESS}" in text
    assert (f"| shop/storefront-tls-2-1-0 | {NAME} | pending -> valid | cm-acme-http-solver-x | True | "
            f"200 the key authorization |") in text
