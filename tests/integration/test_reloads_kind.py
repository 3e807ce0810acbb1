"""The reload bench against a real kind cluster: the reloader stand-in's contract (which Deployments roll,
the variable and its value) and the bad inputs (a workload that never gets ready, a missing reloader image,
a pod that does not speak TLS), each one clear error naming what was seen. Also the stand-in's Go tests.

The kind tests need Docker and `certchaos images build`; they run only with `-m kind` (`make test-kind`).
"""

from __future__ import annotations

import subprocess
import uuid

import pytest
from kubernetes import client

from harness.chaos.scenario import Scenario
from harness.errors import HarnessError
from harness.lab.issuers import make_ca_issuer
from harness.observe.conditions.certificates import certificate_ready
from harness.observe.served import every_pod_serves
from harness.report.journal import EntryKind, Journal, ScenarioInfo
from harness.stack.binaries import GOMODULES
from harness.stack.gotoolchain import find_go
from harness.stack.kube import ensure_namespace
from harness.wait import Seen, WaitTimeout, wait_for
from harness.workloads import deploy, reloader
from harness.workloads.lab import ReloadBench, prepare_images
from harness.workloads.manifests import Workload

# A CA Issuer signs in seconds; the rollout of 1-replica workloads takes 5-40 s under load: 180 s margins.
SETTLE = 180.0


def test_the_stand_ins_go_tests_pin_the_contract():
    """Variable name table, SHA1 of sorted pairs, which annotations roll what (gomodules/reloader/main_test.go).
    -vet=off: go vet hangs on this machine's loaded toolchain; the tests themselves take under a second."""
    go = find_go()
    if go is None:
        pytest.skip("needs the Go toolchain")
    result = subprocess.run([go, "test", "-vet=off", "-count=1", "."], cwd=GOMODULES / "reloader",
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def cluster(request):
    from harness.stack.kind.provider import KindStack
    with KindStack() as stack:
        prepare_images(stack.api(), None)
        yield stack


@pytest.fixture
def bench(cluster, tmp_path):
    api = cluster.api()
    namespace = f"reloads-{uuid.uuid4().hex[:6]}"
    ensure_namespace(api, namespace)
    run = Scenario(Journal(tmp_path / "journal.json", ScenarioInfo("reloads", "bench", "")))
    made = ReloadBench(run, api, namespace, reloader.RELOADER_STANDIN_IMAGE)
    yield made
    made.close()
    client.CoreV1Api(api).delete_namespace(namespace, propagation_policy="Background")


def _certificate(api, namespace, name, issuer=None):
    issuer = issuer or make_ca_issuer(api, namespace)
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "cert-manager.io", "v1", namespace, "certificates",
        {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name},
         "spec": {"secretName": name, "issuerRef": issuer, "dnsNames": [f"{name}.example"]}})
    wait_for(certificate_ready(api, namespace, name), subject=name, expected="Ready", timeout=SETTLE)


@pytest.mark.kind
def test_the_stand_in_rolls_only_annotated_deployments_of_the_changed_secret(bench):
    api, ns = bench.api, bench.namespace
    issuer = make_ca_issuer(api, ns)  # one CA issuer for both Secrets (a second would collide by name)
    for name in ("web", "other"):
        _certificate(api, ns, name, issuer)
    bench.install_reloader()
    for name, secret, how in (("auto", "web", "auto"), ("named", "web", "named"), ("plain", "web", None),
                              ("unrelated", "other", "auto")):
        bench.deploy(Workload(name, secret, consumer="volume", mode="once", replicas=1, reloader=how))
    apps = client.AppsV1Api(api)
    generations = {d.metadata.name: d.metadata.generation for d in apps.list_namespaced_deployment(ns).items}
    # A metadata-only change of the Secret rolls nothing; then a data change rolls the annotated two.
    client.CoreV1Api(api).patch_namespaced_secret("web", ns, {"metadata": {"labels": {"touched": "yes"}}})
    patch = {"data": {"extra": "YQ=="}}
    client.CoreV1Api(api).patch_namespaced_secret("web", ns, patch)
    want = reloader.data_hash(client.CoreV1Api(api).read_namespaced_secret("web", ns).data)

    def rolled() -> Seen:
        env = {d.metadata.name: {e.name: e.value for e in d.spec.template.spec.containers[0].env or []}
               for d in apps.list_namespaced_deployment(ns).items}
        return Seen(all(env[n].get("STAKATER_WEB_SECRET") == want for n in ("auto", "named")), env)

    wait_for(rolled, subject="annotated Deployments", expected="STAKATER_WEB_SECRET = the data hash", timeout=60)
    after = {d.metadata.name: d.metadata.generation for d in apps.list_namespaced_deployment(ns).items}
    assert after["plain"] == generations["plain"] and after["unrelated"] == generations["unrelated"]
    assert after["auto"] == generations["auto"] + 1 and after["named"] == generations["named"] + 1, (
        f"one rollout each, not one per event: {generations} -> {after}")


@pytest.mark.kind
def test_a_workload_that_never_gets_ready_is_one_error_naming_its_pods(bench, monkeypatch):
    monkeypatch.setattr("harness.workloads.lab.READY", 30.0)  # it crashes at once: no need to wait longer
    with pytest.raises(HarnessError, match=r"did not become ready.*no-such-secret") as error:
        bench.deploy(Workload("broken", "no-such-secret", consumer="volume", replicas=1))
    assert "broken-" in str(error.value)  # the pod's name


@pytest.mark.kind
def test_a_missing_reloader_image_is_a_clear_error(cluster):
    with pytest.raises(HarnessError, match="reloader image example.invalid/reloader:none is not in Docker"):
        prepare_images(cluster.api(), "example.invalid/reloader:none")


@pytest.mark.kind
def test_a_ready_pod_that_does_not_speak_tls_fails_the_observer_naming_the_pod(bench):
    _certificate(bench.api, bench.namespace, "web")
    bench.deploy(Workload("plain", "web", consumer="volume", replicas=1, protocol="http"))
    wait_for(lambda: Seen(bool(bench.scenario._observer_errors), bench.scenario._observer_errors),
             subject="the observer", expected="to fail", timeout=60)
    [message] = bench.scenario._observer_errors
    assert "does not speak TLS" in message and "plain-" in message
    with pytest.raises(WaitTimeout):
        wait_for(every_pod_serves(bench.handshaker, bench.api, bench.targets["plain"], 1), subject="plain",
                 expected="TLS", timeout=5)
    entries = [e for e in bench.scenario.journal.entries if e.kind == EntryKind.OBSERVED and "handshake_error" in e.detail]
    assert entries, "every failed handshake is evidence on the journal"
