"""The local stack is a real Kubernetes API with a working cert-manager: issuance, webhook, errors, no leaks."""

from __future__ import annotations

import base64
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes import client

from harness.observe import resources
from harness.observe.conditions.certificates import certificate_ready
from harness.errors import ComponentFailed, MissingBinary, PortInUse
from harness.chaos.certificates import certificate, create_certificate
from harness.lab.issuers import make_ca_issuer
from harness.stack.local import LocalStack, stack_processes
from harness.observe.tlsinspect import inspect_secret
from harness.wait import Seen, wait_for

pytestmark = pytest.mark.integration

# Issuance by a local issuer takes well under a second; 60 s covers a loaded 2-core CI machine.
ISSUED = 60


def secret_data(kube, namespace, name):
    data = resources.get(kube, resources.SECRET, namespace, name)["data"]
    return {key: base64.b64decode(value) for key, value in data.items()}


def test_ca_issuer_issues_a_certificate_that_chains_to_the_ca(kube, namespace):
    ca_issuer = make_ca_issuer(kube, namespace)  # self-signed bootstrap -> CA Certificate "ca-root" -> CA Issuer
    create_certificate(kube, namespace, certificate(
        "leaf", ca_issuer, ["app.certchaos.test", "www.certchaos.test"], duration="2h",
        privateKey={"algorithm": "RSA", "size": 2048}))
    wait_for(certificate_ready(kube, namespace, "leaf"), subject=f"Certificate {namespace}/leaf",
             expected="Ready=True", timeout=ISSUED)

    secret = resources.get(kube, resources.SECRET, namespace, "leaf")
    found = inspect_secret(secret)  # the chain is verified against the Secret's ca.crt
    assert found.key_matches and found.verified, found.summary()
    data = secret_data(kube, namespace, "leaf")
    assert isinstance(serialization.load_pem_private_key(data["tls.key"], password=None), rsa.RSAPrivateKey)
    root = inspect_secret(resources.get(kube, resources.SECRET, namespace, "ca-root")).leaf
    assert data["ca.crt"] == secret_data(kube, namespace, "ca-root")["tls.crt"]
    assert found.leaf.issuer == root.subject and root.is_ca
    assert sorted(found.leaf.dns_names) == ["app.certchaos.test", "www.certchaos.test"]
    assert found.leaf.not_after - found.leaf.not_before == datetime.timedelta(hours=2)


@pytest.mark.parametrize("dry_run", [False, True], ids=["create", "dry-run"])
def test_webhook_rejects_a_certificate_without_any_name(kube, namespace, dry_run):
    # A dry run calls the webhook too (sideEffects None): the node-failure scenarios probe admission that way.
    with pytest.raises(client.ApiException) as rejected:
        create_certificate(kube, namespace, certificate("nameless", {"name": "any"}, []), dry_run=dry_run)
    message = json.loads(rejected.value.body)["message"]
    assert message.startswith('admission webhook "webhook.cert-manager.io" denied the request')
    assert "at least one of commonName, dnsNames" in message


def test_a_dry_run_create_is_admitted_and_stores_nothing(kube, namespace):
    created = create_certificate(kube, namespace, certificate("probe", {"name": "any"}, ["probe.example"]),
                                 dry_run=True)
    assert created["metadata"]["name"] == "probe"
    assert resources.get(kube, resources.CERTIFICATE, namespace, "probe") is None


def test_controller_that_cannot_start_is_named_with_its_log(stack):
    with pytest.raises(ComponentFailed) as failed:
        stack.restart_controller(controller_args=["--no-such-flag"])
    message = str(failed.value)
    assert message.startswith("cert-manager-controller: exited with code")
    assert "unknown flag: --no-such-flag" in message
    stack.restart_controller(controller_args=[])
    assert stack.processes["cert-manager-controller"].running()


def crashing_once(tmp_path, real: str) -> Path:
    """A controller that dies at its first start the way cert-manager v1.11 sometimes does, then runs."""
    script, crashed = tmp_path / "cert-manager-controller", tmp_path / "crashed"
    script.write_text(f"""#!/bin/sh
if [ ! -e {crashed} ]; then touch {crashed}; echo 'fatal error: concurrent map read and map write'; exit 2; fi
exec {real} "$@"
""")
    script.chmod(0o755)
    return script


def test_a_controller_that_crashes_at_start_is_restarted_in_its_pod(stack, tmp_path):
    real = stack.bins["cert-manager-controller"]
    stack.bins["cert-manager-controller"] = crashing_once(tmp_path, real)
    crashes = len(stack.controller_crashes)
    try:
        stack.restart_controller()
        pod = stack.controller_pod
        assert stack.processes["cert-manager-controller"].running()
        assert len(stack.controller_crashes) == crashes + 1, stack.controller_crashes
        assert "exited with code 2" in stack.controller_crashes[-1]
        assert "concurrent map read and map write" in stack.log_path("cert-manager-controller").read_text()
        assert stack.controller_pod == pod  # restarted in the same pod: same Lease identity
    finally:
        stack.bins["cert-manager-controller"] = real
        stack.restart_controller()


def test_port_in_use_is_named_and_nothing_is_left_running(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse, match=rf"kube-apiserver: 127.0.0.1:{port} is already in use"):
            LocalStack(run_dir=tmp_path, api_port=port).start()
    assert stack_processes(tmp_path.resolve()) == []


def test_missing_binary_names_the_component_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(MissingBinary) as missing:
        LocalStack(run_dir=tmp_path).start()
    assert missing.value.component == "kube-apiserver"
    assert "certchaos binaries build kube-apiserver" in str(missing.value)
    assert stack_processes(tmp_path.resolve()) == []


def run_until_ready(argv) -> subprocess.Popen:
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []

    def ready() -> Seen:
        line = process.stdout.readline()
        seen.append(line)
        return Seen("ready" in line, "".join(seen[-5:]))

    # A warm local stack is ready in ~15 s; 120 s covers a loaded CI machine.
    wait_for(ready, subject="certchaos up", expected="to print its ready line", timeout=120, interval=0)
    return process


def test_ctrl_c_of_certchaos_up_stops_every_component(tmp_path):
    # A run dir as deep as a mutant's report dir: the webhook jail's unix sockets (108-byte limit) must not
    # live under it.
    run_dir = tmp_path / ("a-run-dir-as-deep-as-a-report-dir-" * 3) / "stack"
    kubeconfig = tmp_path / "kubeconfig"
    up = run_until_ready([sys.executable, "-m", "harness.cli.main", "up", "--run-dir", str(run_dir),
                          "--kubeconfig", str(kubeconfig)])
    try:
        # six components, plus the webhook jail (unshare, its shell, socat bridges)
        assert len(stack_processes(run_dir.resolve())) > 6
        assert kubeconfig.exists()
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0
    finally:
        up.kill()
        up.wait()
    assert stack_processes(run_dir.resolve()) == []
    scratch = sorted(Path("/dev/shm").glob(f"certchaos-*-{up.pid}-*"))
    assert scratch == [], f"etcd data and jail sockets of the stopped stack are left: {scratch}"


FAILING_TEST = """
def test_fails_while_the_stack_runs(certchaos_stack):
    print("STACK_RUN_DIR", certchaos_stack.run_dir)
    assert False, "deliberate failure"
"""


def test_a_failing_test_leaves_nothing_running(tmp_path):
    (tmp_path / "test_failing.py").write_text(FAILING_TEST)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "certchaos", "-s", "-q", str(tmp_path / "test_failing.py")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])),
    )
    assert result.returncode == 1, result.stdout[-2000:]
    run_dir = next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("STACK_RUN_DIR"))
    assert stack_processes(Path(run_dir)) == []
    assert not Path(run_dir).exists()


def test_cert_manager_runs_as_its_chart_service_accounts_with_the_chart_rbac(stack, kube):
    """The components authenticate with their ServiceAccounts' tokens, and the chart's RBAC (not
    system:masters) is what lets them work: a controller token may not read what the chart denies it."""
    from harness.stack.certmanager import SERVICE_ACCOUNTS
    from harness.stack.kube import api_client

    for component, account in SERVICE_ACCOUNTS.items():
        kubeconfig = stack.kubeconfigs[component]
        assert "tokenFile" in kubeconfig.read_text() and "client-certificate" not in kubeconfig.read_text()
        review = client.AuthenticationV1Api(kube).create_token_review(
            {"spec": {"token": Path(yaml_token(kubeconfig)).read_text()}})
        assert review.status.user.username == f"system:serviceaccount:cert-manager:{account}", review.status
    as_controller = api_client(stack.kubeconfigs["cert-manager-controller"])
    try:
        client.CertificatesV1Api(as_controller).list_certificate_signing_request()  # the chart grants this
        with pytest.raises(client.ApiException) as denied:  # and not this: no RBAC to change RBAC
            client.RbacAuthorizationV1Api(as_controller).list_cluster_role()
        assert denied.value.status == 403
    finally:
        as_controller.close()


def yaml_token(kubeconfig: Path) -> str:
    import yaml
    return yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["tokenFile"]


def test_the_controller_holds_the_lease_under_its_pod_hostname(stack, kube):
    from harness.observe.conditions.lease import lease_held_by
    from harness.stack.certmanager import CONTROLLER_LEASE, LEADER_ELECTION_NAMESPACE

    # The session's stack may have had its controller replaced by an earlier test (a crash at start, here or on
    # another module of the same xdist worker): the new one takes the Lease once the old holder's expires, within
    # its 60 s lease duration plus a 15 s retry period (cert-manager's defaults); 30 s more for a loaded machine.
    wait_for(lease_held_by(kube, LEADER_ELECTION_NAMESPACE, CONTROLLER_LEASE, stack.controller_pod),
             subject="Lease kube-system/cert-manager-controller", expected=f"held by {stack.controller_pod}",
             timeout=105)


def test_versions_name_source_and_path_of_every_binary(stack):
    versions = stack.versions()
    assert {"kube-apiserver", "cert-manager-controller", "helm", "etcd"} <= set(versions)
    for name, facts in versions.items():
        assert set(facts) == {"version", "version_from", "source", "origin", "path"}, (name, facts)
        assert Path(facts["path"]).is_file() and facts["source"] in ("cache", "bin-dir", "apt", "apt-fallback")
    assert versions["cert-manager-controller"]["version"] == "v1.11.5"
