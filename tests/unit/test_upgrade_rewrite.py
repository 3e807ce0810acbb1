"""The setup rewrite: only what must point at the lab changes, every change is listed, a second pass changes
nothing, and what the lab cannot stand in for is refused with the object and field named."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

from harness.upgrade.rewrite import (DNS01_PROVIDERS, AwsIdentity, AwsTarget, LabTarget, Route53Need, rewrite,
                                     route53_needs, serving_zone, tsig_key_name, zone_of)
from harness.upgrade.setup import InvalidSetup, SetupObject

TARGET = LabTarget(acme_server="https://127.0.0.1:4431/dir", ca_bundle="TEFCLUNB", nameserver="127.0.0.1:5353",
                   tsig_secret="c2VjcmV0")
PROVIDER_CONFIG = {
    "cloudflare": {"email": "ops@example.com", "apiTokenSecretRef": {"name": "cf", "key": "token"}},
    "route53": {"region": "eu-west-1", "secretAccessKeySecretRef": {"name": "aws", "key": "secret"}},
    "clouddns": {"project": "p", "serviceAccountSecretRef": {"name": "gcp", "key": "key.json"}},
    "azureDNS": {"subscriptionID": "s", "resourceGroupName": "g", "hostedZoneName": "example.com"},
    "digitalocean": {"tokenSecretRef": {"name": "do", "key": "token"}},
    "akamai": {"serviceConsumerDomain": "d", "clientTokenSecretRef": {"name": "ak", "key": "t"}},
    "acmeDNS": {"host": "https://auth.example.com", "accountSecretRef": {"name": "acmedns", "key": "a.json"}},
    "webhook": {"groupName": "acme.example.com", "solverName": "mydns", "config": {"x": 1}},
    "rfc2136": {"nameserver": "10.0.0.53:53", "tsigKeyName": "ours", "tsigSecretSecretRef": {"name": "t", "key": "k"}},
}
assert set(PROVIDER_CONFIG) == set(DNS01_PROVIDERS)


def issuer(kind="ClusterIssuer", name="le", solvers=None, **acme) -> SetupObject:
    metadata = {"name": name} if kind == "ClusterIssuer" else {"name": name, "namespace": "shop"}
    body = {"apiVersion": "cert-manager.io/v1", "kind": kind, "metadata": metadata,
            "spec": {"acme": {"server": "https://acme-v02.api.letsencrypt.org/directory", "email": "ops@example.com",
                              "privateKeySecretRef": {"name": f"{name}-account"},
                              "solvers": solvers if solvers is not None else
                              [{"dns01": {"cloudflare": PROVIDER_CONFIG["cloudflare"]}}], **acme}}}
    return SetupObject(f"{name}.yaml", 0, body)


def certificate(name, dns_names, issuer_name="le", kind="ClusterIssuer") -> SetupObject:
    return SetupObject("certs.yaml", 0, {
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name, "namespace": "shop"},
        "spec": {"secretName": f"{name}-tls", "dnsNames": dns_names, "issuerRef": {"name": issuer_name, "kind": kind}}})


def test_acme_server_ca_bundle_and_a_cloudflare_solver_point_at_the_lab():
    result = rewrite([issuer(), certificate("www", ["www.example.com"])], TARGET)
    acme = result.objects[0].body["spec"]["acme"]
    assert acme["server"] == TARGET.acme_server and acme["caBundle"] == TARGET.ca_bundle
    assert acme["solvers"][0]["dns01"] == {"rfc2136": {
        "nameserver": TARGET.nameserver, "tsigKeyName": "certchaos-cluster-le", "tsigAlgorithm": "HMACSHA256",
        "tsigSecretSecretRef": {"name": "certchaos-tsig-le", "key": "secret"}}}
    assert [(r.field, r.old) for r in result.rewrites] == [
        ("spec.acme.server", "https://acme-v02.api.letsencrypt.org/directory"), ("spec.acme.caBundle", "(none)"),
        ("spec.acme.solvers[0].dns01.cloudflare", "cloudflare")]
    assert [c.what for c in result.credentials] == ["cloudflare: apiTokenSecretRef: Secret cf, key token"]
    assert result.zones == ["example.com."]
    assert result.secrets == [{"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": "certchaos-tsig-le", "namespace": "cert-manager"},
                               "stringData": {"secret": TARGET.tsig_secret}}]


def test_a_namespaced_issuer_keeps_its_key_secret_in_its_namespace_and_selector_zones_win():
    solvers = [{"selector": {"dnsZones": ["Shop.Example.org"]}, "dns01": {"route53": PROVIDER_CONFIG["route53"]}}]
    result = rewrite([issuer("Issuer", "pub", solvers), certificate("a", ["a.shop.example.org"], "pub", "Issuer")],
                     TARGET)
    assert result.keys[0].namespace == "shop" and result.keys[0].zones == ("shop.example.org.",)
    assert result.keys[0].name == tsig_key_name(result.objects[0]) == "certchaos-shop-pub"


KIND = LabTarget(**{**vars(TARGET), "ingress_class": "traefik", "ingress_address": "172.18.0.2"})


def ingress(name, hosts, issuer_name="web", annotation="cert-manager.io/cluster-issuer") -> SetupObject:
    return SetupObject("ingress.yaml", 0, {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": "shop", "annotations": {annotation: issuer_name}},
        "spec": {"ingressClassName": "nginx", "tls": [{"hosts": hosts, "secretName": f"{name}-tls"}]}})


def http01_setup():
    return [issuer(name="web", solvers=[{"http01": {"ingress": {"class": "nginx"}}}]),
            issuer(name="dns", solvers=[{"selector": {"dnsZones": ["shop.example.com"]},
                                         "dns01": {"cloudflare": PROVIDER_CONFIG["cloudflare"]}}]),
            certificate("api", ["api.example.org"], "web"), certificate("www", ["www.shop.example.com"], "dns"),
            ingress("store", ["store.shop.example.com", "*.shop.example.com"])]


def test_http01_on_kind_points_the_solver_class_at_the_lab_and_its_names_at_the_controller():
    result = rewrite(http01_setup(), KIND)
    web = result.objects[0].body["spec"]["acme"]
    assert web["solvers"] == [{"http01": {"ingress": {"class": "traefik"}}}]
    assert ("ClusterIssuer web", "spec.acme.solvers[0].http01.ingress.class", "class nginx") in {
        (r.object, r.field, r.old) for r in result.rewrites}
    # Only what must point at the lab: the user's Ingress keeps its class (the solver's own Ingress is served).
    assert result.objects[-1].body == http01_setup()[-1].body
    # Each HTTP-01 name in the most specific zone the lab serves (the DNS-01 issuer's), none for a wildcard.
    assert result.a_records == [("api.example.org.", "172.18.0.2"), ("store.shop.example.com.", "172.18.0.2")]
    assert result.zones == ["example.org.", "shop.example.com."]
    assert result.http01_issuers == [("ClusterIssuer", None, "web")] and result.not_applicable == []
    again = rewrite(result.objects, KIND)
    assert [o.body for o in again.objects] == [o.body for o in result.objects] and again.rewrites == []


def test_http01_on_local_leaves_out_its_issuers_certificates_and_ingresses_as_not_applicable():
    result = rewrite(http01_setup(), TARGET)
    assert [o.ref for o in result.objects] == ["ClusterIssuer dns", "Certificate shop/www"]
    assert [(n.object, n.file) for n in result.not_applicable] == [
        ("ClusterIssuer web", "web.yaml"), ("Certificate shop/api", "certs.yaml"),
        ("Ingress shop/store", "ingress.yaml")]
    assert all("no nodes" in n.reason and "--provider kind" in n.reason for n in result.not_applicable)
    assert result.a_records == [] and result.http01_issuers == [] and result.zones == ["shop.example.com."]


@pytest.mark.parametrize("solver,field", [({"ingress": {"name": "shop-ingress"}}, "http01.ingress.name"),
                                          ({"gatewayHTTPRoute": {}}, "http01.gatewayHTTPRoute")])
def test_http01_solvers_the_lab_cannot_serve_are_refused_with_the_field_named(solver, field):
    with pytest.raises(InvalidSetup) as error:
        rewrite([issuer(solvers=[{"http01": solver}])], KIND)
    assert f"ClusterIssuer le: spec.acme.solvers[0].{field}" in str(error.value)


def test_a_solver_without_class_or_with_ingress_class_name_gets_the_lab_class_in_its_own_field():
    result = rewrite([issuer(name="a", solvers=[{"http01": {"ingress": {}}}]),
                      issuer(name="b", solvers=[{"http01": {"ingress": {"ingressClassName": "nginx"}}}])], KIND)
    assert result.objects[0].body["spec"]["acme"]["solvers"][0]["http01"]["ingress"] == {"class": "traefik"}
    assert result.objects[1].body["spec"]["acme"]["solvers"][0]["http01"]["ingress"] == {"ingressClassName": "traefik"}


@pytest.mark.parametrize("name,zones,zone", [("a.shop.example.com", ["example.com.", "shop.example.com."],
                                              "shop.example.com."),
                                             ("shop.example.com.", ["shop.example.com."], "shop.example.com."),
                                             ("x.other.org", ["example.com."], "other.org."),
                                             ("notshop.example.com", ["shop.example.com."], "example.com.")])
def test_serving_zone(name, zones, zone):
    assert serving_zone(name, zones) == zone


def test_vault_and_external_issuers_are_refused():
    vault = SetupObject("v.yaml", 0, {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                                      "metadata": {"name": "vault"}, "spec": {"vault": {"server": "https://v"}}})
    external = certificate("x", ["x.example.com"])
    external.body["spec"]["issuerRef"]["group"] = "awspca.cert-manager.io"
    with pytest.raises(InvalidSetup) as error:
        rewrite([vault, external], TARGET)
    assert "ClusterIssuer vault: spec.vault:" in str(error.value)
    assert "Certificate shop/x: spec.issuerRef.group: external issuer" in str(error.value)


def test_an_external_account_binding_is_dropped_and_reported_as_a_credential():
    result = rewrite([issuer(externalAccountBinding={"keyID": "kid", "keySecretRef": {"name": "eab", "key": "k"}})],
                     TARGET)
    assert "externalAccountBinding" not in result.objects[0].body["spec"]["acme"]
    assert any(c.field == "spec.acme.externalAccountBinding" and "Secret eab" in c.what for c in result.credentials)


@pytest.mark.parametrize("name,zone", [("www.example.com", "example.com."), ("*.shop.Example.com", "example.com."),
                                       ("example.com", "example.com."), ("a.b.c.example.co.", "example.co.")])
def test_zone_of(name, zone):
    assert zone_of(name) == zone


# --- properties over many setups ---------------------------------------------------------------------

LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
DNS_NAME = st.builds(lambda labels, wildcard: ("*." if wildcard else "") + ".".join(labels),
                     st.lists(LABEL, min_size=2, max_size=4), st.booleans())
SOLVER = st.builds(lambda provider, zones, extra: {
    **({"selector": {"dnsZones": zones}} if zones else {}),
    "dns01": {provider: copy.deepcopy(PROVIDER_CONFIG[provider]), **({"cnameStrategy": "Follow"} if extra else {})}},
    st.sampled_from(DNS01_PROVIDERS), st.lists(st.builds(".".join, st.lists(LABEL, min_size=2, max_size=3)),
                                               max_size=2), st.booleans())
ISSUER = st.builds(lambda kind, name, solvers, email, skip: issuer(
    kind, name, solvers, **({"skipTLSVerify": False} if skip else {}), **({"email": email} if email else {})),
    st.sampled_from(["Issuer", "ClusterIssuer"]), LABEL, st.lists(SOLVER, min_size=1, max_size=3),
    st.one_of(st.none(), st.emails()), st.booleans())
SETUP = st.builds(lambda issuers, names: [*issuers, *[certificate(f"c{i}", names, o.name, o.kind)
                                                      for i, o in enumerate(issuers)]],
                  st.lists(ISSUER, min_size=1, max_size=3, unique_by=lambda o: (o.kind, o.name)),
                  st.lists(DNS_NAME, min_size=1, max_size=3))
LAB_FIELDS = ("server", "caBundle", "solvers")


def without_lab_fields(obj: SetupObject) -> dict:
    body = copy.deepcopy(obj.body)
    acme = (body.get("spec") or {}).get("acme")
    if acme:
        for name in LAB_FIELDS:
            acme.pop(name, None)
    return body


def solver_shape(solver: dict) -> dict:
    """A solver without its DNS provider's config: selector and cnameStrategy must survive."""
    return {**solver, "dns01": {k: v for k, v in solver["dns01"].items() if k not in DNS01_PROVIDERS}}


@settings(max_examples=40, deadline=None)
@given(objects=SETUP)
def test_rewriting_a_rewritten_setup_changes_nothing(objects):
    once = rewrite(objects, TARGET)
    twice = rewrite(once.objects, TARGET)
    assert twice.rewrites == [] and twice.credentials == []
    assert [o.body for o in twice.objects] == [o.body for o in once.objects]
    assert twice.keys == once.keys and twice.zones == once.zones


@settings(max_examples=40, deadline=None)
@given(objects=SETUP)
def test_fields_that_need_not_point_at_the_lab_are_untouched(objects):
    before = copy.deepcopy([o.body for o in objects])
    result = rewrite(objects, TARGET)
    assert [o.body for o in objects] == before  # the input is not modified
    for old, new in zip(objects, result.objects):
        assert without_lab_fields(old) == without_lab_fields(new)
        if old.kind in ("Issuer", "ClusterIssuer"):
            old_solvers, new_solvers = old.body["spec"]["acme"]["solvers"], new.body["spec"]["acme"]["solvers"]
            assert [solver_shape(s) for s in old_solvers] == [solver_shape(s) for s in new_solvers]
            assert all(set(s["dns01"]) & set(DNS01_PROVIDERS) == {"rfc2136"} for s in new_solvers)


@settings(max_examples=40, deadline=None)
@given(objects=SETUP)
def test_every_change_is_listed_and_every_provider_credential_reported(objects):
    result = rewrite(objects, TARGET)
    issuers = [o for o in objects if o.kind in ("Issuer", "ClusterIssuer")]
    listed = {(r.object, r.field) for r in result.rewrites}
    for obj in issuers:
        assert (obj.ref, "spec.acme.server") in listed and (obj.ref, "spec.acme.caBundle") in listed
        for index, solver in enumerate(obj.body["spec"]["acme"]["solvers"]):
            provider = next(p for p in DNS01_PROVIDERS if p in solver["dns01"])
            assert (obj.ref, f"spec.acme.solvers[{index}].dns01.{provider}") in listed
            assert any(c.object == obj.ref and c.field.startswith(f"spec.acme.solvers[{index}]")
                       for c in result.credentials)
    # Every name a certificate asks for falls in a zone its issuer's key may write.
    for cert in (o for o in objects if o.kind == "Certificate"):
        ref = cert.body["spec"]["issuerRef"]
        key = next(k for k in result.keys if k.name == tsig_key_name(
            next(o for o in issuers if o.name == ref["name"] and o.kind == ref["kind"])))
        owner = next(o for o in issuers if o.name == ref["name"] and o.kind == ref["kind"])
        if any("selector" in s for s in owner.body["spec"]["acme"]["solvers"]):
            continue  # the user's selector decides which zones the solver serves
        for name in cert.body["spec"]["dnsNames"]:
            assert zone_of(name) in key.zones


def test_a_version_without_acme_ca_bundle_gets_no_ca_bundle_field():
    result = rewrite([issuer(), certificate("www", ["www.example.com"])], replace(TARGET, ca_bundle=None))
    assert "caBundle" not in result.objects[0].body["spec"]["acme"]
    assert "spec.acme.caBundle" not in {r.field for r in result.rewrites}


# --- Route 53 solvers on a lab with an AWS API: kept, only zone, role and credentials mapped ---------------

AWS = AwsTarget(zone_ids={"shop.example.com.": "LABZONE1", "example.org.": "LABZONE2"},
                identities={"ClusterIssuer le": AwsIdentity("AKIALAB", "lab-secret", "arn:aws:iam::123456789012:role/lab"),
                            "Issuer shop/pub": AwsIdentity("AKIAPUB", "pub-secret")})
AWS_TARGET = replace(TARGET, aws=AWS)
ROUTE53 = {"region": "eu-west-1", "hostedZoneID": "Z0123456789EXAMPLE", "accessKeyID": "AKIAUSER",
           "secretAccessKeySecretRef": {"name": "route53-credentials", "key": "secret-access-key"},
           "role": "arn:aws:iam::999999999999:role/dns"}


def route53_setup(route53=ROUTE53, zones=("shop.example.com",)):
    solvers = [{"selector": {"dnsZones": list(zones)}, "dns01": {"route53": copy.deepcopy(route53),
                                                                 "cnameStrategy": "Follow"}}]
    return [issuer(solvers=solvers), certificate("www", ["www.shop.example.com"])]


def test_a_route53_solver_stays_route53_with_its_zone_role_and_key_mapped_to_the_labs_account():
    objects = route53_setup()
    assert route53_needs(objects) == [Route53Need("ClusterIssuer le", ("shop.example.com.",), role=True)]
    result = rewrite(objects, AWS_TARGET)
    solver = result.objects[0].body["spec"]["acme"]["solvers"][0]
    assert solver["dns01"] == {"cnameStrategy": "Follow", "route53": {
        "region": "eu-west-1", "hostedZoneID": "LABZONE1", "accessKeyID": "AKIALAB",
        "secretAccessKeySecretRef": {"name": "certchaos-aws-le", "key": "secret-access-key"},
        "role": "arn:aws:iam::123456789012:role/lab"}}
    assert {r.field: (r.old, r.new.split()[0]) for r in result.rewrites if "solvers" in r.field} == {
        "spec.acme.solvers[0].dns01.route53.hostedZoneID": ("Z0123456789EXAMPLE", "LABZONE1"),
        "spec.acme.solvers[0].dns01.route53.role": ("arn:aws:iam::999999999999:role/dns",
                                                     "arn:aws:iam::123456789012:role/lab"),
        "spec.acme.solvers[0].dns01.route53.accessKeyID": ("AKIAUSER", "AKIALAB"),
        "spec.acme.solvers[0].dns01.route53.secretAccessKeySecretRef": (
            "Secret route53-credentials, key secret-access-key", "Secret")}
    assert [c.what for c in result.credentials] == [
        "route53: secretAccessKeySecretRef: Secret route53-credentials, key secret-access-key; accessKeyID AKIAUSER"]
    assert result.keys == [] and result.zones == ["shop.example.com."]
    assert result.hosted_zones == {"shop.example.com.": "LABZONE1"}
    assert result.secrets == [{"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": "certchaos-aws-le", "namespace": "cert-manager"},
                               "stringData": {"access-key-id": "AKIALAB", "secret-access-key": "lab-secret"}}]
    twice = rewrite(result.objects, AWS_TARGET)
    assert twice.rewrites == [] and twice.credentials == [] and twice.objects[0].body == result.objects[0].body


def test_a_route53_solver_on_ambient_credentials_gets_the_labs_key_from_a_secret():
    ambient = {"region": "us-east-1"}
    solvers = [{"dns01": {"route53": ambient}}]
    objects = [issuer("Issuer", "pub", solvers), certificate("a", ["a.example.org"], "pub", "Issuer")]
    result = rewrite(objects, AWS_TARGET)
    assert result.objects[0].body["spec"]["acme"]["solvers"][0]["dns01"]["route53"] == {
        "region": "us-east-1", "accessKeyIDSecretRef": {"name": "certchaos-aws-pub", "key": "access-key-id"},
        "secretAccessKeySecretRef": {"name": "certchaos-aws-pub", "key": "secret-access-key"}}
    assert [c.what for c in result.credentials] == ["route53: ambient credentials"]
    assert result.secrets[0]["metadata"] == {"name": "certchaos-aws-pub", "namespace": "shop"}
    assert "hostedZoneID" not in str(result.rewrites)  # none written, none added: the solver finds the zone


def test_a_hosted_zone_id_for_several_zones_is_refused_and_without_an_aws_api_route53_becomes_rfc2136():
    with pytest.raises(InvalidSetup, match=r"ClusterIssuer le: spec.acme.solvers\[0\].dns01.route53.hostedZoneID: "
                                           r"one hosted zone for 2 zones"):
        rewrite(route53_setup(zones=("shop.example.com", "example.org")), AWS_TARGET)
    result = rewrite(route53_setup(), TARGET)
    assert set(result.objects[0].body["spec"]["acme"]["solvers"][0]["dns01"]) == {"rfc2136", "cnameStrategy"}
    assert result.hosted_zones == {} and result.keys[0].zones == ("shop.example.com.",)
