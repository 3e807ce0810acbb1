"""Putting the reload scenarios' workloads and reloader into a kind cluster, and taking them out again.

Images reach the node by `kind load` (no registry); every object lives in the scenario's namespace, so
deleting the namespace removes it. A workload that does not become ready is one HarnessError naming each
pod and what was seen (phase, container state, the last Events): the scenario ends as a harness error.
"""

from __future__ import annotations

import subprocess
from urllib.parse import urlparse

from kubernetes import client, utils
from kubernetes.client.rest import ApiException

from harness.errors import HarnessError
from harness.stack import binaries
from harness.stack.kind.engine import DockerEngine
from harness.wait import Seen, WaitTimeout, wait_for
from harness.workloads.manifests import Workload, deployment, service

# `kind load` copies the image into the node's containerd: ~2-10 s for our 10-30 MB images under load.
LOAD_TIMEOUT = 300.0
EVENTS_SHOWN = 4  # the last Events of a pod that never became ready: enough to see why


def cluster_of(api: client.ApiClient, engine: DockerEngine) -> str:
    """The kind cluster whose API server `api` talks to: the control-plane container publishing its port
    (kind publishes 127.0.0.1:<port> -> 6443). Works for the stack and for the lab alike."""
    port = urlparse(api.configuration.host).port
    listing = engine.docker("ps", "--filter", "label=io.x-k8s.kind.role=control-plane", "--format",
                            '{{.Label "io.x-k8s.kind.cluster"}} {{.Ports}}').stdout
    for line in listing.splitlines():
        name, _, ports = line.partition(" ")
        if f":{port}->6443/tcp" in ports:
            return name
    raise HarnessError(f"no kind cluster publishes the API server port {port} ({api.configuration.host}); "
                       f"running control planes: {listing.strip() or 'none'}")


def load_images(api: client.ApiClient, *tags: str, what: str = "image", bin_dir=None) -> None:
    """`kind load docker-image` into the cluster of `api`; a tag Docker does not have is a clear error."""
    engine = DockerEngine()
    missing = [tag for tag in tags if engine.docker("image", "inspect", tag, check=False).returncode != 0]
    if missing:
        raise HarnessError(f"{what} {', '.join(missing)} is not in Docker. Fix: build ours with "
                           "`certchaos images build`, or `docker load`/`docker pull` your own image first")
    kind = binaries.resolve("kind", bin_dir).path
    command = [str(kind), "load", "docker-image", "--name", cluster_of(api, engine), *tags]
    result = subprocess.run(command, capture_output=True, text=True, env=engine.env(), timeout=LOAD_TIMEOUT)
    if result.returncode != 0:
        raise HarnessError(f"`{' '.join(command)}` failed (exit {result.returncode}): {result.stderr.strip()}")


def create(api: client.ApiClient, namespace: str, objects: list[dict]) -> None:
    for obj in objects:
        try:
            utils.create_from_dict(api, obj, namespace=namespace)
        except utils.FailToCreateError as error:
            raise HarnessError(f"creating {obj['kind']} {namespace}/{obj['metadata']['name']} failed: "
                               f"{'; '.join(str(e.reason) + ' ' + str(e.body)[:300] for e in error.api_exceptions)}")


def pod_view(api: client.ApiClient, pod: client.V1Pod) -> dict:
    """What a pod looks like to someone asking why it is not ready."""
    states = []
    for status in pod.status.container_statuses or []:
        state = status.state
        if state.waiting:
            states.append(f"{status.name} waiting {state.waiting.reason}: {state.waiting.message or ''}".strip())
        elif state.terminated:
            states.append(f"{status.name} terminated {state.terminated.reason} exit {state.terminated.exit_code}: "
                          f"{(state.terminated.message or '').strip()}")
        else:
            states.append(f"{status.name} running, ready={status.ready}, restarts={status.restart_count}")
    events = client.CoreV1Api(api).list_namespaced_event(
        pod.metadata.namespace, field_selector=f"involvedObject.name={pod.metadata.name}").items
    events.sort(key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
    return {"phase": pod.status.phase, "containers": states or ["none started"],
            "events": [f"{e.reason}: {e.message}" for e in events[-EVENTS_SHOWN:]]}


def pods(api: client.ApiClient, namespace: str, selector: dict[str, str]) -> list[client.V1Pod]:
    label = ",".join(f"{k}={v}" for k, v in selector.items())
    return client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=label).items


def rolled_out(api: client.ApiClient, namespace: str, name: str) -> Seen:
    """The Deployment's latest generation is rolled out: every replica updated and ready, no old one left."""
    d = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
    s, want = d.status, d.spec.replicas
    view = {"generation": d.metadata.generation, "observed": s.observed_generation, "replicas": s.replicas,
            "updated": s.updated_replicas, "ready": s.ready_replicas, "available": s.available_replicas}
    done = (s.observed_generation or 0) >= d.metadata.generation and s.updated_replicas == want \
        and s.ready_replicas == want and s.replicas == want
    return Seen(done, view)


def wait_rolled_out(api: client.ApiClient, namespace: str, name: str, selector: dict[str, str], timeout: float) -> None:
    """Wait until the Deployment is rolled out; else HarnessError naming every pod and what it showed."""
    try:
        wait_for(lambda: rolled_out(api, namespace, name), subject=f"Deployment {namespace}/{name}",
                 expected="every replica updated and ready", timeout=timeout, interval=1.0)
    except WaitTimeout as error:
        seen = {p.metadata.name: pod_view(api, p) for p in pods(api, namespace, selector)}
        raise HarnessError(f"workload {namespace}/{name} did not become ready within {timeout:.0f}s "
                           f"(last seen {error.last}); its pods: {seen or 'none'}") from None


def deploy(api: client.ApiClient, namespace: str, workload: Workload, image: str, timeout: float) -> None:
    create(api, namespace, [deployment(workload, image), service(workload)])
    wait_rolled_out(api, namespace, workload.name, workload.selector, timeout)


def restart(api: client.ApiClient, namespace: str, name: str, reason: str) -> None:
    """A rollout for another reason than the Secret (what `kubectl rollout restart` does: a template
    annotation), e.g. a new release of the workload."""
    patch = {"spec": {"template": {"metadata": {"annotations": {"certchaos.io/restarted-for": reason}}}}}
    try:
        client.AppsV1Api(api).patch_namespaced_deployment(name, namespace, patch)
    except ApiException as error:
        raise HarnessError(f"restarting Deployment {namespace}/{name}: {error.status} {error.reason}") from None
