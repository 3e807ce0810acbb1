"""The ACME fault layer: an HTTPS reverse proxy in front of Pebble that answers what a real CA answers in
trouble (429 rateLimited with Retry-After, badNonce, 5xx on one endpoint, an expired order or
authorization, a slow finalize), per route, switched at run time through a small HTTP control API.

    cert-manager --TLS--> Toxiproxy "acme-<namespace>" --TCP--> route "acme-<namespace>" (TLS ends here,
        with the same lab-CA certificate Pebble serves) --TLS--> Pebble

Each route is one listener on a loopback port chosen at run time, so the Host a client sends reaches Pebble
unchanged and every URL Pebble hands out (directory, Location, order and authorization bodies) points back
through the Toxiproxy proxy and the route: every ACME request of the scenario passes here, and its journal
holds them all. Idle, a route is one thread blocked in accept(). Rules: `acme_rules.py`.

Control API (loopback, JSON):

    POST   /routes              {"name", "upstream": [host, port]} -> {"name", "listen": [host, port]}
    DELETE /routes/NAME
    POST   /routes/NAME/rules   Rule.to_json() -> {"id"}   one more rule (rules are tried in the order added)
    DELETE /routes/NAME/rules/ID
    GET    /routes/NAME/journal                                    {"requests": [...]}, oldest first
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harness.errors import HarnessError
from harness.stack.acme_rules import Rule, endpoint_of, first_firing, problem, resource_id
from harness.stack.netns import in_netns
from harness.stack.ports import LOOPBACK
from harness.stack.service import Service

# Pebble answers from memory; an upstream that takes longer than this is hung (cert-manager's own ACME
# client gives up after 90 s, pkg/acme/accounts/client.go defaultACMEHTTPTimeout).
UPSTREAM_TIMEOUT = 60.0
USER_AGENT = "certchaos-acme-fault-layer"  # Pebble refuses a request without one
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"}


class _UpstreamConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose socket is made inside `netns` when given (on kind Pebble listens inside
    the "ca" anchor's network namespace only)."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext, netns: str | None):
        super().__init__(host, port, context=context, timeout=UPSTREAM_TIMEOUT)
        self.netns, self.tls = netns, context

    def connect(self) -> None:
        def dial() -> socket.socket:
            return socket.create_connection((self.host, self.port), self.timeout)

        self.sock = self.tls.wrap_socket(dial() if self.netns is None else in_netns(self.netns, dial),
                                         server_hostname=self.host)


def _peer_gone(connection: socket.socket) -> bool:
    """The client closed its connection (it stopped waiting for the answer): a peek at the TCP stream under
    TLS reads end-of-file. Nothing is consumed, and the connection's own blocking mode is left alone."""
    raw = socket.socket(fileno=os.dup(connection.fileno()))
    try:
        return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False  # open, nothing sent: still waiting
    except OSError:
        return True
    finally:
        raw.close()


def _jws_nonce(body: bytes) -> str | None:
    """The nonce in a JWS's protected header (flattened JSON serialization), None if there is none."""
    try:
        protected = json.loads(body)["protected"]
        return json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4))).get("nonce")
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class Route:
    """One scenario's path to the CA: its listener, rules, journal and what it learned of orders."""

    name: str
    upstream: tuple[str, int]
    client_tls: ssl.SSLContext
    netns: str | None = None
    rules: dict[int, Rule] = field(default_factory=dict)  # id -> rule, in the order added
    next_rule: int = 1
    journal: list[dict] = field(default_factory=list)
    expired_orders: set[str] = field(default_factory=set)  # order ids
    expired_authorizations: set[str] = field(default_factory=set)  # authorization ids
    authorization_of: dict[str, str] = field(default_factory=dict)  # challenge id -> authorization id
    order_of: dict[str, str] = field(default_factory=dict)  # authorization id -> order id
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: "_TlsServer | None" = None

    @property
    def listen(self) -> tuple[str, int]:
        return self.server.server_address[:2]

    def upstream_request(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, list, bytes]:
        connection = _UpstreamConnection(*self.upstream, self.client_tls, self.netns)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def fresh_nonce(self, host: str) -> str | None:
        """A nonce Pebble issued just now, for the Replay-Nonce of an answer the layer makes itself."""
        _, headers, _ = self.upstream_request("HEAD", "/nonce-plz", {"Host": host, "User-Agent": USER_AGENT}, b"")
        return dict((k.lower(), v) for k, v in headers).get("replay-nonce")

    def learn(self, endpoint: str, document: dict, order_id: str, path: str) -> None:
        """Remember which order an authorization belongs to and which authorization a challenge, from the
        CA's answers, so an expiry reaches all three."""
        if endpoint in ("order", "newOrder", "finalize"):
            for url in document.get("authorizations") or []:
                self.order_of[resource_id(url)] = order_id
        elif endpoint == "authorization":
            for challenge in document.get("challenges") or []:
                if challenge.get("url"):
                    self.authorization_of[resource_id(challenge["url"])] = resource_id(path)

    def rewrite(self, endpoint: str, path: str, body: bytes) -> bytes:
        """An expired resource reads as the CA would show it: an order "invalid", an authorization "expired"."""
        rid = resource_id(path)
        status = {"order": "invalid" if rid in self.expired_orders else None,
                  "authorization": "expired" if rid in self.expired_authorizations else None}.get(endpoint)
        if status is None:
            return body
        document = json.loads(body)
        document["status"] = status
        return json.dumps(document).encode()


class _TlsServer(ThreadingHTTPServer):
    """Accepts plain TCP and runs the TLS handshake on the request's own thread, so one slow or broken
    client never holds up the accept loop; a failed handshake is that client's problem, not a traceback."""

    daemon_threads = True
    tls: ssl.SSLContext

    def finish_request(self, request, client_address) -> None:
        request.settimeout(UPSTREAM_TIMEOUT)
        super().finish_request(self.tls.wrap_socket(request, server_side=True), client_address)

    def handle_error(self, request, client_address) -> None:
        pass


class _RouteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    route: Route  # set on the per-route subclass

    def log_message(self, format, *args) -> None:  # the journal is the log
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes, method: str) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def _problem(self, status: int, document: dict, extra: list[tuple[str, str]], host: str) -> tuple:
        nonce = self.route.fresh_nonce(host)
        headers = [("Content-Type", "application/problem+json"), *extra,
                   *([("Replay-Nonce", nonce)] if nonce else [])]
        return status, headers, json.dumps(document).encode()

    def _handle(self, method: str) -> None:
        route, started = self.route, time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        endpoint, path = endpoint_of(self.path), self.path
        host = self.headers.get("Host", "%s:%d" % route.listen)
        with route.lock:
            rule = first_firing(list(route.rules.values()), endpoint, method)
            if rule is not None and rule.action == "expire_order":
                route.expired_orders.add(resource_id(path))
            elif rule is not None and rule.action == "expire_authorization":
                authorization = route.authorization_of.get(resource_id(path))
                if authorization:
                    route.expired_authorizations.add(authorization)
                    if route.order_of.get(authorization):
                        route.expired_orders.add(route.order_of[authorization])
            described = rule.describe() if rule is not None else None
        self.abandoned = None
        try:
            status, headers, answer = self._respond(rule, method, endpoint, path, body, host)
        except (OSError, http.client.HTTPException) as error:
            status, headers, answer = 502, [("Content-Type", "text/plain")], f"ACME fault layer: {error}".encode()
        with route.lock:
            route.journal.append({"at": started, "seconds": round(time.time() - started, 3), "method": method,
                                  "path": path.split("?", 1)[0], "endpoint": endpoint, "status": status,
                                  "fault": described, "nonce": _jws_nonce(body) if method == "POST" else None,
                                  "abandoned": self.abandoned})
        if rule is not None and rule.action == "lose_answer":
            self.close_connection = True  # the CA acted; the client reads end-of-file instead of its answer
            return
        self._answer(status, headers, answer, method)

    def _respond(self, rule: Rule | None, method: str, endpoint: str, path: str, body: bytes, host: str) -> tuple:
        route = self.route
        if rule is not None and rule.action == "respond":
            extra = [("Retry-After", str(rule.retry_after))] if rule.retry_after is not None else []
            return self._problem(rule.status, problem(rule.problem, rule.detail or rule.describe(), rule.status),
                                 extra, host)
        if rule is not None and rule.action == "bad_nonce":
            return self._problem(400, problem("badNonce", "JWS has an invalid anti-replay nonce", 400), [], host)
        if rule is not None and rule.action == "expire_order":
            return self._problem(404, problem("malformed", f"Order {resource_id(path)!r} expired", 404), [], host)
        if rule is not None and rule.action == "expire_authorization":
            return self._problem(400, problem("malformed", "Authorization expired", 400), [], host)
        if rule is not None and rule.action == "delay":
            time.sleep(rule.seconds)  # the fault itself: a CA that takes this long to answer
            self.abandoned = _peer_gone(self.connection)  # did the client wait? (its own timeout is shorter)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        status, response_headers, answer = route.upstream_request(method, path, headers, body)
        if status < 300 and answer and endpoint in ("order", "newOrder", "finalize", "authorization"):
            location = dict((k.lower(), v) for k, v in response_headers).get("location")
            # Pebble names an order and its finalize URL by one id; a new order's is in its Location.
            order_id = resource_id(location if endpoint == "newOrder" and location else path)
            try:
                document = json.loads(answer)
            except ValueError:
                document = None
            if isinstance(document, dict):
                with route.lock:
                    route.learn(endpoint, document, order_id, path)
                    answer = route.rewrite(endpoint, path, answer)
        return status, response_headers, answer


class AcmeLayer(Service):
    """The running layer: a control API on loopback and one TLS listener per route on `host`.
    `certificate`/`key`: the serving pair (the lab CA's, as Pebble's); `ca_bundle`: what signs Pebble's.
    `netns` (kind: the "ca" anchor's /proc/<pid>/ns/net): route listeners and upstream connections are made
    inside that network namespace, on `host` there, where Pebble and Toxiproxy are; the threads stay here."""

    def __init__(self, certificate: Path, key: Path, ca_bundle: Path, host: str = LOOPBACK,
                 netns: str | None = None):
        self.host, self.netns = host, netns
        self.server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_tls.load_cert_chain(str(certificate), str(key))
        self.client_tls = ssl.create_default_context(cafile=str(ca_bundle))
        self.routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._control: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return "http://%s:%d" % self._control.server_address[:2]

    def _start(self) -> None:
        self._control = ThreadingHTTPServer((LOOPBACK, 0), _control_handler(self))
        self._control.daemon_threads = True
        self._serve(self._control, "acme-layer-control")

    def _serve(self, server: ThreadingHTTPServer, name: str) -> None:
        thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def add_route(self, name: str, upstream: tuple[str, int]) -> Route:
        with self._lock:
            if name in self.routes:
                raise HarnessError(f"ACME fault layer: route {name!r} exists. Fix: delete it first or pick a new name")
            route = Route(name, (upstream[0], int(upstream[1])), self.client_tls, self.netns)
            handler = type(f"RouteHandler_{name}", (_RouteHandler,), {"route": route})
            server = _TlsServer((self.host, 0), handler, bind_and_activate=False)
            server.socket.close()
            server.socket = self._listening_socket()
            server.server_address = server.socket.getsockname()
            server.tls = self.server_tls
            route.server = server
            self.routes[name] = route
        self._serve(server, f"acme-layer-{name}")
        return route

    def _listening_socket(self) -> socket.socket:
        def listen() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, 0))  # a free port, chosen now
            sock.listen(64)
            return sock

        return listen() if self.netns is None else in_netns(self.netns, listen)

    def route(self, name: str) -> Route:
        try:
            return self.routes[name]
        except KeyError:
            raise HarnessError(f"ACME fault layer: no route {name!r}") from None

    def delete_route(self, name: str) -> None:
        with self._lock:
            route = self.routes.pop(name, None)
        if route is not None:
            route.server.shutdown()
            route.server.server_close()

    def stop(self) -> None:
        for name in list(self.routes):
            self.delete_route(name)
        if self._control is not None:
            self._control.shutdown()
            self._control.server_close()
            self._control = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()


def _control_handler(layer: AcmeLayer) -> type[BaseHTTPRequestHandler]:
    class ControlHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args) -> None:
            pass

        def _reply(self, status: int, document) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _call(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                document = json.loads(self.rfile.read(length)) if length else {}
                self._reply(*self._route(method, [p for p in self.path.split("?")[0].split("/") if p], document))
            except HarnessError as error:
                self._reply(404 if "no route" in str(error) else 400, {"error": str(error)})
            except (ValueError, KeyError, TypeError) as error:
                self._reply(400, {"error": f"bad request: {error!r}"})

        def _route(self, method: str, parts: list[str], document: dict) -> tuple[int, object]:
            if method == "POST" and parts == ["routes"]:
                route = layer.add_route(document["name"], tuple(document["upstream"]))
                return 201, {"name": route.name, "listen": list(route.listen)}
            if len(parts) >= 2 and parts[0] == "routes":
                route = layer.route(parts[1])
                if method == "DELETE" and len(parts) == 2:
                    layer.delete_route(route.name)
                    return 200, {}
                if method == "POST" and parts[2:] == ["rules"]:
                    rule = Rule.from_json(document)
                    with route.lock:
                        rule_id, route.next_rule = route.next_rule, route.next_rule + 1
                        route.rules[rule_id] = rule
                    return 201, {"id": rule_id, "rule": rule.describe()}
                if method == "DELETE" and parts[2:3] == ["rules"] and len(parts) == 4:
                    with route.lock:
                        route.rules.pop(int(parts[3]), None)
                    return 200, {}
                if method == "GET" and parts[2:] == ["journal"]:
                    with route.lock:
                        return 200, {"requests": list(route.journal)}
            return 404, {"error": f"no such call: {method} {self.path}"}

        def do_GET(self) -> None:
            self._call("GET")

        def do_POST(self) -> None:
            self._call("POST")

        def do_DELETE(self) -> None:
            self._call("DELETE")

    return ControlHandler
