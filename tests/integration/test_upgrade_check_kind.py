"""`certchaos upgrade-check --provider kind` for real: cert-manager v1.10.2, installed by its own chart with a
user's values file, upgraded in place by `helm upgrade` to v1.11.5 with the same values, with the example
setup's live certificates (the storefront's from ingress-shim, over HTTP-01 through the lab's Traefik), then a part
of the catalogue on B and on A, each on a cluster of its own (one check shows both: a second check only for the
catalogue cost CI its minutes of cluster, setup and the 60 s Lease window again); and an upgrade whose `helm upgrade`
fails half way (B's chart changes the controller Deployment's immutable selector, as a real chart once did), torn
down and reported. Nothing of the clusters or the labs is left afterwards.

Needs Docker, `certchaos images build` and v1.10.2's build (scripts/setup.sh); v1.10.2's images are built
by the check (one `docker import` each). Runs only with `-m kind` (`make test-kind`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from harness.cli.main import main
from harness.stack import binaries, certmanager
from harness.stack.kind.engine import DockerEngine
from harness.stack.kind.labnet import ANCHOR_LABEL
from harness.stack.kind.provider import CLUSTER_LABEL
from harness.stack.leftovers import owned_name
from harness.upgrade import versions

pytestmark = pytest.mark.kind
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "upgrade-setup"


@pytest.fixture(scope="module")
def engine() -> DockerEngine:
    with DockerEngine() as running:
        yield running


def containers(engine: DockerEngine, label: str) -> list[str]:
    """This process's containers with `label` (its clusters and anchors are named after it: owned_name): other
    sessions on the same Docker may start and stop theirs meanwhile."""
    listed = engine.docker("ps", "-a", "--filter", f"label={label}", "--format", "{{.ID}} {{.Names}}").stdout
    ours = owned_name("")
    return [line.split()[0] for line in listed.splitlines() if line.split()[1].startswith(ours)]


# The upgrade (7-9 min measured) and the catalogue on two clusters (~5 min), each with its own deadlines; pyproject's
# 900 s, a hang catcher sized for one check, doubled.
@pytest.mark.timeout(1800)
def test_an_upgrade_by_helm_keeps_every_certificate_and_renews_on_v1_11_5_then_the_catalogue_runs_on_b_and_a(
        engine, tmp_path):
    before = set(containers(engine, CLUSTER_LABEL) + containers(engine, ANCHOR_LABEL))
    values = tmp_path / "values.yaml"
    # A user's own setting, which both the install and the upgrade must carry: the controller's log level.
    values.write_text(yaml.safe_dump({"global": {"logLevel": 2}, "podLabels": {"team": "platform"}}))
    report_dir = tmp_path / "report"
    code = main(["upgrade-check", "--from", "v1.10.2", "--to", "v1.11.5", "--provider", "kind", "-k", "rotation_policy",
                 "--setup", str(EXAMPLE), "--values", str(values), "--report-dir", str(report_dir)])
    report = json.loads((report_dir / "upgrade-report.json").read_text())
    phases = {phase["name"]: phase for phase in report["phases"]}
    print({name: (phase["verdict"], phase["seconds"]) for name, phase in phases.items()})
    assert code == 0, {name: (p["verdict"], p["error"]) for name, p in phases.items()}
    assert report["provider"] == "kind"
    assert {p["verdict"] for p in phases.values()} == {"passed"}  # every phase ran, the catalogue too
    assert report["not_applicable"] == [] and report["ingress_controller"]["ingress_class"] == "traefik"
    # What ran: A's images tagged v1.10.2 (built from its bin dir), B's the lab's v1.11.5.
    assert report["components"]["A"]["cert-manager-controller"]["version"] == "v1.10.2"
    assert report["components"]["B"]["cert-manager-controller"]["version"] == "v1.11.5"
    assert phases["upgrade"]["detail"]["steps"] == ["images", "crds", "helm upgrade", "webhook",
                                                    "webhook registrations"]
    # v1.10 has no spec.acme.caBundle: Pebble's CA came in through the chart's values, at install.
    assert any("extraEnv" in note and "helm upgrade" in note for note in report["notes"])
    # Nothing re-issued by the upgrade alone; B's pod took the Lease; each certificate renewed on B.
    before_certs = report["certificates_before"]
    assert sorted(before_certs) == ["shop/orders-api", "shop/shop-root-ca", "shop/storefront-tls", "shop/wildcard",
                                    "shop/www"]
    assert phases["ready"]["detail"]["shimmed"] == ["shop/storefront-tls"]  # ingress-shim's, for the Ingress
    assert phases["kept"]["detail"]["lease"]["holder"].endswith("-external-cert-manager-controller")
    renewed = {**phases["renewal"]["detail"]["renewed"], **phases["http01"]["detail"]["renewed"]}
    for ref, facts in before_certs.items():
        assert renewed[ref]["serial"] != facts["serial"] and renewed[ref]["revision"] > facts["revision"], ref
    # The storefront's renewal on B went over HTTP-01 the whole way, its solver gone after.
    assert sorted(phases["http01"]["detail"]["renewed"]) == ["shop/storefront-tls"]
    challenge = next(c for c in phases["http01"]["detail"]["challenges"] if "valid" in c["states"])
    assert challenge["dnsName"] == "store.shop.example.com" and challenge["key authorization served"]
    assert challenge["solver pods Running"] and phases["http01"]["detail"]["solvers"] == "none left"
    assert ("ClusterIssuer letsencrypt-http01", "spec.acme.solvers[0].http01.ingress.class") in {
        (r["object"], r["field"]) for r in report["rewrites"]}
    assert len(phases["webhook"]["detail"]["admitted"]) == 8  # 3 ClusterIssuers, 1 Issuer, 4 Certificates
    # The Route 53 solver is kept on kind too (the pods reach the lab's AWS API): the same solver after helm upgrade,
    # and B's renewal changed the mapped hosted zone through the API (measured: 6 accepted changes).
    assert phases["kept"]["detail"]["solvers"]["ClusterIssuer letsencrypt"] == ["dns01.route53"]
    assert [state["answers"] >= 3 for state in phases["renewal"]["detail"]["route53_changes_accepted"].values()] == [True]
    # The lab's controller log followed the rollout: A's start line, then B's.
    log = (report_dir / "lab" / "stack" / "logs" / "cert-manager-controller.log").read_text()
    starts = [line for line in log.splitlines() if "starting controller" in line and '"version"=' in line]
    assert [line.rsplit("=", 1)[-1] for line in starts] == ['"v1.10.2"', '"v1.11.5"'], starts
    # Then the catalogue's part on B, then on A, each `certchaos run` on a kind cluster of its own.
    assert phases["catalogue"]["verdict"] == "passed" and phases["catalogue"]["detail"]["B"]["returncode"] == 0
    rows = report["side_by_side"]["scenarios"]
    name = "scenarios/test_renewal.py::test_rotation_policy_never_keeps_the_key_and_always_replaces_it"
    assert rows[name]["B"]["verdict"] == "passed" and rows[name]["A"]["verdict"] in ("passed", "deviated")
    for side in ("A", "B"):
        journal = next((report_dir / f"catalogue-{side}").rglob("journal.json"))
        assert json.loads(journal.read_text())["environment"]["provider"] == "kind"
    after = set(containers(engine, CLUSTER_LABEL) + containers(engine, ANCHOR_LABEL))
    assert after <= before, f"containers left by the check: {sorted(after - before)}"


SELECTOR = '''      app.kubernetes.io/component: "controller"
  {{- with .Values.strategy }}'''


def test_a_helm_upgrade_that_fails_half_way_is_torn_down_and_reported(engine, tmp_path):
    before = set(containers(engine, CLUSTER_LABEL) + containers(engine, ANCHOR_LABEL))
    setup_dir = tmp_path / "setup"
    setup_dir.mkdir()
    for name in ("00-namespace.yaml", "10-ca-issuers.yaml"):  # the CA chain only: no 60 s ACME wait
        shutil.copyfile(EXAMPLE / name, setup_dir / name)
    # B: the lab's v1.11.5 binaries and CRDs (so its images are the lab's), and its chart with one more label in
    # the controller Deployment's selector, which the API server refuses to change on an existing Deployment.
    broken = tmp_path / "b"
    broken.mkdir()
    for name in versions.COMPONENTS:
        os.symlink(binaries.load_components()[name].cached, broken / name)
    shutil.copytree(certmanager.crd_dir(), broken / "crds")
    shutil.copytree(certmanager.chart_dir(), broken / "chart")
    template = broken / "chart" / "templates" / "deployment.yaml"
    text = template.read_text()
    assert text.count(SELECTOR) == 1, "the chart's controller selector moved; update the test's edit"
    template.write_text(text.replace(SELECTOR, SELECTOR.replace(
        "\n", "\n      app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}\n", 1)))
    report_dir = tmp_path / "report"
    code = main(["upgrade-check", "--from", "v1.11.5", "--to", "v1.11.5", "--provider", "kind", "--no-catalogue",
                 "--setup", str(setup_dir), "--bin-dir-to", str(broken), "--report-dir", str(report_dir)])
    report = json.loads((report_dir / "upgrade-report.json").read_text())
    phases = {phase["name"]: phase for phase in report["phases"]}
    assert code == 2
    assert report["verdict"] == "failed" and report["failed_phase"] == "upgrade"
    assert [phases[n]["verdict"] for n in ("ready", "upgrade", "kept")] == ["passed", "error", "not run"]
    assert "helm upgrade of cert-manager failed" in phases["upgrade"]["error"]
    assert "field is immutable" in phases["upgrade"]["error"]
    after = set(containers(engine, CLUSTER_LABEL) + containers(engine, ANCHOR_LABEL))
    assert after <= before, f"containers left by the check: {sorted(after - before)}"
