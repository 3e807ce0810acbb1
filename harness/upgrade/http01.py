"""A renewal over HTTP-01 on B, witnessed the whole way (kind): for each name of a Certificate that an HTTP-01
issuer of the setup issues, cert-manager's HTTP-01 Challenge, its solver pod Running, its solver Ingress routing
the token's path, that route serving the key authorization through the lab's ingress controller (the harness's
own GET of http://<name>/.well-known/acme-challenge/<token> at the controller's port 80, where the name's A
record points), Pebble's resolver asking the fake DNS's CA view for the name and getting the controller's
address, the Challenge valid (the CA's verdict on its own GET), and afterwards no solver pod, Service or Ingress.

The witness polls what lives only while a Challenge is open (solver objects, the route) and watches the
Challenges themselves (harness.observe.watch), so a state held for less than a poll is still seen.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field

import requests
from kubernetes import client

from harness.errors import HarnessError
from harness.observe.endstate import SOLVER_LABEL
from harness.observe.resources import CHALLENGE, list_objects
from harness.observe.watch import RESOURCE_CHANGE, ResourceRecorder

CHALLENGE_PATH = "/.well-known/acme-challenge/"
HTTP01 = "HTTP-01"
# What the witness polls lives from the Challenge's Present to its end: at least the self-check's five passes
# 2 s apart (pkg/issuer/acme/http/http.go), so half a second sees every solver object and several GETs.
POLL_INTERVAL = 0.5
# The route is one hop through the controller to the solver pod: milliseconds; 3 s means it hangs (next poll).
REQUEST_TIMEOUT = 3.0
CA_VIEW = "ca_resolver"  # the fake DNS view Pebble's VA resolves through (fakes/dns/resolvers.py)


@dataclass
class ChallengeSeen:
    """One HTTP-01 Challenge as the witness saw it."""

    namespace: str
    name: str
    dns_name: str
    token: str = ""
    states: list[str] = field(default_factory=list)  # each state once, in the order first seen
    pods_running: set[str] = field(default_factory=set)  # solver pods seen Running for it
    ingress_routes: bool = False  # a solver Ingress of it routing the token's path
    key_served: bool = False  # the route answered the key authorization
    last_answer: str | None = None  # the last GET's outcome, for a report that says what was seen

    def view(self) -> dict:
        return {"challenge": f"{self.namespace}/{self.name}", "dnsName": self.dns_name, "states": self.states,
                "solver pods Running": sorted(self.pods_running),
                "solver Ingress routes the token": self.ingress_routes,
                "key authorization served": self.key_served, "last GET": self.last_answer}


def missing(dns_names: list[str], challenges: list[ChallengeSeen], ca_answers: dict[str, list[str]],
            address: str) -> list[str]:
    """What the evidence lacks for a renewal of these names to have gone the whole way over HTTP-01; [] when
    nothing does. `ca_answers`: name -> the A answers the CA view gave after the renewal started."""
    lacking = []
    for name in dns_names:
        if name.startswith("*."):
            continue
        seen = [c for c in challenges if c.dns_name.rstrip(".") == name.rstrip(".")]
        if not seen:
            lacking.append(f"{name}: no HTTP-01 Challenge seen")
            continue
        checks = (("a solver pod Running", any(c.pods_running for c in seen)),
                  ("a solver Ingress routing the token's path", any(c.ingress_routes for c in seen)),
                  ("the key authorization served at the ingress controller", any(c.key_served for c in seen)),
                  ("the Challenge valid (the CA validated it)", any("valid" in c.states for c in seen)),
                  (f"the CA's resolver answered with the controller's address {address}",
                   any(address in answer for answer in ca_answers.get(name, []))))
        lacking += [f"{name}: {what} not seen" for what, ok in checks if not ok]
    return lacking


class Http01Witness:
    """Collects ChallengeSeen per HTTP-01 Challenge of `namespaces` from start() to stop(); errors of its own
    polls are kept (the last one reported), never raised on the thread."""

    def __init__(self, api: client.ApiClient, namespaces: list[str], address: str, port: int,
                 interval: float = POLL_INTERVAL):
        self.api, self.namespaces, self.address, self.port, self.interval = api, namespaces, address, port, interval
        self.challenges: dict[tuple[str, str], ChallengeSeen] = {}
        self.errors: list[str] = []
        self.started_at: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="http01-witness", daemon=True)
        self._recorders = [ResourceRecorder(api, namespace, self._recorded, kinds=(CHALLENGE,))
                           for namespace in namespaces]

    def start(self, synced_within: float = 30.0) -> "Http01Witness":
        self.started_at = time.time()
        for recorder in self._recorders:
            recorder.start()
        if not all(recorder.wait_synced(synced_within) for recorder in self._recorders):
            self.stop()
            raise HarnessError(f"HTTP-01 witness: the Challenge watch of {', '.join(self.namespaces)} did not list "
                               f"within {synced_within:g}s")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for recorder in self._recorders:
            recorder.stop()

    def seen(self) -> list[ChallengeSeen]:
        """A copy of what was seen so far (the thread goes on updating its own)."""
        with self._lock:
            return copy.deepcopy(list(self.challenges.values()))

    def _challenge(self, namespace: str, name: str, dns_name: str) -> ChallengeSeen:
        return self.challenges.setdefault((namespace, name), ChallengeSeen(namespace, name, dns_name))

    def _recorded(self, kind: str, subject: str, detail: dict) -> None:
        if kind != RESOURCE_CHANGE or detail.get("type") != HTTP01 or not detail.get("state"):
            return
        namespace, name = subject.split(" ", 1)[1].split("/", 1)
        with self._lock:
            seen = self._challenge(namespace, name, detail.get("dnsName") or "")
            if detail["state"] not in seen.states:
                seen.states.append(detail["state"])

    def _run(self) -> None:
        while not self._stop.is_set():
            for namespace in self.namespaces:
                try:
                    self.poll(namespace)
                except Exception as error:  # noqa: BLE001 - an API hiccup: kept, the next poll tries again
                    self.errors.append(f"{type(error).__name__}: {error}")
            self._stop.wait(self.interval)

    def poll(self, namespace: str) -> None:
        """One look at the namespace's open HTTP-01 Challenges, their solver pods and Ingresses, and a GET of
        each route whose key has not been served yet."""
        open_ = {c["metadata"]["name"]: c for c in list_objects(self.api, CHALLENGE, namespace)
                 if (c.get("spec") or {}).get("type") == HTTP01}
        if not open_:
            return
        core, networking = client.CoreV1Api(self.api), client.NetworkingV1Api(self.api)
        pods = core.list_namespaced_pod(namespace, label_selector=SOLVER_LABEL).items
        ingresses = networking.list_namespaced_ingress(namespace, label_selector=SOLVER_LABEL).items
        for name, challenge in open_.items():
            spec = challenge["spec"]
            token = spec.get("token") or ""
            running = {pod.metadata.name for pod in pods if _owner(pod) == name and pod.status.phase == "Running"}
            routes = any(_owner(ingress) == name and _routes(ingress, token) for ingress in ingresses)
            with self._lock:
                seen = self._challenge(namespace, name, spec.get("dnsName") or "")
                seen.token = token
                state = (challenge.get("status") or {}).get("state")
                if state and state not in seen.states:
                    seen.states.append(state)
                seen.pods_running |= running
                seen.ingress_routes = seen.ingress_routes or routes
                probe = seen.ingress_routes and not seen.key_served and bool(token)
            if probe:
                served, answer = self._get(seen.dns_name, token, spec.get("key") or "")
                with self._lock:
                    seen.key_served, seen.last_answer = seen.key_served or served, answer

    def _get(self, host: str, token: str, key: str) -> tuple[bool, str]:
        """The challenge path at the controller, as Pebble's VA asks it (Host: the name, port 80)."""
        try:
            answer = requests.get(f"http://{self.address}:{self.port}{CHALLENGE_PATH}{token}",
                                  headers={"Host": host}, allow_redirects=False, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as error:
            return False, f"{type(error).__name__}: {error}"
        served = answer.status_code == 200 and answer.text.strip() == key
        return served, f"{answer.status_code} " + ("the key authorization" if served else repr(answer.text[:80]))

    def ca_answers(self, dns, names: list[str]) -> dict[str, list[str]]:
        """name -> the A answers the fake DNS's CA view gave for it since start() (`dns`: the lab's DnsControl)."""
        found: dict[str, list[str]] = {}
        for name in names:
            absolute = name.rstrip(".") + "."
            for entry in dns.log(kind="query", name=absolute, type="A", view=CA_VIEW, since=self.started_at):
                found.setdefault(name, []).extend(entry.get("answers") or [])
        return found


def _owner(obj) -> str | None:
    return next((ref.name for ref in obj.metadata.owner_references or [] if ref.kind == "Challenge"), None)


def _routes(ingress, token: str) -> bool:
    return bool(token) and any(path.path == f"{CHALLENGE_PATH}{token}"
                               for rule in ingress.spec.rules or [] for path in (rule.http.paths if rule.http else []))
