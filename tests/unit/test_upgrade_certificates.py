"""What the upgrade must keep: `differences` between two snapshots finds every change an upgrade alone must not
make (a Certificate gone, re-issued or its spec rewritten, e.g. the one ingress-shim made for an Ingress; an
issuer gone, not Ready or its spec changed, e.g. an HTTP-01 issuer that lost its solver) and lets a renewal
that was due happen."""

from __future__ import annotations

import copy

from hypothesis import given, strategies as st

from harness.upgrade import certificates
from harness.upgrade.certificates import all_ready, changed_fields, differences

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
LATER, EARLIER = "2027-02-01T00:00:00Z", "2027-01-15T07:00:00Z"


def crt(serial="0a", revision=1, renewal=LATER, hosts=("store.shop.example.com",), issuer="letsencrypt-http01"):
    return {"namespace": "shop", "name": "storefront-tls", "ready": "True", "revision": revision, "serial": serial,
            "key_sha256": "k" + serial, "renewal_time": renewal,
            "spec": {"secretName": "storefront-tls", "dnsNames": list(hosts),
                     "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"}}}


HTTP01_ISSUER = {"ready": "True", "spec": {"acme": {"server": "https://pebble/dir",
                                                   "privateKeySecretRef": {"name": "letsencrypt-http01-account"},
                                                   "solvers": [{"http01": {"ingress": {"class": "traefik"}}}]}}}


def snapshot(**certificates) -> dict:
    return {"certificates": {f"shop/{name}": facts for name, facts in certificates.items()},
            "requests": ["shop/storefront-tls-1"], "request_owners": {"shop/storefront-tls-1": "shop/storefront-tls"},
            "issuers": {"ClusterIssuer letsencrypt-http01": copy.deepcopy(HTTP01_ISSUER)}}


BEFORE = snapshot(**{"storefront-tls": crt()})


def test_nothing_changed_is_no_difference():
    assert differences(BEFORE, copy.deepcopy(BEFORE), now=NOW) == []


def test_a_ready_certificate_still_issuing_is_not_settled(monkeypatch):
    """Measured under load: Ready=True and the Secret written, Issuing still True and no revision yet: a snapshot then
    would see `revision None -> 1` as a change the upgrade made. An adopted Secret (no revision, not issuing) is."""
    issuing = {**crt(revision=None), "issuing": "True"}
    states = iter([snapshot(**{"storefront-tls": issuing}), snapshot(**{"storefront-tls": crt(revision=None)})])
    monkeypatch.setattr(certificates, "snapshot", lambda api, namespaces: next(states))
    ready = all_ready(None, ["shop"])
    first = ready()
    assert not first.ok and first.state["not ready"] == {"shop/storefront-tls": {"ready": "True", "issuing": "True"}}
    assert ready().ok


def test_the_ingress_shim_certificate_deleted_across_the_upgrade_is_a_difference():
    after = copy.deepcopy(BEFORE)
    del after["certificates"]["shop/storefront-tls"]
    assert differences(BEFORE, after, now=NOW) == ["Certificate shop/storefront-tls: gone"]


def test_the_ingress_shim_certificate_rewritten_by_b_is_a_difference_naming_the_field():
    after = snapshot(**{"storefront-tls": crt(hosts=("store.shop.example.com", "shop.example.com"))})
    assert differences(BEFORE, after, now=NOW) == ["Certificate shop/storefront-tls: spec changed at dnsNames"]


def test_an_http01_issuer_that_lost_its_solver_or_readiness_is_a_difference():
    after = copy.deepcopy(BEFORE)
    after["issuers"]["ClusterIssuer letsencrypt-http01"]["spec"]["acme"]["solvers"] = []
    after["issuers"]["ClusterIssuer letsencrypt-http01"]["ready"] = "False"
    assert differences(BEFORE, after, now=NOW) == [
        "ClusterIssuer letsencrypt-http01: spec changed at acme.solvers",
        "ClusterIssuer letsencrypt-http01: Ready True -> False"]
    after["issuers"]["ClusterIssuer letsencrypt-http01"] = None
    assert differences(BEFORE, after, now=NOW) == ["ClusterIssuer letsencrypt-http01: gone"]


def test_a_new_serial_is_a_re_issue_unless_the_renewal_was_due():
    renewed = snapshot(**{"storefront-tls": crt(serial="0b", revision=2)})
    renewed["requests"].append("shop/storefront-tls-2")
    renewed["request_owners"]["shop/storefront-tls-2"] = "shop/storefront-tls"
    assert differences(BEFORE, renewed, now=NOW) == [
        "Certificate shop/storefront-tls: revision 1 -> 2", "Certificate shop/storefront-tls: serial 0a -> 0b",
        "Certificate shop/storefront-tls: key_sha256 k0a -> k0b",
        "CertificateRequest shop/storefront-tls-2: new (an issuance)"]
    due = snapshot(**{"storefront-tls": crt(renewal=EARLIER)})
    assert differences(due, renewed, now=NOW) == []
    # Due or not, it must stay Ready, keep its spec, and no other certificate may re-issue.
    renewed["certificates"]["shop/storefront-tls"]["ready"] = "False"
    renewed["requests"].append("shop/www-2")
    renewed["request_owners"]["shop/www-2"] = "shop/www"
    assert differences(due, renewed, now=NOW) == ["Certificate shop/storefront-tls: ready True -> False",
                                                 "CertificateRequest shop/www-2: new (an issuance)"]


# --- any single change an upgrade must not make is found ----------------------------------------------

SCALARS = st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.none())
SPECS = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                     max_leaves=8)
FIELDS = ("revision", "serial", "key_sha256", "ready")


@given(SPECS, SPECS)
def test_changed_fields_is_empty_exactly_when_the_specs_are_equal(old, new):
    assert (changed_fields(old, new) == []) == (old == new)


@given(st.dictionaries(st.text(min_size=1, max_size=4), SPECS, min_size=1, max_size=4), st.data())
def test_every_change_of_a_kept_field_or_spec_is_reported_unless_due(spec, data):
    before = snapshot(**{"storefront-tls": {**crt(renewal=data.draw(st.sampled_from([LATER, EARLIER]))),
                                            "spec": spec}})
    after = copy.deepcopy(before)
    facts = after["certificates"]["shop/storefront-tls"]
    changed = data.draw(st.sampled_from(("spec", *FIELDS)))
    if changed == "spec":
        key = data.draw(st.sampled_from(sorted(spec)))
        facts["spec"][key] = ["changed", facts["spec"][key]]
    else:
        facts[changed] = f"{facts[changed]}-changed"
    found = differences(before, after, now=NOW)
    renewal_allowed = before["certificates"]["shop/storefront-tls"]["renewal_time"] == EARLIER
    if changed in ("revision", "serial", "key_sha256") and renewal_allowed:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith("Certificate shop/storefront-tls: " +
                                                       ("spec changed at " if changed == "spec" else changed))
