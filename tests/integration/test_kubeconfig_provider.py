"""The kubeconfig provider on a real API server: the session's local stack stands in for a user's existing
cluster (cert-manager installed there). What the provider claims it runs, it runs; what it cannot, `certchaos
run` lists as not applicable with the capability it lacks; and the cluster is left as it was found."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from harness.chaos.certificates import certificate, create_certificate
from harness.lab import providers
from harness.lab.lab import Lab, LabClient, LabInfo
from harness.lab.issuers import make_ca_issuer
from harness.lab.providers.seam import ProviderOptions
from harness.observe.conditions.certificates import certificate_ready
from harness.stack.kube import ensure_namespace
from harness.wait import wait_for

pytestmark = pytest.mark.integration

ISSUED = 60  # a CA issuer signs in well under a second; 60 s covers a loaded 2-core CI machine
# `certchaos run` collects the catalogue twice (the -k check, then pytest itself) and starts xdist workers:
# ~20 s here; nothing starts a lab's servers on this provider.
RUN_TIMEOUT = 300


@pytest.fixture
def existing(stack, tmp_path) -> Path:
    """The running local stack's admin kubeconfig, copied as a user's would be: the "existing cluster"."""
    return stack.write_kubeconfig(tmp_path / "existing-kubeconfig")


def test_an_existing_cluster_with_cert_manager_issues_and_is_left_as_it_was(stack, existing):
    cluster = providers.validate("kubeconfig", ProviderOptions(kubeconfig=str(existing))).make_stack(
        ProviderOptions(kubeconfig=str(existing)))
    with cluster:
        assert cluster.endpoints()["kube-apiserver"] == stack.api_url
        assert cluster.versions()["kube-apiserver"]["version"].startswith("v1.")
        api = cluster.api()
        namespace = f"existing-{uuid.uuid4().hex[:5]}"
        ensure_namespace(api, namespace)
        try:
            issuer = make_ca_issuer(api, namespace)
            create_certificate(api, namespace, certificate("web", issuer, ["web.example"]))
            wait_for(certificate_ready(api, namespace, "web"), subject=f"Certificate {namespace}/web",
                     expected="Ready=True on the existing cluster", timeout=ISSUED)
        finally:
            client.CoreV1Api(api).delete_namespace(namespace, propagation_policy="Background")
    # stop() closed a client, nothing more: the cluster and its cert-manager still serve.
    assert client.VersionApi(stack.api()).get_code().git_version
    assert all(process.running() for process in stack.processes.values())


def test_the_lab_on_an_existing_cluster_is_the_cluster_alone_and_says_what_it_cannot_do(stack, existing):
    lab = Lab(provider="kubeconfig", kubeconfig=str(existing)).start()
    try:
        info = LabInfo.load(lab.info_path)
        assert info.provider == "kubeconfig" and info.capabilities == providers.PROVIDERS["kubeconfig"].CAPABILITIES
        assert not info.capabilities.lab_network and info.dns_control_url is None and info.alerting is None
        assert Path(info.kubeconfig) == existing.resolve()
        driven = LabClient(info)
        try:
            assert driven.dns is None and driven.toxiproxy is None and driven.pebble is None
            assert client.CoreV1Api(driven.kube).read_namespace("kube-system").metadata.name == "kube-system"
        finally:
            driven.close()
        with pytest.raises(Exception, match="upgrades nothing"):
            lab.upgrade_cert_manager(None)
    finally:
        lab.stop()
    assert all(process.running() for process in stack.processes.values())


def test_certchaos_run_on_an_existing_cluster_lists_what_it_cannot_run_as_not_applicable(stack, existing, tmp_path):
    report = tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--provider", "kubeconfig", "--kubeconfig",
                             str(existing), "-k", "webhook or rotation", "--workers", "2", "--report-dir", str(report)],
                            capture_output=True, text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = (report / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| scenarios/")
            or line.startswith("| test_")]
    assert rows and all("| not-applicable |" in row and "provider kubeconfig has none" in row for row in rows), rows
    assert "needs the lab's fake DNS, ACME CA (Pebble), Toxiproxy" in summary
    journals = list(report.rglob("journal.json")) + list(report.rglob("skipped.json"))
    assert journals and all(json.loads(path.read_text()).get("environment", {}).get("provider", "kubeconfig")
                            == "kubeconfig" for path in journals)
    assert all(process.running() for process in stack.processes.values())
