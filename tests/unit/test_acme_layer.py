"""The ACME fault layer: its rules (which request a fault hits, at what rate) and the real layer, driven
through its control API by the faults of harness.chaos.acme_faults, in front of a small CA that answers as
Pebble does (Host-relative URLs, a Replay-Nonce on every answer)."""

from __future__ import annotations

import json
import math
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from hypothesis import given, strategies as st

from harness.chaos.acme_faults import (
    AcmeAnswerLost, AcmeAuthorizationExpired, AcmeBadNonce, AcmeOrderExpired, AcmeOrderLost, AcmeRateLimited,
    AcmeRefused, AcmeServerError, AcmeSlowFinalize,
)
from harness.errors import HarnessError
from harness.observe.conditions.acme_layer import acme_requests, retries, statuses_per_url
from harness.stack.acme_control import AcmeLayerControl
from harness.stack.acme_layer import AcmeLayer
from harness.stack.acme_rules import ENDPOINTS, Rule, endpoint_of, first_firing
from harness.stack.pki import RunPKI
from harness.wait import wait_for


# --- rules --------------------------------------------------------------------------------------------------

@given(rate=st.floats(min_value=0.01, max_value=1.0), n=st.integers(min_value=0, max_value=300),
       limit=st.one_of(st.none(), st.integers(min_value=1, max_value=50)))
def test_a_rule_fires_ceil_n_times_rate_up_to_its_limit(rate, n, limit):
    rule = Rule("newOrder", "bad_nonce", rate=rate, limit=limit)
    fired = sum(rule.fires() for _ in range(n))
    want = math.ceil(n * rule._rate)
    assert fired == (want if limit is None else min(want, limit))


@given(rate=st.floats(min_value=0.01, max_value=1.0), n=st.integers(min_value=1, max_value=200))
def test_hits_are_spread_exactly_at_every_prefix(rate, n):
    rule = Rule("*", "bad_nonce", rate=rate)
    hits = 0
    for k in range(1, n + 1):
        hits += rule.fires()
        assert hits == math.ceil(k * rule._rate)  # exact at every prefix: no bursts


@given(name=st.sampled_from(sorted(ENDPOINTS)), rid=st.text("abcdefXYZ0123456789_-", min_size=1, max_size=30))
def test_every_pebble_path_is_classified_by_its_endpoint(name, rid):
    prefix = ENDPOINTS[name]
    path = prefix + rid if prefix.endswith("/") else prefix
    assert endpoint_of(path) == name
    assert endpoint_of(path + "?x=1") == name


@given(path=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40))
def test_a_path_pebble_does_not_serve_as_acme_is_other(path):
    path = "/" + path
    exact = [p for p in ENDPOINTS.values() if not p.endswith("/")]
    prefixes = [p for p in ENDPOINTS.values() if p.endswith("/")]
    plain = path.split("?", 1)[0]
    if plain not in exact and not any(plain.startswith(p) and len(plain) > len(p) for p in prefixes):
        assert endpoint_of(path) == "other"


@given(endpoint=st.sampled_from([*ENDPOINTS, "other"]), method=st.sampled_from(["GET", "HEAD", "POST"]),
       rules=st.lists(st.tuples(st.sampled_from([*ENDPOINTS, "*"]), st.sampled_from(["GET", "HEAD", "POST", "*"])),
                      max_size=4))
def test_the_first_matching_rule_answers_and_later_ones_do_not_count_the_request(endpoint, method, rules):
    built = [Rule(e, "delay", method=m, seconds=1) for e, m in rules]
    hit = first_firing(built, endpoint, method)
    matching = [r for r in built if r.matches(endpoint, method)]
    assert hit is (matching[0] if matching else None)
    assert [r.matched for r in built] == [1 if r is hit else 0 for r in built]


@pytest.mark.parametrize("fields, message", [
    ({"endpoint": "newOrders", "action": "bad_nonce"}, "unknown endpoint"),
    ({"endpoint": "newOrder", "action": "explode"}, "unknown action"),
    ({"endpoint": "newOrder", "action": "bad_nonce", "rate": 0}, "rate"),
    ({"endpoint": "newOrder", "action": "bad_nonce", "limit": 0}, "limit"),
    ({"endpoint": "newOrder", "action": "respond", "status": 200, "problem": "x"}, "error status"),
    ({"endpoint": "newOrder", "action": "respond", "status": 429}, "problem type"),
    ({"endpoint": "finalize", "action": "delay"}, "seconds"),
    ({"endpoint": "newOrder", "action": "expire_order"}, "endpoint='finalize'"),
    ({"endpoint": "newOrder", "action": "bad_nonce", "method": "PUT"}, "method"),
])
def test_a_bad_rule_is_refused_with_the_fix(fields, message):
    with pytest.raises(HarnessError, match=message.replace("(", r"\(").replace("[", r"\[")):
        Rule(**fields)


def test_a_rule_round_trips_through_json():
    rule = Rule("finalize", "respond", status=503, problem="serverInternal", retry_after=7)
    assert Rule.from_json(json.loads(json.dumps(rule.to_json()))) == rule


# --- the layer in front of a CA that answers like Pebble ----------------------------------------------------

class _Ca(BaseHTTPRequestHandler):
    """Pebble's shape: URLs built from the Host it was asked on, a fresh Replay-Nonce on every answer."""

    protocol_version = "HTTP/1.1"
    nonces = iter(range(1_000_000))
    posted: list[str] = []  # every POST's path, in order: what reached the CA

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, document: dict | None = None, headers: dict | None = None) -> None:
        body = json.dumps(document).encode() if document is not None else b""
        self.send_response(status)
        self.send_header("Replay-Nonce", f"n{next(self.nonces)}")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._send(200 if self.path == "/nonce-plz" else 404)

    def do_GET(self) -> None:
        base = f"https://{self.headers['Host']}"
        self._send(200, {"newNonce": f"{base}/nonce-plz", "newOrder": f"{base}/order-plz"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.posted.append(self.path)
        base = f"https://{self.headers['Host']}"
        order = {"status": "pending", "authorizations": [f"{base}/authZ/z1"], "finalize": f"{base}/finalize-order/o1"}
        if self.path == "/order-plz":
            self._send(201, order, {"Location": f"{base}/my-order/o1"})
        elif self.path.startswith("/my-order/"):
            self._send(200, order)
        elif self.path.startswith("/authZ/"):
            self._send(200, {"status": "pending", "challenges": [{"type": "dns-01", "url": f"{base}/chalZ/c1"}]})
        elif self.path.startswith("/chalZ/"):
            self._send(200, {"type": "dns-01", "status": "processing"})
        elif self.path.startswith("/finalize-order/"):
            self._send(200, {**order, "status": "valid"})
        else:
            self._send(404, {"type": "urn:ietf:params:acme:error:malformed"})


@pytest.fixture(scope="module")
def lab_ca(tmp_path_factory):
    pki = RunPKI(tmp_path_factory.mktemp("pki"))
    serving = pki.serving("upstream")  # not "ca": that file is the CA's own
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ca)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(serving.cert), str(serving.key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    layer_pair = pki.serving("acme-layer")
    with AcmeLayer(layer_pair.cert, layer_pair.key, pki.ca_cert) as layer:
        yield pki, server.server_address, layer
    server.shutdown()
    server.server_close()


@pytest.fixture
def route(lab_ca, request):
    pki, upstream, layer = lab_ca
    control = AcmeLayerControl(layer.url)
    route = control.add_route(f"acme-{request.node.name[:40]}", upstream)
    session = _Client(str(pki.ca_cert))
    base = "https://%s:%d" % route.listen
    yield route, session, base
    route.delete()
    session.close()
    control.close()


class _Client(requests.Session):
    """Verifies against the lab CA on every request (REQUESTS_CA_BUNDLE would override a Session's verify)."""

    def __init__(self, ca: str):
        super().__init__()
        self.ca = ca

    def request(self, *args, **kwargs):
        return super().request(*args, verify=self.ca, **kwargs)


def _signed(nonce: str = "n-client") -> bytes:
    import base64
    protected = base64.urlsafe_b64encode(json.dumps({"nonce": nonce}).encode()).decode().rstrip("=")
    return json.dumps({"protected": protected, "payload": "", "signature": ""}).encode()


def test_every_url_the_ca_hands_out_points_back_through_the_route(route):
    route, session, base = route
    directory = session.get(base + "/dir").json()
    assert directory == {"newNonce": f"{base}/nonce-plz", "newOrder": f"{base}/order-plz"}
    order = session.post(base + "/order-plz", data=_signed())
    assert order.status_code == 201 and order.headers["Location"] == f"{base}/my-order/o1"
    assert [(r.method, r.endpoint, r.status, r.fault) for r in route.requests()] == [
        ("GET", "directory", 200, None), ("POST", "newOrder", 201, None)]


def test_rate_limited_answers_429_with_retry_after_and_a_nonce_until_reverted(route):
    route, session, base = route
    fault = AcmeRateLimited(route, "newOrder", retry_after=1800)
    assert repr(fault) == f"AcmeRateLimited(acme=AcmeRoute({route.name!r}), endpoint='newOrder', retry_after=1800)"
    fault.apply()
    limited = session.post(base + "/order-plz", data=_signed())
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1800"
    assert limited.json()["type"] == "urn:ietf:params:acme:error:rateLimited" and limited.headers["Replay-Nonce"]
    assert session.post(base + "/authZ/z1", data=_signed()).status_code == 200  # only newOrder is limited
    fault.revert()
    assert session.post(base + "/order-plz", data=_signed()).status_code == 201
    assert acme_requests(route, "newOrder", faulted=True)().ok
    assert not acme_requests(route, "newOrder", at_least=2, faulted=True)().ok


def test_bad_nonce_at_half_rejects_every_other_signed_request_and_the_journal_pairs_retries(route):
    route, session, base = route
    fault = AcmeBadNonce(route, rate=0.5)
    fault.apply()
    statuses = [session.post(base + "/authZ/z1", data=_signed(f"c{i}")).status_code for i in range(4)]
    assert session.head(base + "/nonce-plz").status_code == 200  # HEAD is not a signed request: untouched
    fault.revert()
    assert statuses == [400, 200, 400, 200]
    found = retries(route.requests())
    assert [(r.failed.nonce, r.retry.nonce) for r in found] == [("c0", "c1"), ("c2", "c3")]


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_hits_one_endpoint_only(route, status):
    route, session, base = route
    with_fault = AcmeServerError(route, "finalize", status)
    with_fault.apply()
    failed = session.post(base + "/finalize-order/o1", data=_signed())
    assert failed.status_code == status and failed.json()["type"] == "urn:ietf:params:acme:error:serverInternal"
    assert session.post(base + "/order-plz", data=_signed()).status_code == 201
    with_fault.revert()
    assert session.post(base + "/finalize-order/o1", data=_signed()).status_code == 200


@pytest.mark.parametrize("endpoint, path, status, problem", [("finalize", "/finalize-order/o1", 403, "unauthorized"),
                                                             ("order", "/my-order/o1", 400, "malformed")])
def test_a_refusal_answers_its_4xx_and_problem_on_one_endpoint_without_asking_the_ca(route, endpoint, path, status,
                                                                                      problem):
    route, session, base = route
    fault = AcmeRefused(route, endpoint, status, problem)
    fault.apply()
    before = len(_Ca.posted)
    refused = session.post(base + path, data=_signed())
    assert _Ca.posted[before:] == []  # the CA never saw it
    assert session.post(base + "/order-plz", data=_signed()).status_code == 201
    fault.revert()
    assert refused.status_code == status and refused.json()["type"] == f"urn:ietf:params:acme:error:{problem}"
    assert refused.json()["detail"] == fault.rule().detail and f"{status} {problem}" in fault.rule().detail
    assert session.post(base + path, data=_signed()).status_code == 200


def test_an_expired_order_fails_finalize_and_stays_invalid_after_the_revert(route):
    route, session, base = route
    session.post(base + "/order-plz", data=_signed())
    fault = AcmeOrderExpired(route)
    fault.apply()
    expired = session.post(base + "/finalize-order/o1", data=_signed())
    fault.revert()
    assert expired.status_code == 404 and expired.json()["type"] == "urn:ietf:params:acme:error:malformed"
    assert session.post(base + "/my-order/o1", data=_signed()).json()["status"] == "invalid"  # for good


def test_an_expired_authorization_fails_its_challenge_and_invalidates_its_order(route):
    route, session, base = route
    session.post(base + "/order-plz", data=_signed())
    session.post(base + "/authZ/z1", data=_signed())  # the layer learns challenge c1 belongs to z1
    fault = AcmeAuthorizationExpired(route)
    fault.apply()
    refused = session.post(base + "/chalZ/c1", data=_signed())
    fault.revert()
    assert refused.status_code == 400 and "expired" in refused.json()["detail"].lower()
    assert session.post(base + "/authZ/z1", data=_signed()).json()["status"] == "expired"
    assert session.post(base + "/my-order/o1", data=_signed()).json()["status"] == "invalid"


def test_a_lost_order_is_answered_404_on_its_fetch_while_new_orders_work(route):
    route, session, base = route
    fault = AcmeOrderLost(route)
    fault.apply()
    lost = session.post(base + "/my-order/o1", data=_signed())
    assert session.post(base + "/order-plz", data=_signed()).status_code == 201
    fault.revert()
    assert lost.status_code == 404 and lost.json()["type"] == "urn:ietf:params:acme:error:malformed"
    assert "No order for ID" in lost.json()["detail"]
    assert session.post(base + "/my-order/o1", data=_signed()).status_code == 200  # the CA's answer again


def test_a_lost_answer_reaches_the_ca_then_the_client_reads_end_of_file_once(route):
    route, session, base = route
    fault = AcmeAnswerLost(route, "finalize")
    fault.apply()
    before = len(_Ca.posted)
    with pytest.raises(requests.exceptions.ConnectionError):
        session.post(base + "/finalize-order/o1", data=_signed())
    assert _Ca.posted[before:] == ["/finalize-order/o1"]  # the CA acted on it
    assert session.post(base + "/finalize-order/o1", data=_signed()).status_code == 200  # once only (limit 1)
    fault.revert()
    lost, answered = route.requests()
    assert (lost.status, answered.status) == (200, 200) and lost.fault and not answered.fault


def test_statuses_per_url_keep_each_orders_answers_in_order_first_asked_first(route):
    route, session, base = route
    session.post(base + "/my-order/o1", data=_signed())
    since = route.requests()[-1].at
    fault = AcmeOrderLost(route)
    fault.apply()
    session.post(base + "/my-order/o2", data=_signed())
    session.post(base + "/finalize-order/o2", data=_signed())  # another endpoint: not counted
    fault.revert()
    session.post(base + "/my-order/o3", data=_signed())
    session.post(base + "/my-order/o2", data=_signed())
    assert statuses_per_url(route.requests(), "order", since) == {
        "/my-order/o1": [200], "/my-order/o2": [404, 200], "/my-order/o3": [200]}


def test_a_slow_finalize_answers_late_and_the_rest_promptly(route):
    route, session, base = route
    fault = AcmeSlowFinalize(route, seconds=0.5)
    fault.apply()
    assert session.post(base + "/finalize-order/o1", data=_signed()).status_code == 200
    assert session.post(base + "/my-order/o1", data=_signed()).status_code == 200
    fault.revert()
    finalize, order = route.requests()
    assert finalize.seconds >= 0.5 and order.seconds < 0.5 and finalize.fault and not order.fault
    assert finalize.abandoned is False and order.abandoned is None  # the client waited for the late answer


def test_a_client_that_stops_waiting_for_a_slow_answer_is_journalled_as_gone(route):
    route, session, base = route
    fault = AcmeSlowFinalize(route, seconds=1.5)
    fault.apply()
    with pytest.raises(requests.exceptions.Timeout):
        session.post(base + "/finalize-order/o1", data=_signed(), timeout=0.5)
    fault.revert()
    wait_for(acme_requests(route, "finalize"), subject="the layer", expected="the late finalize journalled",
             timeout=10)
    assert [r.abandoned for r in route.requests()] == [True]


def test_faults_compose_and_the_first_added_answers(route):
    route, session, base = route
    first, second = AcmeServerError(route, "newOrder", 503), AcmeRateLimited(route, "newOrder", 60)
    first.apply()
    second.apply()
    assert session.post(base + "/order-plz", data=_signed()).status_code == 503
    first.revert()
    assert session.post(base + "/order-plz", data=_signed()).status_code == 429
    second.revert()
    assert session.post(base + "/order-plz", data=_signed()).status_code == 201


def test_the_control_api_refuses_bad_input_with_the_reason(lab_ca):
    _, upstream, layer = lab_ca
    control = AcmeLayerControl(layer.url)
    route = control.add_route("acme-twice", upstream)
    try:
        with pytest.raises(HarnessError, match="exists"):
            control.add_route("acme-twice", upstream)
        with pytest.raises(HarnessError, match="unknown endpoint"):
            control.call("POST", "/routes/acme-twice/rules", {"endpoint": "nope", "action": "bad_nonce"})
        with pytest.raises(HarnessError, match="HTTP 404"):
            control.call("GET", "/routes/acme-missing/journal")
    finally:
        route.delete()
        control.close()


def test_in_a_network_namespace_routes_listen_and_dial_there(lab_ca):
    """kind: routes listen and dial Pebble inside the "ca" anchor's namespace (here our own: the same path)."""
    pki, upstream, _ = lab_ca
    pair = pki.serving("acme-layer-netns")
    with AcmeLayer(pair.cert, pair.key, pki.ca_cert, netns="/proc/self/ns/net") as layer:
        route = layer.add_route("acme-netns", upstream)
        client = _Client(str(pki.ca_cert))
        assert client.get("https://%s:%d/dir" % route.listen).status_code == 200
        client.close()
