"""The lab's AWS front: TLS under AWS's own host names (route53/sts/iam.amazonaws.com, signed by the lab CA),
forwarding every request unchanged to moto, which checks its signature and IAM policy, and answering as AWS does.

What it adds to moto, each because cert-manager's Route 53 solver acts on it:
- Route 53's error envelope (errors.py): moto's refusal reads as an empty code to aws-sdk-go.
- The hosted zone's records as the fake DNS's answer: an accepted ChangeResourceRecordSets replaces the changed
  names' TXT RRsets in the fake DNS (its control API) with what moto now holds, and the answer carries a change id
  of its own (moto gives every change the same one). GetChange says PENDING until the fake DNS's `view` (the
  zone's public nameservers) serves the change, then INSYNC, as Route 53 does once its nameservers have it.
- Access keys' status: moto accepts a deactivated key; AWS refuses it (InvalidClientTokenId) before any policy.
- Fault switches per hosted zone: answer an action with Throttling or PriorRequestNotComplete instead of
  forwarding it, or keep a zone's changes PENDING.
- A journal of every answer (action, principal's access key, zone, status, code), which scenarios read as the
  API's side of the story.

Its control API shares the port, under /_lab/ (the SDK never asks there):
    GET /_lab/journal?since=EPOCH   answers, oldest first
    GET /_lab/faults | POST /_lab/faults {"action","zone"?,"answer"} -> {"id"} | DELETE /_lab/faults/ID
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import ssl
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

from harness.errors import HarnessError
from harness.stack.aws.errors import (FAULT_ANSWERS, INVALID_CLIENT_TOKEN, ROUTE53_NAMESPACE, AwsError, parse,
                                      reshaped)
from harness.stack.aws.motoserver import route53_resource
from harness.stack.netns import in_netns
from harness.stack.pki import KeyPair
from harness.stack.ports import LOOPBACK
from harness.stack.service import ServerThread, Service

# sts.us-east-1: aws-sdk-go-v2 (cert-manager from v1.15 on) assumes a role at the regional STS endpoint of the
# Issuer's region (the lab's: us-east-1), where aws-sdk-go v1 (cert-manager v1.11) used the global one.
HOSTS = ("route53.amazonaws.com", "sts.amazonaws.com", "sts.us-east-1.amazonaws.com", "iam.amazonaws.com")
PENDING = "PENDING"  # a fault answer: the zone's changes never reach INSYNC
ANSWERS = (*FAULT_ANSWERS, PENDING)
UPSTREAM_TIMEOUT = 30.0  # moto answers from memory; 30 s only guards against a hung emulator
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_CHANGE_ID = re.compile(r"<Id>/change/[^<]*</Id>")
_STATUS = re.compile(r"<Status>[A-Z]+</Status>")


@dataclass(frozen=True)
class Answer:
    """One request the front answered: what the API's side of a scenario shows."""

    at: float
    service: str
    action: str
    principal: str  # the access key id the request was signed with ("" unsigned)
    zone: str | None  # the hosted zone id the request acts on, if any
    status: int
    code: str  # the AWS error code ("" for a success)
    detail: str  # the error message, or the change's status for ChangeResourceRecordSets / GetChange


@dataclass(frozen=True)
class Fault:
    id: str
    action: str  # "ChangeResourceRecordSets", "GetChange", ...
    answer: str  # a code of FAULT_ANSWERS, or PENDING
    zone: str | None = None  # None: every zone


@dataclass
class _Change:
    zone: str
    expected: dict[str, set[str]]  # name -> the TXT values the zone holds after the change


def route53_action(method: str, path: str) -> str:
    """The Route 53 operation a REST request names (only those cert-manager calls are told apart)."""
    path = path.split("?", 1)[0]
    if method == "POST" and re.fullmatch(r"/2013-04-01/hostedzone/[^/]+/rrset/?", path):
        return "ChangeResourceRecordSets"
    if method == "GET" and path.startswith("/2013-04-01/change/"):
        return "GetChange"
    if method == "GET" and path.startswith("/2013-04-01/hostedzonesbyname"):
        return "ListHostedZonesByName"
    if method == "GET" and re.fullmatch(r"/2013-04-01/hostedzone/[^/]+/rrset/?", path):
        return "ListResourceRecordSets"
    return f"{method} {path}"


def changed_names(body: bytes) -> list[tuple[str, str]]:
    """(name, type) of each change in a ChangeResourceRecordSets request body."""
    root = ElementTree.fromstring(body)
    changes = []
    for rrset in root.iter(f"{{{ROUTE53_NAMESPACE}}}ResourceRecordSet"):
        name = rrset.findtext(f"{{{ROUTE53_NAMESPACE}}}Name") or ""
        rtype = rrset.findtext(f"{{{ROUTE53_NAMESPACE}}}Type") or ""
        changes.append((name.rstrip(".").lower() + ".", rtype))
    return changes


class AwsFront(Service):
    """The front on a loopback port. `records(zone_id, name, type)` reads a zone's values and TTL from moto (as
    the administrator); `publish(name, type, values, ttl)` makes them the fake DNS's answer; `visible(name, type)` is what
    the zone's public nameservers serve now; `key_active(key_id)` is an access key's status (None: no user's key,
    e.g. an assumed role's)."""

    def __init__(self, upstream: tuple[str, int], serving: KeyPair, *,
                 records: Callable[[str, str, str], tuple[list[str], int]],
                 publish: Callable[[str, str, list[str], int], None],
                 visible: Callable[[str, str], list[str]],
                 key_active: Callable[[str], bool | None] = lambda key_id: None,
                 host: str = LOOPBACK, port: int = 0, netns: str | None = None):
        self.upstream = upstream
        self.serving = serving
        self.records, self.publish, self.visible, self.key_active = records, publish, visible, key_active
        self.host, self.port = host, port
        self.netns = netns  # kind: listen inside this network namespace (an anchor's), where pods reach it
        self._serving: ServerThread | None = None
        self._lock = threading.Lock()
        self._journal: list[Answer] = []
        self._faults: dict[str, Fault] = {}
        self._changes: dict[str, _Change] = {}

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def control_url(self) -> str:
        return f"https://{self.host}:{self.port}/_lab"

    def _start(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.serving.cert), str(self.serving.key))
        handler = type("Handler", (_Handler,), {"front": self})
        make = lambda: _TlsServer((self.host, self.port), handler, context)  # noqa: E731
        # The listening socket stays in the namespace it was made in; its connections to moto go from this
        # process's own threads, on loopback.
        self._serving = ServerThread(in_netns(self.netns, make) if self.netns else make(), "aws-front")
        self.port = self._serving.port

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    # -- state -------------------------------------------------------------------------------------

    def journal(self, since: float = 0.0) -> list[Answer]:
        with self._lock:
            return [answer for answer in self._journal if answer.at >= since]

    def add_fault(self, action: str, answer: str, zone: str | None = None) -> Fault:
        if answer not in ANSWERS:
            raise HarnessError(f"aws front: unknown fault answer {answer!r}. Fix: use one of {', '.join(ANSWERS)}")
        fault = Fault(secrets.token_hex(4), action, answer, zone)
        with self._lock:
            self._faults[fault.id] = fault
        return fault

    def remove_fault(self, fault_id: str) -> None:
        with self._lock:
            self._faults.pop(fault_id, None)

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults.values())

    def _fault_for(self, action: str, zone: str | None) -> Fault | None:
        with self._lock:
            return next((fault for fault in self._faults.values()
                         if fault.action == action and fault.zone in (None, zone)), None)

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self._journal.append(answer)

    # -- one request -------------------------------------------------------------------------------

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        """What AWS would answer to this request (forwarded to moto unless a fault answers it)."""
        service = headers.get("Host", "").split(":")[0].split(".")[0]
        principal = (_CREDENTIAL.search(headers.get("Authorization", "")) or [None, ""])[1]
        if service == "route53":
            action = route53_action(method, path)
            zone = self._zone_of(action, path)
        else:
            action = _query_action(path, body)
            zone = None
        fault = self._fault_for(action, zone)
        refusal = (INVALID_CLIENT_TOKEN if principal and self.key_active(principal) is False
                   else FAULT_ANSWERS.get(fault.answer) if fault is not None else None)
        if refusal is not None:
            self._record(Answer(time.time(), service, action, principal, zone, refusal.status, refusal.code,
                                refusal.message))
            return refusal.status, {"Content-Type": "text/xml"}, refusal.body(service)
        status, response_headers, response = self._forward(method, path, headers, body)
        code, detail = "", ""
        if service == "route53" and status >= 400:
            response = reshaped(status, response, route53_resource(path)) or response
            response_headers["Content-Type"] = "text/xml"
        elif action == "ChangeResourceRecordSets":
            response, detail = self._accepted_change(zone, body, response)
        elif action == "GetChange":
            response, detail = self._change_status(path, response, pending=fault is not None)
        if status >= 400:
            error = _error_of(response)
            code, detail = error.code, error.message
        self._record(Answer(time.time(), service, action, principal, zone, status, code, detail))
        return status, response_headers, response

    def _zone_of(self, action: str, path: str) -> str | None:
        match = re.match(r"/2013-04-01/(hostedzone|change)/([^/?]+)", path)
        if match is None:
            return None
        kind, ident = match.groups()
        if kind == "hostedzone":
            return ident
        with self._lock:
            change = self._changes.get(ident)
        return change.zone if change else None

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=UPSTREAM_TIMEOUT)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            passed = {key: value for key, value in response.getheaders()
                      if key.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date")}
            return response.status, passed, response.read()
        finally:
            connection.close()

    def _accepted_change(self, zone: str, request: bytes, response: bytes) -> tuple[bytes, str]:
        """Mirror the changed names into the fake DNS; answer with a change id of the front's, PENDING."""
        expected = {}
        for name, rtype in changed_names(request):
            values, ttl = self.records(zone, name, rtype)
            self.publish(name, rtype, values, ttl)
            expected[name] = set(values)
        change_id = "C" + secrets.token_hex(7).upper()
        with self._lock:
            self._changes[change_id] = _Change(zone, expected)
        text = _CHANGE_ID.sub(f"<Id>/change/{change_id}</Id>", response.decode(), count=1)
        return _STATUS.sub(f"<Status>{PENDING}</Status>", text, count=1).encode(), PENDING

    def _change_status(self, path: str, response: bytes, pending: bool) -> tuple[bytes, str]:
        change_id = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            change = self._changes.get(change_id)
        insync = change is not None and not pending and all(
            set(self.visible(name, "TXT")) == values for name, values in change.expected.items())
        status = "INSYNC" if insync else PENDING
        return _STATUS.sub(f"<Status>{status}</Status>", response.decode(), count=1).encode(), status

    # -- the control API ---------------------------------------------------------------------------

    def control(self, method: str, path: str, body: bytes) -> tuple[int, object]:
        parts = [part for part in urlsplit(path).path.split("/") if part][1:]
        query = {key: values[0] for key, values in parse_qs(urlsplit(path).query).items()}
        if method == "GET" and parts == ["journal"]:
            return 200, [asdict(answer) for answer in self.journal(float(query.get("since", 0)))]
        if method == "GET" and parts == ["faults"]:
            return 200, [asdict(fault) for fault in self.faults()]
        if method == "POST" and parts == ["faults"]:
            fields = json.loads(body or b"{}")
            try:
                fault = self.add_fault(fields["action"], fields["answer"], fields.get("zone"))
            except (KeyError, HarnessError) as error:
                return 400, {"error": f"POST /_lab/faults: {error}"}
            return 200, {"id": fault.id}
        if method == "DELETE" and len(parts) == 2 and parts[0] == "faults":
            self.remove_fault(parts[1])
            return 200, {}
        return 404, {"error": f"no {method} {path}"}


def _query_action(path: str, body: bytes) -> str:
    """The Action of a query-protocol request (IAM, STS), from its form body or query string."""
    for source in (body.decode(errors="replace"), urlsplit(path).query):
        action = parse_qs(source).get("Action")
        if action:
            return action[0]
    return "unknown"


def _error_of(body: bytes) -> AwsError:
    return parse(body) or AwsError(0, "", body[:200].decode(errors="replace"))


class _TlsServer(ThreadingHTTPServer):
    """Each connection's TLS handshake in its own thread: a slow client never holds up another."""

    daemon_threads = True

    def __init__(self, address, handler, context: ssl.SSLContext):
        self.context = context
        super().__init__(address, handler)

    def finish_request(self, request, client_address) -> None:
        try:
            request = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that gave up or distrusts the lab CA: nothing to answer
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # aws-sdk-go keeps its connections alive
    front: AwsFront

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/_lab/"):
            status, result = self.front.control(self.command, self.path, body)
            self._send(status, {"Content-Type": "application/json"}, json.dumps(result).encode())
            return
        headers = {key: value for key, value in self.headers.items()}
        try:
            status, response_headers, response = self.front.answer(self.command, self.path, headers, body)
        except Exception as error:  # noqa: BLE001 - the SDK gets AWS's InternalFailure, the log the cause
            self.log_error("aws front: %r", error)
            failure = AwsError(500, "InternalFailure", f"certchaos aws front: {error}", "Receiver")
            status, response_headers, response = 500, {"Content-Type": "text/xml"}, failure.body()
        self._send(status, response_headers, response)

    def _send(self, status: int, headers: dict, body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, *args) -> None:  # the journal is the record
        pass
