"""Run-time faults hit exactly the questions they match (name glob, type, view), for their duration or
until removed; latency delays one answer without holding up the others."""

from __future__ import annotations

import threading
import time

import dns.message
import dns.rcode
import pytest
from dns_testkit import ZONE, ask, raw

from fakes.dns import Fault

NAME = "_acme-challenge.www.example.test."
LATENCY = 0.4  # seconds: long enough to measure against loopback answers (~1 ms), short for the suite


@pytest.fixture
def published(dns_server):
    dns_server.add_record(NAME, "TXT", '"token"')
    dns_server.add_record("www.example.test.", "A", "192.0.2.1")
    return dns_server


def test_servfail_hits_the_matching_name_type_and_view_only(published):
    published.add_fault("servfail", "_acme-challenge.*", "TXT", view="ca_resolver")
    assert ask(published.ca_resolver, NAME, "TXT").rcode() == dns.rcode.SERVFAIL
    assert ask(published.ca_resolver, NAME, "A").rcode() == dns.rcode.NOERROR
    assert ask(published.ca_resolver, "www.example.test.", "A").answer
    assert ask(published.resolver, NAME, "TXT").answer and ask(published.authoritative, NAME, "TXT").answer
    entry = published.log.queries(NAME, view="ca_resolver", rtype="TXT")[-1]
    assert entry.rcode == "SERVFAIL" and "Fault('servfail'" in entry.reason


def test_refused_then_removed(published):
    handle = published.add_fault("refused", NAME)
    assert ask(published.authoritative, NAME, "TXT").rcode() == dns.rcode.REFUSED
    handle.remove()
    assert not handle.active
    assert ask(published.authoritative, NAME, "TXT").answer


def test_drop_sends_nothing_and_logs_why(published):
    published.add_fault("drop", NAME, view="authoritative")
    query = dns.message.make_query(NAME, "TXT").to_wire()
    assert raw(published.authoritative, query, timeout=0.3) is None  # 0.3 s: loopback answers in ~1 ms
    assert raw(published.resolver, query) is not None
    entry = published.log.queries(NAME, view="authoritative")[-1]
    assert entry.rcode is None and "Fault('drop'" in entry.reason


def test_a_fault_ends_after_its_duration_on_the_server_clock(published, clock):
    handle = published.add_fault(Fault("servfail", NAME, duration=30))
    assert ask(published.resolver, NAME, "TXT").rcode() == dns.rcode.SERVFAIL
    clock.advance(29)
    assert ask(published.resolver, NAME, "TXT").rcode() == dns.rcode.SERVFAIL
    clock.advance(1)
    assert ask(published.resolver, NAME, "TXT").answer and not handle.active


def test_clear_faults_ends_them_all(published):
    published.add_fault("servfail")
    published.add_fault("refused", "www.*")
    published.clear_faults()
    assert ask(published.authoritative, "www.example.test.", "A").answer


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_latency_delays_one_answer_without_holding_up_others(published, tcp):
    published.add_fault("latency", NAME, latency=LATENCY)
    slow: dict = {}

    def ask_slow():
        start = time.monotonic()
        slow["reply"] = ask(published.authoritative, NAME, "TXT", tcp=tcp)
        slow["took"] = time.monotonic() - start

    thread = threading.Thread(target=ask_slow)
    thread.start()
    try:
        start = time.monotonic()
        assert ask(published.authoritative, "www.example.test.", "A", tcp=tcp).answer
        assert time.monotonic() - start < LATENCY / 2  # answered while the slow one is still held back
    finally:
        thread.join()
    assert slow["reply"].answer and slow["took"] >= LATENCY


def test_faults_compose_in_order_latency_then_servfail(published):
    published.add_fault("latency", NAME, latency=LATENCY)
    published.add_fault("servfail", NAME)
    start = time.monotonic()
    assert ask(published.authoritative, NAME, "TXT").rcode() == dns.rcode.SERVFAIL
    assert time.monotonic() - start >= LATENCY


def test_a_cached_answer_is_not_served_past_a_new_fault(published):
    assert ask(published.authoritative, NAME, "TXT").answer  # now in the answer cache
    published.add_fault("servfail", NAME)
    assert ask(published.authoritative, NAME, "TXT").rcode() == dns.rcode.SERVFAIL


@pytest.mark.parametrize("fault", [
    Fault("servfail"),
    Fault("latency", "_acme-challenge.*", "TXT", view="resolver", latency=2.5, duration=60.0),
    Fault("drop", name="www.example.test", view="ca_resolver"),
])
def test_a_fault_prints_as_the_python_that_makes_it(fault):
    assert eval(repr(fault)) == fault
    assert Fault.from_json(fault.to_json()) == fault


@pytest.mark.parametrize("kwargs, message", [
    ({"action": "explode"}, "unknown fault action"),
    ({"action": "latency"}, "latency > 0"),
    ({"action": "servfail", "latency": 1.0}, "only a latency fault"),
    ({"action": "drop", "view": "everywhere"}, "unknown view"),
    ({"action": "drop", "duration": 0}, "duration must be > 0"),
])
def test_nonsense_faults_are_refused_with_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Fault(**kwargs)


def test_zone_apex_is_matched_by_an_absolute_glob(published):
    published.add_fault("servfail", ZONE, "SOA")
    assert ask(published.authoritative, ZONE, "SOA").rcode() == dns.rcode.SERVFAIL
    assert ask(published.authoritative, ZONE, "NS").answer
