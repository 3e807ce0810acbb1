"""Default rules at the lab's and production's time scale, user rule files (plain and PrometheusRule), and
promtool's refusals, with the real promtool."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, strategies as st

from harness.alerts.rules import (
    DAY, DEFAULT_RULES, RulesInvalid, TimeScale, alert_names, default_rules, load_rule_document, prepare,
)
from harness.errors import HarnessError

LAB = TimeScale.for_lifetime(3600)


def _rules(document: dict) -> dict:
    return {rule["alert"]: rule for rule in document["groups"][0]["rules"]}


def test_the_lab_factor_is_ninety_days_over_one_hour_and_production_keeps_its_values():
    assert LAB.factor == 2160
    production, lab = _rules(default_rules(TimeScale(1))), _rules(default_rules(LAB))
    assert "time() < 1209600" in production["CertManagerCertificateExpiringSoon"]["expr"]  # 14 days
    assert "time() < 560" in lab["CertManagerCertificateExpiringSoon"]["expr"]  # 14 days / 2160
    assert production["CertManagerCertificateNotReady"]["for"] == "600s"
    # An issuance takes ~65 s in the lab whatever the lifetime: the floor keeps healthy issuances quiet.
    assert lab["CertManagerCertificateNotReady"]["for"] == "120s"
    assert production["CertManagerAbsent"]["for"] == "300s" and lab["CertManagerAbsent"]["for"] == "10s"
    assert "[3600s]" in production["CertManagerAcmeRequestErrors"]["expr"]


@given(st.floats(min_value=1, max_value=10_000), st.integers(min_value=0, max_value=400 * DAY),
       st.integers(min_value=0, max_value=600))
def test_a_scaled_duration_is_the_production_one_over_the_factor_never_below_its_floor(factor, seconds, floor):
    lab = TimeScale(factor).seconds(seconds, floor)
    if factor == 1:
        assert lab == seconds
    else:
        assert lab >= floor and (lab == floor or abs(lab - seconds / factor) <= 0.5)


def test_a_factor_below_one_is_refused():
    with pytest.raises(HarnessError, match="factor of 1"):
        TimeScale(0.5)


def test_the_defaults_pass_promtool_and_name_their_alerts(tmp_path: Path):
    ruleset = prepare(tmp_path, LAB)
    assert ruleset.alerts == {rule.name for rule in DEFAULT_RULES}
    assert [path.name for path in ruleset.files] == ["default-rules.yml"]


PROMETHEUS_RULE = """\
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: mine}
spec:
  groups:
  - name: mine
    rules:
    - alert: MyCertExpiry
      expr: probe_ssl_earliest_cert_expiry - time() < 86400
"""


def test_a_prometheus_rule_is_extracted_and_added_beside_the_defaults(tmp_path: Path):
    source = tmp_path / "rule.yaml"
    source.write_text(PROMETHEUS_RULE)
    ruleset = prepare(tmp_path / "out", LAB, source, "add")
    assert "MyCertExpiry" in ruleset.alerts and "CertManagerAbsent" in ruleset.alerts
    assert load_rule_document(ruleset.files[1])["groups"][0]["name"] == "mine"
    replaced = prepare(tmp_path / "out2", LAB, source, "replace")
    assert replaced.alerts == {"MyCertExpiry"} and len(replaced.files) == 1


def test_promtools_message_names_the_users_file_and_line(tmp_path: Path):
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: x\n  rules:\n  - alert: Foo\n    expr: sum(up\n")
    with pytest.raises(RulesInvalid, match=r"bad\.yml: 5:11: group \"x\", rule 1, \"Foo\""):
        prepare(tmp_path / "out", LAB, bad)


def test_a_bad_prometheus_rule_says_where_its_groups_came_from(tmp_path: Path):
    source = tmp_path / "rule.yaml"
    source.write_text(PROMETHEUS_RULE.replace("< 86400", "< < 86400"))
    with pytest.raises(RulesInvalid, match=r"(?s)extracted from the PrometheusRule .*rule\.yaml.*MyCertExpiry"):
        prepare(tmp_path / "out", LAB, source)


@pytest.mark.parametrize("text, message", [
    ("kind: ConfigMap\n", "no `groups:` and not a PrometheusRule"),
    ("- a list\n", "found a list"),
    ("groups: [\n", "not YAML"),
])
def test_what_is_not_a_rule_file_is_refused_clearly(tmp_path: Path, text: str, message: str):
    path = tmp_path / "rules.yml"
    path.write_text(text)
    with pytest.raises(RulesInvalid, match=message):
        load_rule_document(path)


def test_replace_without_rules_and_a_missing_file_are_refused(tmp_path: Path):
    with pytest.raises(HarnessError, match="replace needs --alert-rules"):
        prepare(tmp_path, LAB, None, "replace")
    with pytest.raises(RulesInvalid, match="no such file"):
        prepare(tmp_path, LAB, tmp_path / "missing.yml")


def test_alert_names_skip_recording_rules():
    document = yaml.safe_load("groups: [{name: g, rules: [{record: r, expr: up}, {alert: A, expr: up}]}]")
    assert alert_names(document) == {"A"}
