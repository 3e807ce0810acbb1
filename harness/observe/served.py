"""The certificate each pod of a workload really serves: a TLS handshake with every pod, not the Service.

Each pod is reached through the API server's pod port-forward (what `kubectl port-forward pod/x` uses): from
the host, to that pod's own port, with nothing of ours on the node or in the pod, whatever node it runs
on and while it terminates. Node IP routes would need host routes to every cluster's pod CIDR (all kind
clusters here share 10.244.0.0/16), and `docker exec` into the node would need a TLS client in the node
image. The handshake runs on the port-forward's websocket itself (harness/observe/portforward.py says why);
an exec (the projected file's serial) shares the ApiClient's request method while it runs, so each
Handshaker has its own.

`ServedCertificates` polls every pod every second and records on the scenario journal, per pod, the serial
and notAfter it serves next to the Secret's serial (an `observed` entry with pod + serial: the report's
"served by <pod>" swimlane), "stale since T" when a pod serves an older certificate than the Secret, every
handshake error (evidence, not a skip), and the Deployment's rollout status and the namespace's pod,
ReplicaSet and Deployment Events. A Ready pod that does not speak TLS fails the observer (harness error).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from cryptography import x509
from kubernetes import client
from kubernetes.stream import stream

from harness.errors import HarnessError
from harness.observe import portforward, tlsinspect
from harness.observe.portforward import NotTls
from harness.observe.resources import SECRET, get
from harness.report.journal import EntryKind
from harness.wait import Condition, Seen

# A handshake through port-forward takes ~0.1-0.5 s here; 10 s means the pod or the API server hangs.
HANDSHAKE_TIMEOUT = 10.0
SERVER_BINARY = "/usr/local/bin/tlsserver"  # the workload image's program (harness/workloads)
# A port-forward stream of a loaded API server now and then times out (seen once in a 30 s window under load):
# one retry, so a "still serves X" window is broken by what the pod serves, not by one lost stream.
HANDSHAKE_ATTEMPTS = 2
POLL = 1.0  # the server reloads within a second of a change (its -poll), so a finer poll sees nothing more
# A Ready pod whose handshake fails this many polls in a row with a TLS protocol error does not speak TLS
# (one failure could be a pod being replaced between the listing and the handshake).
NOT_TLS_AFTER = 2


def _fresh_client(api: client.ApiClient) -> client.ApiClient:
    return client.ApiClient(api.configuration)


class Handshaker:
    """Handshakes with pods through port-forward, and execs in them, on its own ApiClient (the client
    library's exec swaps the ApiClient's request method while it runs: not thread-safe)."""

    def __init__(self, api: client.ApiClient, timeout: float = HANDSHAKE_TIMEOUT):
        self.api = _fresh_client(api)
        self.timeout = timeout
        self._lock = threading.Lock()

    def close(self) -> None:
        self.api.close()

    def certificate(self, namespace: str, pod: str, port: int) -> x509.Certificate:
        """The leaf certificate pod `pod` serves on `port` (unverified). HarnessError (NotTls for a
        protocol error) naming the pod and what was seen when there is none."""
        der = portforward.pod_certificate(self.api, namespace, pod, port, self.timeout)
        return x509.load_der_x509_certificate(der)

    def file_serial(self, namespace: str, pod: str, path: str, container: str = "server") -> str:
        """The serial of the certificate file `path` as the pod sees it (the kubelet's projection), read by
        exec-ing our server's -print-serial in the pod."""
        with self._lock:
            try:
                out = stream(client.CoreV1Api(self.api).connect_get_namespaced_pod_exec, pod, namespace,
                             container=container, command=[SERVER_BINARY, f"-print-serial={path}"],
                             stderr=True, stdin=False, stdout=True, tty=False, _request_timeout=self.timeout)
            except Exception as error:  # noqa: BLE001 - the refusal is what was seen
                raise HarnessError(f"pod {namespace}/{pod}: reading {path} failed: {error}") from None
        try:
            return tlsinspect.normalise_serial(out.strip())
        except ValueError:
            raise HarnessError(f"pod {namespace}/{pod}: {path} holds no certificate: {out.strip()[:200]!r}") from None


@dataclass(frozen=True)
class Target:
    """What to observe: the pods matching `selector`, port `port`, against Secret `secret`."""

    namespace: str
    name: str  # the Deployment
    selector: dict
    secret: str
    port: int

    @property
    def label_selector(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.selector.items())


def _ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def live_pods(api: client.ApiClient, target: Target) -> list[client.V1Pod]:
    """The pods that may serve: Running with an IP (terminating ones too: they still serve until they exit)."""
    found = client.CoreV1Api(api).list_namespaced_pod(target.namespace, label_selector=target.label_selector).items
    return sorted((p for p in found if p.status.phase == "Running" and p.status.pod_ip),
                  key=lambda p: p.metadata.name)


def secret_serial(api: client.ApiClient, namespace: str, secret: str) -> str:
    return tlsinspect.inspect_secret(get(api, SECRET, namespace, secret)).serial


def served(handshaker: Handshaker, api: client.ApiClient, target: Target) -> dict[str, dict]:
    """pod -> {"serial", "not_after", "ready", "terminating"} or {"error", ...}: one handshake per live pod."""
    result = {}
    for pod in live_pods(api, target):
        facts = {"ready": _ready(pod), "terminating": pod.metadata.deletion_timestamp is not None}
        for attempt in range(HANDSHAKE_ATTEMPTS):
            try:
                info = tlsinspect.CertInfo.of(handshaker.certificate(target.namespace, pod.metadata.name, target.port))
                facts.update(serial=info.serial, not_after=info.not_after.isoformat())
                facts.pop("error", None)
                break
            except NotTls as error:
                facts.update(error=str(error), not_tls=True)
                break
            except HarnessError as error:
                facts.update(error=str(error), not_tls=False)
        result[pod.metadata.name] = facts
    return result


def every_pod_file(handshaker: Handshaker, api: client.ApiClient, target: Target, path: str, serial: str,
                   replicas: int) -> Condition:
    """At least `replicas` live pods, and in each the file `path` holds the certificate `serial`."""
    want = tlsinspect.normalise_serial(serial)

    def look() -> Seen:
        seen = {}
        for pod in live_pods(api, target):
            try:
                seen[pod.metadata.name] = handshaker.file_serial(target.namespace, pod.metadata.name, path)
            except HarnessError as error:
                seen[pod.metadata.name] = str(error)
        return Seen(len(seen) >= replicas and all(v == want for v in seen.values()),
                    {"file": path, "expected serial": want, "pods": seen})

    return look


def every_pod_serves(handshaker: Handshaker, api: client.ApiClient, target: Target, replicas: int,
                     serial: str | None = None) -> Condition:
    """At least `replicas` live pods, none terminating, and each serves `serial` (default: the Secret's
    current serial, read at each look)."""

    def look() -> Seen:
        want = tlsinspect.normalise_serial(serial) if serial else secret_serial(api, target.namespace, target.secret)
        pods = served(handshaker, api, target)
        current = {name: facts for name, facts in pods.items() if not facts["terminating"]}
        ok = len(current) >= replicas and len(current) == len(pods) and \
            all(facts.get("serial") == want for facts in current.values())
        return Seen(ok, {"expected serial": want, "pods": {n: f.get("serial") or f.get("error") for n, f in pods.items()}})

    return look


class ServedCertificates:
    """Records what every pod of `target` serves, its Deployment's rollout and Events, until stopped."""

    def __init__(self, scenario, api: client.ApiClient, target: Target, interval: float = POLL):
        self.scenario, self.target, self.interval = scenario, target, interval
        self.api = _fresh_client(api)
        self.handshaker = Handshaker(api)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"served-{target.name}", daemon=True)
        self.last: dict[str, dict] = {}  # pod -> what it served at the last poll
        self.stale_since: dict[str, float] = {}  # pod -> journal offset since when it serves an old certificate
        self.first_served: dict[tuple[str, str], float] = {}  # (pod, serial) -> journal offset first seen
        self._not_tls: dict[str, int] = {}
        self._events: set[str] = set()
        self._rollout: dict | None = None
        self._secret: str | None = None

    def start(self) -> "ServedCertificates":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HANDSHAKE_TIMEOUT * 3)
        self.handshaker.close()
        self.api.close()

    def __enter__(self) -> "ServedCertificates":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _record(self, kind: EntryKind, subject: str, **detail) -> None:
        self.scenario.journal.record(kind, subject, **detail)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except NotTls as error:
                self.scenario.observer_failed(f"served certificates of {self.target.namespace}/{self.target.name}",
                                              error)
                return
            except Exception as error:  # noqa: BLE001 - an API hiccup is evidence; the next poll retries
                self._record(EntryKind.NOTE, f"served-certificate poll of {self.target.name} failed",
                             error=f"{type(error).__name__}: {error}")
            self._stop.wait(self.interval)

    def poll(self) -> None:
        t = self.target
        secret = secret_serial(self.api, t.namespace, t.secret)
        if secret != self._secret:
            self._record(EntryKind.OBSERVED, f"Secret {t.namespace}/{t.secret}", serial=secret, secret_serial=secret)
            self._secret = secret
        now = self.scenario.journal.now()
        pods = served(self.handshaker, self.api, t)
        for pod, facts in pods.items():
            self._judge(pod, facts, secret, now)
        for gone in set(self.last) - set(pods):
            self.stale_since.pop(gone, None)
        self.last = pods
        self._record_rollout()
        self._record_events()

    def _judge(self, pod: str, facts: dict, secret: str, now: float) -> None:
        t = self.target
        before = self.last.get(pod, {})
        if "error" in facts:
            if facts["error"] != before.get("error"):
                self._record(EntryKind.OBSERVED, f"served certificate {t.namespace}/{pod}", pod=pod,
                             handshake_error=facts["error"], ready=facts["ready"], terminating=facts["terminating"])
            self._not_tls[pod] = self._not_tls.get(pod, 0) + 1 if facts.get("not_tls") and facts["ready"] else 0
            if self._not_tls[pod] >= NOT_TLS_AFTER:
                raise NotTls(f"{facts['error']} (the pod is Ready: its readiness probe passes, "
                             f"{self._not_tls[pod]} handshakes in a row failed)")
            return
        self._not_tls[pod] = 0
        serial = facts["serial"]
        self.first_served.setdefault((pod, serial), now)
        stale = serial != secret
        if stale and pod not in self.stale_since:
            self.stale_since[pod] = now
        elif not stale:
            self.stale_since.pop(pod, None)
        if serial != before.get("serial") or stale != before.get("stale"):
            self._record(EntryKind.OBSERVED, f"served certificate {t.namespace}/{pod}", pod=pod, serial=serial,
                         not_after=facts["not_after"], secret_serial=secret, stale=stale,
                         stale_since=self.stale_since.get(pod), terminating=facts["terminating"])
        facts["stale"] = stale

    def _record_rollout(self) -> None:
        t = self.target
        d = client.AppsV1Api(self.api).read_namespaced_deployment(t.name, t.namespace)
        s = d.status
        view = {"generation": d.metadata.generation, "observed": s.observed_generation, "replicas": s.replicas,
                "updated": s.updated_replicas, "ready": s.ready_replicas, "unavailable": s.unavailable_replicas}
        if view != self._rollout:
            self._record(EntryKind.RESOURCE_CONDITION, f"Deployment {t.namespace}/{t.name}", **view)
            self._rollout = view

    def _record_events(self) -> None:
        events = client.CoreV1Api(self.api).list_namespaced_event(self.target.namespace).items
        for e in events:
            if e.involved_object.kind not in ("Pod", "ReplicaSet", "Deployment") or e.metadata.uid in self._events:
                continue
            self._events.add(e.metadata.uid)
            self._record(EntryKind.K8S_EVENT, f"{e.involved_object.kind} {e.involved_object.name}",
                         reason=e.reason, message=e.message, type=e.type, count=e.count)
