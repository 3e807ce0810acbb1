"""The scenario lab on kind: its servers live in anchor containers' network namespaces on the kind network
(harness.stack.kind.labnet), so a pod resolves through the fake DNS and reaches Pebble over TLS, while the
host's own interfaces carry nothing of the lab but loopback; stop leaves no anchor behind.

Needs Docker and `certchaos images build`; runs only with `-m kind` (`make test-kind`).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client

from harness.errors import HarnessError
from harness.lab.lab import Lab, LabClient
from harness.stack import certmanager
from harness.stack.kind import images
from harness.stack.kind.engine import DockerEngine
from harness.stack.kind.labnet import ANCHOR_LABEL
from harness.stack.kube import ensure_namespace
from harness.wait import Seen, wait_for

pytestmark = pytest.mark.kind
NAMESPACE = "kind-lab"
REPO = Path(__file__).resolve().parents[2]
# The pod's image is preloaded in the node image (no pull): it starts, asks twice and exits within seconds.
POD_TIMEOUT = 120.0
# `certchaos explore` on this lab: its steps within the 60 s budget, then liveness (one issuance, 120 s) and the
# end checks; the budget is spent before a second example. Doubled for a loaded 2-core machine.
EXPLORE_TIMEOUT = 600


@pytest.fixture(scope="module")
def engine() -> DockerEngine:
    with DockerEngine() as running:
        yield running


@pytest.fixture(scope="module")
def kind_lab(engine, tmp_path_factory) -> Lab:
    started = time.monotonic()
    lab = Lab(provider="kind", run_dir=tmp_path_factory.mktemp("kind-lab")).start()
    print(f"kind lab up in {time.monotonic() - started:.0f}s")
    try:
        yield lab
    finally:
        lab.stop()


def run_pod(api: client.ApiClient, name: str, script: str, dns: str, config_map: dict) -> tuple[str, str]:
    """Run `script` (sh) in a pod whose resolv.conf names only `dns` and that mounts `config_map` at /in;
    returns its phase and log."""
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": name}, "data": config_map})
    core.create_namespaced_pod(NAMESPACE, {
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                 "dnsPolicy": "None", "dnsConfig": {"nameservers": [dns]},
                 "containers": [{"name": "probe", "image": images.NETBASE_IMAGE, "imagePullPolicy": "Never",
                                 "command": ["sh", "-c", script],
                                 "volumeMounts": [{"name": "in", "mountPath": "/in"}]}],
                 "volumes": [{"name": "in", "configMap": {"name": name}}]}})

    def finished() -> Seen:
        pod = core.read_namespaced_pod(name, NAMESPACE)
        return Seen(pod.status.phase in ("Succeeded", "Failed"), pod.status.phase)

    phase = wait_for(finished, subject=f"pod {NAMESPACE}/{name}", expected="to finish", timeout=POD_TIMEOUT,
                     interval=1.0)
    return phase, core.read_namespaced_pod_log(name, NAMESPACE)


def test_a_pod_resolves_through_the_fake_dns_and_reaches_pebble_over_tls(kind_lab):
    lab = LabClient(kind_lab.info)
    try:
        ensure_namespace(lab.kube, NAMESPACE)
        # A fresh record only the fake DNS knows: resolving it proves the pod asked the fake.
        lab.dns.add_record(f"probe.{lab.info.zone}", "A", "192.0.2.53")
        host, port = lab.info.pebble_listen
        phase, log = run_pod(
            lab.kube, "reach", dns=lab.info.dns_nameservers["cluster-dns"][0],
            config_map={"ca.crt": Path(lab.info.pebble_ca_bundle_path).read_text()},
            # kubectl --raw is the image's TLS client: it verifies Pebble's certificate against the run CA (a
            # token, which Pebble ignores, keeps kubectl from prompting for a user name).
            script=f"getent hosts probe.{lab.info.zone.rstrip('.')} && "
                   f"kubectl get --raw /dir --server=https://{host}:{port} --certificate-authority=/in/ca.crt "
                   "--token=certchaos")
    finally:
        lab.close()
    assert phase == "Succeeded", log
    first, _, rest = log.partition("\n")
    assert first.split()[0] == "192.0.2.53"
    assert "newOrder" in json.loads(rest[rest.index("{"):])


def test_nothing_of_the_lab_listens_on_the_hosts_non_loopback_addresses(kind_lab):
    ports = {int(url.rsplit(":", 1)[1].split("/")[0]) for url in (
        kind_lab.info.dns_control_url, kind_lab.info.toxiproxy_url, kind_lab.info.pebble_management_url)}
    ports |= {kind_lab.info.pebble_listen[1], 53, kind_lab.info.dns_authoritative[1]}
    listening = subprocess.run(["ss", "-Htlnup"], capture_output=True, text=True, check=True).stdout.splitlines()
    exposed = []
    for line in listening:
        local = line.split()[4]
        address, _, port = local.rpartition(":")
        address = address.strip("[]").split("%")[0]
        if int(port) in ports and not ipaddress.ip_address(address if address != "*" else "0.0.0.0").is_loopback:
            exposed.append(line)
    assert not exposed
    # ... while the anchors' servers do listen, in their own namespaces (the check above can fail).
    assert kind_lab.info.pebble_listen[0] not in ("127.0.0.1", "0.0.0.0")


def test_a_short_exploration_of_the_kind_lab_reports_its_schedule_and_leaves_nothing_of_its_examples(
        kind_lab, tmp_path):
    """`certchaos explore --attach` on this cluster (a cluster of its own would cost minutes more): one schedule with
    faults made on kind (the controller's pod, the namespace's webhook proxy, the CA's answers through the layer in
    its anchor's network namespace), judged; then no namespace, proxy, ACME route or webhook registration of it."""
    report = tmp_path / "explore"
    faults = "controller-restart,webhook-down,acme-bad-nonce"
    result = subprocess.run([sys.executable, "-m", "harness.cli", "explore", "--attach", str(kind_lab.info_path),
                             "--budget", "60s", "--max-steps", "3", "--seed", "1", "--faults", faults,
                             "--database", str(tmp_path / "db"), "--report-dir", str(report), "--json"],
                            cwd=REPO, capture_output=True, text=True, timeout=EXPLORE_TIMEOUT)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    facts = json.loads(result.stdout)
    assert facts["faults"] == faults.split(",") and facts["coverage"]["pairs_possible"] == 3
    # Each example judged: passed, or deviated by the lifecycle invariants (then exit 1 and a replay). What
    # cert-manager does under a controller restart is for the exploration to find, not for this test to vouch for
    # (CI's load once gave v1.11.5 a re-issue for 'DoesNotExist' of a Certificate just issued); the local test
    # (test_explore.py) holds it to no failure. Never a harness error: that is certchaos's.
    statuses = [e["status"] for e in facts["examples"]]
    assert set(statuses) <= {"passed", "deviated", "interrupted"}, result.stderr[-3000:]
    assert result.returncode == (1 if facts["failures"] else 0) == (1 if "deviated" in statuses else 0)
    assert not facts["failures"] or Path(facts["replay"]).exists()
    judged = [e for e in facts["examples"] if e["status"] == "passed"]
    assert judged, result.stderr[-3000:]
    journal = json.loads((report / judged[0]["journal"]).read_text())
    assert journal["environment"]["provider"] == "kind"
    assert any(e["subject"] == "end state" for e in journal["entries"])  # judged to its end: liveness, invariants
    lab = LabClient(kind_lab.info)
    try:
        for example in facts["examples"]:
            ns = example["namespace"]
            namespace = client.CoreV1Api(lab.kube).list_namespace(field_selector=f"metadata.name={ns}").items
            assert not namespace or namespace[0].metadata.deletion_timestamp, f"{ns} not being deleted"
            proxies = lab.toxiproxy.request("GET", "/proxies").json()
            assert not {f"acme-{ns}", f"webhook-{ns}"} & set(proxies)
            with pytest.raises(HarnessError, match="404"):
                lab.acme_layer.call("GET", f"/routes/acme-{ns}/journal")
            registrations = client.AdmissionregistrationV1Api(lab.kube).list_validating_webhook_configuration()
            assert f"{certmanager.WEBHOOK_NAME}-{ns}" not in {r.metadata.name for r in registrations.items}
    finally:
        lab.close()


def test_stop_removes_every_anchor(kind_lab, engine):
    cluster = kind_lab.stack.name
    assert engine.docker("ps", "-aq", "--filter", f"label={ANCHOR_LABEL}={cluster}").stdout.split()
    kind_lab.stop()
    assert engine.docker("ps", "-aq", "--filter", f"label={ANCHOR_LABEL}={cluster}").stdout.strip() == ""
    assert engine.docker("ps", "-aq", "--filter", f"name={cluster}").stdout.strip() == ""
