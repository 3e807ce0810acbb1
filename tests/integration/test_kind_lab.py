"""The scenario lab on kind: its servers live in anchor containers' network namespaces on the kind network
(harness.stack.kind.labnet), so a pod resolves through the fake DNS and reaches Pebble over TLS, while the
host's own interfaces carry nothing of the lab but loopback; stop leaves no anchor behind.

Needs Docker and `certchaos images build`; runs only with `-m kind` (`make test-kind`).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from pathlib import Path

import pytest
from kubernetes import client

from harness.lab.lab import Lab, LabClient
from harness.stack.kind import images
from harness.stack.kind.engine import DockerEngine
from harness.stack.kind.labnet import ANCHOR_LABEL
from harness.stack.kube import ensure_namespace
from harness.wait import Seen, wait_for

pytestmark = pytest.mark.kind
NAMESPACE = "kind-lab"
# The pod's image is preloaded in the node image (no pull): it starts, asks twice and exits within seconds.
POD_TIMEOUT = 120.0


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


def test_stop_removes_every_anchor(kind_lab, engine):
    cluster = kind_lab.stack.name
    assert engine.docker("ps", "-aq", "--filter", f"label={ANCHOR_LABEL}={cluster}").stdout.split()
    kind_lab.stop()
    assert engine.docker("ps", "-aq", "--filter", f"label={ANCHOR_LABEL}={cluster}").stdout.strip() == ""
    assert engine.docker("ps", "-aq", "--filter", f"name={cluster}").stdout.strip() == ""
