"""Solver selection: an ACME Issuer with several DNS-01 solvers, each with credentials for part of the zone (as
teams split DNS rights by subdomain), and one Certificate whose names need three of them.

Spec (cert-manager v1.11.5, pkg/controller/acmeorders/util.go, selectors/): for each name, among the solvers
whose selector matches it, a dnsNames match beats any other; then the dnsZones match with the most labels;
a solver without a selector serves only a name no selector matches. The solvers' order in the Issuer does not
decide (here neither the first nor the last match is the right one for every name).
Evidence: the fake DNS's update log (which TSIG key wrote and removed each name's TXT record, and what each
key's policy refused), the Certificate's status.
"""

from __future__ import annotations

from harness.scenario_api import (
    ISSUANCE, certificate, certificate_done_issuing, create_acme_issuer, create_certificate, rfc2136_solver,
)


def test_each_name_is_solved_with_the_credentials_its_solver_selectors_choose(
        scenario, lab, kube, namespace, acme_issuer):
    zone = acme_issuer.zone.rstrip(".")
    web, api, special = f"web.{zone}", f"api.sub.{zone}", f"special.sub.{zone}"
    # (key, selector, the name its policy lets it write), in the Issuer's order: the catch-all's key may write
    # none of the names, so a name given to the wrong solver is refused as well as seen in the log.
    solvers = [("sub", {"dnsZones": [f"sub.{zone}"]}, api),
               ("any", None, f"nothing.{zone}"),
               ("name", {"dnsNames": [special]}, special),
               ("zone", {"dnsZones": [zone]}, web)]
    specs = []
    for label, selector, writes in solvers:
        solver, _ = rfc2136_solver(lab, namespace, f"{namespace}-{label}", [f"_acme-challenge.{writes}"],
                                   f"tsig-{label}", selector)
        specs.append(solver)
    create_acme_issuer(lab, namespace, "selective", acme_issuer.directory, specs)
    expected = {web: f"{namespace}-zone", api: f"{namespace}-sub", special: f"{namespace}-name"}
    scenario.note("solvers, in the Issuer's order", solvers=[(label, selector) for label, selector, _ in solvers],
                  expected_keys=expected)

    name = "multi"
    create_certificate(kube, namespace, certificate(name, {"name": "selective", "kind": "Issuer"}, [web, api, special]))
    scenario.expect(certificate_done_issuing(kube, namespace, name), subject=f"Certificate {namespace}/{name}",
                    expected="issued for its three names", within=ISSUANCE + 30)
    writers = {dns_name: sorted({(entry["key"], entry["rcode"])
                                 for entry in lab.dns.log(kind="update", name=f"_acme-challenge.{dns_name}")})
               for dns_name in expected}
    scenario.note("keys that wrote each name's record", writers=writers)
    # Catches a first-match or last-match selection, a dnsNames match not preferred to a zone's, a shorter zone
    # preferred to a longer one, a catch-all that wins over a selector: each writes a name with another key.
    wrong = {dns_name: found for dns_name, found in writers.items() if found != [(expected[dns_name], "NOERROR")]}
    assert not wrong, (f"each name's record should be written only with its solver's key ({expected}), "
                       f"but the DNS saw {wrong}")
