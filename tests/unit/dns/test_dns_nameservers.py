"""Nameservers for cert-manager's authoritative self-check: the zone's NS records name listeners of the
fake (on a free 127.53.x.y address, any port cert-manager is told), and a secondary nameserver whose zone
transfers lag answers authoritatively what the primary had `delay` ago, caching nothing."""

from __future__ import annotations

import ipaddress

import dns.flags
import dns.rcode
import pytest
from dns_testkit import ZONE, FakeClock, ask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes.dns import DnsServer

NAME = "_acme-challenge.www.example.test."
# Nameserver listeners on port 0 here: the unit tests need no root (the lab binds them on port 53).
NAMESERVERS = {"ns-primary": ("authoritative", ("127.53.0.0/16", 0)),
               "ns-secondary": ("secondary", ("127.53.0.0/16", 0))}
seconds = st.integers(0, 60 * 64).map(lambda n: n / 64)  # 1/64 s steps: exact sums (see test_dns_views)


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def nameserved(clock):
    """A server whose zones' NS records are its two nameserver listeners."""
    with DnsServer([ZONE], nameservers=NAMESERVERS, clock=clock,
                   zone_nameservers=[("ns1", "ns-primary"), ("ns2", "ns-secondary")]) as server:
        yield server
        server.check()


def _a(server, view, name):
    return [r.data for r in server.records(name, "A", view=view)]


def test_zone_ns_records_name_the_listeners_at_their_free_loopback_addresses(nameserved):
    nameserved.reset()
    ns = sorted(r.data for r in nameserved.records(ZONE, "NS"))
    assert ns == ["ns1.example.test.", "ns2.example.test."]
    primary, secondary = nameserved.address("ns-primary"), nameserved.address("ns-secondary")
    assert primary[0] != secondary[0]
    for host in (primary[0], secondary[0]):
        assert ipaddress.ip_address(host) in ipaddress.ip_network("127.53.0.0/16")
    assert _a(nameserved, "authoritative", "ns1.example.test.") == [primary[0]]
    assert _a(nameserved, "authoritative", "ns2.example.test.") == [secondary[0]]
    # Each listener answers with the view it serves: the primary has a new record at once.
    nameserved.add_record(NAME, "TXT", '"token"')
    nameserved.set_propagation_delay(ZONE, 30, view="secondary")
    assert ask(primary, NAME, "TXT").answer
    assert nameserved.listeners["ns-secondary"] == "secondary"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seconds, st.lists(st.one_of(st.tuples(st.just("advance"), seconds), st.tuples(st.just("publish"), st.none()),
                                   st.tuples(st.just("query"), st.none())), max_size=20))
def test_the_secondary_answers_authoritatively_what_the_primary_had_delay_ago_without_caching(
    nameserved, clock, delay, program
):
    nameserved.reset()
    nameserved.set_propagation_delay(ZONE, delay, view="secondary")
    published_at = None
    for action, value in program:
        if action == "advance":
            clock.advance(value)
        elif action == "publish" and published_at is None:
            nameserved.add_record(NAME, "TXT", '"token"')
            published_at = clock.now
        elif action == "query":
            reply = ask(nameserved.address("ns-secondary"), NAME, "TXT")
            assert reply.flags & dns.flags.AA and not reply.flags & dns.flags.RA
            # No negative caching: the record shows exactly `delay` after it was made, whatever was asked before.
            expected = published_at is not None and clock.now >= published_at + delay
            assert bool(reply.answer) == expected, f"at {clock.now}: published {published_at}, delay {delay}"
            assert reply.rcode() == (dns.rcode.NOERROR if expected else dns.rcode.NXDOMAIN)


def test_the_secondary_refuses_names_outside_its_zones_and_takes_no_negative_ttl(nameserved):
    nameserved.reset()
    assert ask(nameserved.secondary, "www.elsewhere.test.", "A").rcode() == dns.rcode.REFUSED
    with pytest.raises(ValueError, match="caches no negative answers"):
        nameserved.set_negative_ttl(ZONE, 5, view="secondary")
    settings_ = nameserved.zone_settings()[0]
    assert settings_["secondary_propagation_delay"] == 0.0 and "secondary_negative_ttl" not in settings_


def test_the_resolvers_delay_leaves_the_secondary_in_step(nameserved, clock):
    """propagation_delay without a view is the two resolvers' lag, as before the secondary existed."""
    nameserved.reset()
    nameserved.set_propagation_delay(ZONE, 60)
    nameserved.add_record(NAME, "TXT", '"token"')
    assert ask(nameserved.secondary, NAME, "TXT").answer
    assert not ask(nameserved.resolver, NAME, "TXT").answer


def test_the_control_api_sets_the_secondary_lag_and_lists_the_listeners(nameserved, dns_control):
    nameserved.reset()
    client = dns_control(nameserved)
    client.set_zone(ZONE, secondary_propagation_delay=45)
    assert client.zone_settings(ZONE)["secondary_propagation_delay"] == 45
    assert client.info()["ns-secondary"] == "%s:%d" % nameserved.address("ns-secondary")


@pytest.mark.parametrize("nameservers, message", [
    ({"ns": ("nowhere", ("127.53.0.0/16", 0))}, "serves one of the views"),
    ({"resolver": ("authoritative", ("127.0.0.1", 0))}, "not named like one"),
    ({"ns": ("authoritative", ("10.0.0.0/8", 0))}, "not a loopback address"),
])
def test_bad_nameserver_listeners_are_refused_with_the_fix(nameservers, message):
    with pytest.raises(Exception, match=message):
        DnsServer([ZONE], nameservers=nameservers)


def test_a_refused_privileged_port_says_what_is_needed_not_that_the_port_is_in_use(monkeypatch):
    """Without root a bind of port 53 fails with EACCES: the error names the capability and the fixes."""
    import socket

    import pytest

    from fakes.dns.errors import PortNotPermitted
    from fakes.dns.transport import bind_pair

    def refused(self, address):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(socket.socket, "bind", refused)
    with pytest.raises(PortNotPermitted) as raised:
        bind_pair("ns-primary", "127.53.0.0/16", 53)
    message = str(raised.value)
    assert "already in use" not in message
    assert "CAP_NET_BIND_SERVICE" in message and "ip_unprivileged_port_start=53" in message
