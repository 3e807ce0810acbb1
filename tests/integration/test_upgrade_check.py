"""`certchaos upgrade-check` for real: cert-manager v1.10.2 -> v1.11.5 in place on the local lab, with the
example setup (its HTTP-01 part reported not applicable: no nodes); and an upgrade that fails half way (a broken webhook binary of B), torn down and reported.

v1.10.2 is built on first use (minutes, with progress); every later run finds it in the cache."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from harness.cli.main import main
from harness.report.secrets import scan_for_secrets
from harness.stack import binaries
from harness.stack.local import stack_processes
from harness.upgrade import versions

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "upgrade-setup"


def run_check(tmp_path: Path, *args: str, source: str = "v1.10.2") -> tuple[int, dict]:
    report_dir = tmp_path / "report"
    code = main(["upgrade-check", "--from", source, "--to", "v1.11.5", "--no-catalogue",
                 "--report-dir", str(report_dir), *args])
    return code, json.loads((report_dir / "upgrade-report.json").read_text())


def assert_nothing_left(tmp_path: Path, report: dict) -> None:
    run_dir = Path(report["lab_run_dir"]) / "stack"
    assert stack_processes(run_dir) == [], "processes of the lab still running after the check"
    assert not run_dir.exists(), "the lab's run dir (keys, tokens) outlived the check"
    assert scan_for_secrets(tmp_path / "report") == [], "the report holds a private key"


def test_an_upgrade_to_v1_11_5_keeps_every_certificate_and_renews_on_it(tmp_path):
    code, report = run_check(tmp_path, "--setup", str(EXAMPLE))
    verdicts = {phase["name"]: phase["verdict"] for phase in report["phases"]}
    assert code == 0, (verdicts, [p["error"] for p in report["phases"] if p["error"]])
    assert set(verdicts.values()) == {"passed", "skipped", "not applicable"}
    # The storefront's HTTP-01 issuer and annotated Ingress: no nodes here, left out and said so, not failed.
    assert verdicts["http01"] == "not applicable"
    assert [n["object"] for n in report["not_applicable"]] == ["ClusterIssuer letsencrypt-http01",
                                                               "Ingress shop/storefront"]
    # What ran: A's controller from the v1.10.2 build, B's from the cache, both stamped with their version.
    assert report["components"]["A"]["cert-manager-controller"]["version"] == "v1.10.2"
    assert report["components"]["B"]["cert-manager-controller"]["version"] == "v1.11.5"
    before = report["certificates_before"]
    assert sorted(before) == ["shop/orders-api", "shop/shop-root-ca", "shop/wildcard", "shop/www"]
    phases = {phase["name"]: phase for phase in report["phases"]}
    renewed = phases["renewal"]["detail"]["renewed"]
    for ref, facts in before.items():
        assert renewed[ref]["serial"] != facts["serial"] and renewed[ref]["revision"] > facts["revision"], ref
    assert phases["upgrade"]["detail"]["steps"] == ["crds", "rbac", "cert-manager-webhook", "cert-manager-cainjector",
                                                    "cert-manager-controller"]
    assert len(phases["webhook"]["detail"]["admitted"]) == 7  # 2 ClusterIssuers, 1 Issuer, 4 Certificates
    # The Route 53 solver stays one (the local lab has the AWS API): only its zone id and key are the lab's, and
    # it reads the same after the upgrade; the renewal on B went through the API to the mapped hosted zone.
    fields = {r["field"]: r for r in report["rewrites"] if r["object"] == "ClusterIssuer letsencrypt"}
    (zone_id,) = report["route53_hosted_zones"].values()
    assert fields["spec.acme.solvers[0].dns01.route53.hostedZoneID"]["old"] == "Z0123456789EXAMPLE"
    assert fields["spec.acme.solvers[0].dns01.route53.hostedZoneID"]["new"].startswith(zone_id)
    assert {"spec.acme.solvers[0].dns01.route53.accessKeyID",
            "spec.acme.solvers[0].dns01.route53.secretAccessKeySecretRef"} <= set(fields)
    assert not any(".rfc2136" in field or field.endswith("region") for field in fields)
    assert any("route53-credentials" in c["what"] for c in report["credentials_replaced"])
    assert phases["kept"]["detail"]["solvers"]["ClusterIssuer letsencrypt"] == ["dns01.route53"]
    accepted = phases["renewal"]["detail"]["route53_changes_accepted"]
    # Three challenges presented (www.shop.example.com, shop.example.com, *.shop.example.com), each an UPSERT.
    assert [state["answers"] >= 3 for state in accepted.values()] == [True], accepted
    assert set(report["side_by_side"]["metrics"]) == {"appeared", "vanished"}
    assert_nothing_left(tmp_path, report)


def test_an_upgrade_that_fails_half_way_is_torn_down_and_reported(tmp_path):
    setup_dir = tmp_path / "setup"
    setup_dir.mkdir()
    for name in ("00-namespace.yaml", "10-ca-issuers.yaml"):  # the CA chain only: no 60 s ACME wait
        shutil.copyfile(EXAMPLE / name, setup_dir / name)
    broken = tmp_path / "b"
    broken.mkdir()
    components = binaries.load_components()
    for name in ("cert-manager-controller", "cert-manager-cainjector", "cmctl"):
        os.symlink(components[name].cached, broken / name)
    (broken / "cert-manager-webhook").write_text("#!/bin/sh\necho 'webhook: exec format error' >&2\nexit 1\n")
    (broken / "cert-manager-webhook").chmod(0o755)
    shutil.copytree(versions.binaries.cache_dir() / "crds" / f"cert-manager-{versions.default_version()}", broken / "crds")
    # A is the lab's default build: what is tested is the failure half way, whatever A is.
    code, report = run_check(tmp_path, "--setup", str(setup_dir), "--bin-dir-to", str(broken), source="v1.11.5")
    assert code == 2
    assert report["verdict"] == "failed" and report["failed_phase"] == "upgrade"
    phases = {phase["name"]: phase for phase in report["phases"]}
    assert [phases[n]["verdict"] for n in ("ready", "upgrade", "kept")] == ["passed", "error", "not run"]
    assert "cert-manager-webhook" in phases["upgrade"]["error"]
    assert_nothing_left(tmp_path, report)
