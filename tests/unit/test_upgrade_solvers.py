"""What an upgrade changed in the setup's issuers' solvers: nothing for the same solvers, and one line naming the
issuer and field for a Route 53 solver rewritten to another provider, lost, or with a field changed or dropped."""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import given, strategies as st

from harness.upgrade.solvers import solver_changes, solver_type

ROUTE53 = {"selector": {"dnsZones": ["shop.example.com"]}, "dns01": {"route53": {
    "region": "eu-west-1", "hostedZoneID": "LABZONE1", "accessKeyID": "AKIALAB",
    "secretAccessKeySecretRef": {"name": "certchaos-aws-le", "key": "secret-access-key"}}}}
HTTP01 = {"http01": {"ingress": {"class": "nginx"}}}
BEFORE = {"ClusterIssuer le": [ROUTE53, HTTP01]}


def after(change) -> dict:
    solvers = copy.deepcopy(BEFORE["ClusterIssuer le"])
    change(solvers)
    return {"ClusterIssuer le": solvers}


def test_the_same_solvers_are_no_change_and_types_name_challenge_and_provider():
    assert solver_changes(BEFORE, copy.deepcopy(BEFORE)) == []
    assert [solver_type(s) for s in BEFORE["ClusterIssuer le"]] == ["dns01.route53", "http01.ingress"]


def test_a_route53_solver_rewritten_to_rfc2136_is_named():
    def to_rfc2136(solvers):
        solvers[0]["dns01"] = {"rfc2136": {"nameserver": "127.0.0.1:53"}}
    assert solver_changes(BEFORE, after(to_rfc2136)) == [
        "ClusterIssuer le: spec.acme.solvers[0]: dns01.route53 became dns01.rfc2136"]


def test_a_lost_solver_a_gone_issuer_and_a_changed_or_dropped_field_are_named():
    assert solver_changes(BEFORE, after(lambda s: s.pop(0))) == [
        "ClusterIssuer le: spec.acme.solvers[0]: dns01.route53 became http01.ingress",
        "ClusterIssuer le: spec.acme.solvers[1] (http01.ingress) lost"]
    assert solver_changes(BEFORE, {}) == ["ClusterIssuer le: gone after the upgrade"]

    def region(solvers):
        solvers[0]["dns01"]["route53"]["region"] = "us-east-1"
        del solvers[0]["dns01"]["route53"]["hostedZoneID"]
        solvers[0]["dns01"]["route53"]["secretAccessKeySecretRef"]["name"] = "other"
    assert solver_changes(BEFORE, after(region)) == [
        "ClusterIssuer le: spec.acme.solvers[0].dns01.route53.hostedZoneID: 'LABZONE1' -> '(absent)'",
        "ClusterIssuer le: spec.acme.solvers[0].dns01.route53.region: 'eu-west-1' -> 'us-east-1'",
        "ClusterIssuer le: spec.acme.solvers[0].dns01.route53.secretAccessKeySecretRef.name: 'certchaos-aws-le' -> "
        "'other'"]


LEAF = st.one_of(st.text(max_size=5), st.integers(), st.booleans())
CONFIG = st.recursive(LEAF, lambda inner: st.dictionaries(st.sampled_from("abcde"), inner, max_size=3), max_leaves=8)


@given(st.dictionaries(st.sampled_from("abcde"), CONFIG, min_size=1, max_size=4), st.data())
def test_any_changed_leaf_of_a_solver_is_reported_and_an_unchanged_one_never(config, data):
    solver = {"dns01": {"route53": config}}
    assert solver_changes({"Issuer ns/x": [solver]}, {"Issuer ns/x": [copy.deepcopy(solver)]}) == []
    changed = copy.deepcopy(solver)
    node, key = changed["dns01"]["route53"], data.draw(st.sampled_from(sorted(config)))
    while isinstance(node[key], dict) and node[key]:
        node, key = node[key], data.draw(st.sampled_from(sorted(node[key])))
    node[key] = ["changed"]  # no draw of LEAF or CONFIG is a list: always a change
    lines = solver_changes({"Issuer ns/x": [solver]}, {"Issuer ns/x": [changed]})
    assert len(lines) == 1 and lines[0].startswith("Issuer ns/x: spec.acme.solvers[0].dns01.route53.")
    assert lines[0].endswith("-> ['changed']")


def test_the_checks_kept_phase_fails_when_the_solver_changed_or_was_lost_and_passes_when_kept(monkeypatch, tmp_path):
    from harness.upgrade import check as check_module
    from harness.upgrade.check import CheckFailed, UpgradeCheck
    from harness.upgrade.rewrite import Rewritten
    from harness.upgrade.versions import VersionBinaries

    check = UpgradeCheck(VersionBinaries("v1.10.2", tmp_path / "a", "pinned"), VersionBinaries("v1.11.5", None, "cache"),
                         tmp_path / "setup", tmp_path / "report")
    check.facts["solvers_before"] = copy.deepcopy(BEFORE)
    rewritten = Rewritten(objects=[], secrets=[], keys=[], zones=[])
    for read, expected in ((after(lambda s: None), None),
                           (after(lambda s: s[0].update(dns01={"rfc2136": {}})), "dns01.route53 became dns01.rfc2136"),
                           ({"ClusterIssuer le": []}, "spec.acme.solvers[0] (dns01.route53) lost")):
        monkeypatch.setattr(check_module, "issuer_solvers", lambda api, objects, read=read: read)
        if expected is None:
            assert check._solvers_kept(None, rewritten) == {"ClusterIssuer le": ["dns01.route53", "http01.ingress"]}
        else:
            with pytest.raises(CheckFailed, match=re.escape(expected)):
                check._solvers_kept(None, rewritten)
