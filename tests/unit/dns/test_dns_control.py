"""The log is bounded, thread-safe and filterable; the HTTP control API drives every lever; the server
releases its ports and threads on stop; `certchaos dns serve` refuses what it must not do."""

from __future__ import annotations

import argparse
import base64
import json
import socket
import threading
import urllib.error
import urllib.request

import dns.rcode
import dns.update
import pytest
from dns_testkit import KEYS, ZONE, ask, send_update

from fakes.dns import DnsServer, LogEntry, QueryLog
from harness.cli.dns import address, tsig_key
from fakes.dns.control import ControlServer
from fakes.dns.errors import FakeDnsError

NAME = "_acme-challenge.www.example.test."


def entry(name: str, kind: str = "query", **fields) -> LogEntry:
    defaults = dict(time=1.0, view="authoritative", client="127.0.0.1:1", transport="udp", kind=kind,
                    name=name, rtype="TXT", rcode="NOERROR")
    return LogEntry(**{**defaults, **fields})


def test_the_log_keeps_the_newest_entries_up_to_its_bound():
    log = QueryLog(maxlen=3)
    for i in range(5):
        log.record(entry(f"n{i}.example.test."))
    assert [e.name for e in log] == ["n2.example.test.", "n3.example.test.", "n4.example.test."]


def test_the_log_takes_entries_from_many_threads():
    log = QueryLog()
    threads = [threading.Thread(target=lambda: [log.record(entry("x.")) for _ in range(1000)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(log) == 8000


def test_log_filters():
    log = QueryLog()
    log.record(entry(NAME, time=5.0))
    log.record(entry("www.example.test.", rtype="A", view="resolver", rcode="NXDOMAIN"))
    log.record(entry(ZONE, kind="update", rtype=None, key="certchaos", changes=(f'add {NAME} 60 TXT "t"',)))
    assert [e.name for e in log.queries("_acme-challenge.*")] == [NAME]
    assert [e.name for e in log.queries(view="resolver", rcode="nxdomain", rtype="a")] == ["www.example.test."]
    assert [e.kind for e in log.updates("_acme-challenge.*", key="certchaos.")] == ["update"]
    assert log.updates("www.*") == [] and [e.name for e in log.select(since=2.0)] == [NAME]


class Control:
    def __init__(self, url: str):
        self.url = url

    def __call__(self, method: str, path: str, body=None):
        request = urllib.request.Request(self.url + path, method=method,
                                         data=None if body is None else json.dumps(body).encode())
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # 5 s: loopback answers in ms
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture
def control(dns_server):
    """The HTTP control API in front of the test's server, stopped after the test."""
    server = ControlServer(dns_server, "127.0.0.1").start()
    yield Control(server.url)
    server.stop()


def test_records_through_the_control_api(control, dns_server):
    assert control("POST", "/records", {"name": NAME, "type": "TXT", "data": '"one"'})[0] == 200
    status, records = control("PUT", "/records", {"name": NAME, "type": "TXT", "data": ['"a"', '"b"'], "ttl": 30})
    assert status == 200 and sorted(r["data"] for r in records) == ['"a"', '"b"'] and records[0]["ttl"] == 30
    assert len(control("GET", f"/records?name={NAME}&view=ca_resolver")[1]) == 2
    assert control("DELETE", f"/records?name={NAME}&type=TXT")[0] == 200
    assert dns_server.records(NAME) == []


def test_keys_and_policies_through_the_control_api(control, dns_server):
    key = next(k for k in KEYS if k.name == "certchaos").dnspython_key()
    update = dns.update.UpdateMessage(ZONE)
    update.add(NAME, 60, "TXT", '"t"')
    assert control("POST", "/keys/certchaos/revoke")[0] == 200
    assert send_update(dns_server.authoritative, update, key).tsig_error == dns.rcode.BADKEY
    control("POST", "/keys/certchaos/restore")
    control("PUT", "/keys/certchaos/policy", {"names": ["www.*"], "types": ["A"]})
    assert send_update(dns_server.authoritative, update, key).rcode == dns.rcode.REFUSED
    control("PUT", "/keys/certchaos/policy", None)
    secret = base64.b64encode(b"new secret").decode()
    status, keys = control("POST", "/keys/certchaos/rotate", {"secret": secret})
    assert status == 200 and next(k for k in keys if k["name"] == "certchaos")["policy"] is None
    assert send_update(dns_server.authoritative, update, key).tsig_error == dns.rcode.BADSIG
    status, _ = control("POST", "/keys", {"name": "extra", "algorithm": "hmac-sha1", "secret": secret,
                                          "policy": {"names": ["_acme-challenge.*"], "types": ["TXT"]}})
    assert status == 200 and dns_server.keys.get("extra")[0].policy.types == ("TXT",)


def test_zones_faults_and_log_through_the_control_api(control, dns_server, clock):
    status, zones = control("PUT", f"/zones/{ZONE}", {"propagation_delay": 10, "ca_propagation_delay": 20})
    settings = next(z for z in zones if z["zone"] == ZONE)
    assert (settings["propagation_delay"], settings["ca_propagation_delay"]) == (10, 20)
    dns_server.add_record(NAME, "TXT", '"t"')
    clock.advance(10)
    assert dns_server.records(NAME, view="resolver") and not dns_server.records(NAME, view="ca_resolver")
    assert control("POST", "/zones", {"zone": "new.test."})[0] == 200 and "new.test." in dns_server.zones
    status, created = control("POST", "/faults", {"action": "servfail", "name": NAME, "view": "resolver"})
    assert ask(dns_server.resolver, NAME, "TXT").rcode() == dns.rcode.SERVFAIL
    assert control("GET", "/faults")[1][0]["id"] == created["id"]
    control("DELETE", f"/faults/{created['id']}")
    assert ask(dns_server.resolver, NAME, "TXT").answer
    status, log = control("GET", f"/log?kind=query&name={NAME}&view=resolver")
    assert [e["rcode"] for e in log] == ["SERVFAIL", "NOERROR"]
    assert control("GET", "/")[1]["ca_resolver"] == "%s:%d" % dns_server.ca_resolver


@pytest.mark.parametrize("method, path, body, status", [
    ("GET", "/nothing", None, 404),
    ("PUT", "/zones/unknown.test.", {"propagation_delay": 1}, 404),
    ("PUT", f"/zones/{ZONE}", {"propagation_delay": -1}, 400),
    ("PUT", f"/zones/{ZONE}", {"delay": 1}, 400),
    ("POST", "/keys/nobody/revoke", None, 404),
    ("POST", "/records", {"name": NAME, "type": "A", "data": "not an address"}, 400),
    ("POST", "/records", {"name": "x.elsewhere.test.", "type": "A", "data": "192.0.2.1"}, 400),
    ("POST", "/faults", {"action": "explode"}, 400),
    ("GET", "/log?colour=red", None, 400),
])
def test_bad_control_requests_say_what_is_wrong(control, method, path, body, status):
    code, result = control(method, path, body)
    assert code == status and result["error"]


def test_stop_releases_the_ports_and_joins_the_threads():
    before = set(threading.enumerate())
    server = DnsServer([ZONE]).start()
    ask(server.authoritative, ZONE, "SOA", tcp=True)
    ports = [server.address(view) for view in ("authoritative", "resolver", "ca_resolver")]
    server.stop()
    assert set(threading.enumerate()) <= before
    for host, port in ports:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                sock.bind((host, port))  # would raise if the server still held it


def test_the_server_refuses_to_listen_beyond_loopback():
    with pytest.raises(FakeDnsError, match="not a loopback address"):
        DnsServer([ZONE], listen=("0.0.0.0", 0))


@pytest.mark.parametrize("text", ["0.0.0.0:53", "localhost:53", "127.0.0.1", "127.0.0.1:99999"])
def test_the_cli_refuses_bad_addresses(text):
    with pytest.raises(argparse.ArgumentTypeError):
        address(text)


def test_the_cli_key_syntax_carries_an_optional_policy():
    secret = base64.b64encode(b"s").decode()
    plain = tsig_key(f"certchaos:hmac-sha256:{secret}")
    narrow = tsig_key(f"certchaos:hmac-sha512:{secret}:_acme-challenge.*,www.example.test:TXT,CNAME")
    assert plain.policy is None and narrow.algorithm == "hmac-sha512"
    assert narrow.policy.names == ("_acme-challenge.*", "www.example.test.") and narrow.policy.types == ("TXT", "CNAME")
    with pytest.raises(argparse.ArgumentTypeError, match="base64"):
        tsig_key("certchaos:hmac-sha256:not base64!")
