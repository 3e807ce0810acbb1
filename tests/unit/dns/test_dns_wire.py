"""Queries on the wire are answered as a real authoritative server answers them: records round-trip
through dnspython's decoder over UDP and TCP, NXDOMAIN/NODATA carry the SOA, AA is set, names outside
the zones are REFUSED, big UDP answers are truncated and come whole over TCP."""

from __future__ import annotations

import dns.flags
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CAA
import dns.rdtypes.ANY.TXT
from dns_testkit import OTHER_ZONE, ZONE, ask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Wire round trips start sockets and talk to the server per example: enough examples to cover the
# record types and name shapes, few enough to stay within a few seconds.
WIRE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
owners = st.lists(labels, min_size=1, max_size=3).map(lambda ls: ".".join(ls) + "." + ZONE)
txt_strings = st.binary(min_size=0, max_size=60)


def rdata_text(rtype: str, value) -> str:
    """Presentation text made by dnspython itself, so escaping of odd bytes is dnspython's."""
    if rtype == "TXT":
        return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, value).to_text()
    if rtype == "CAA":
        flags, tag, text = value
        return dns.rdtypes.ANY.CAA.CAA(dns.rdataclass.IN, dns.rdatatype.CAA, flags, tag, text).to_text()
    return str(value)


records = st.one_of(
    st.tuples(st.just("A"), st.ip_addresses(v=4)),
    st.tuples(st.just("AAAA"), st.ip_addresses(v=6)),
    st.tuples(st.just("TXT"), st.lists(txt_strings, min_size=1, max_size=3)),
    st.tuples(st.just("CAA"), st.tuples(st.sampled_from([0, 128]), st.sampled_from([b"issue", b"issuewild", b"iodef"]),
                                        st.binary(min_size=1, max_size=30).filter(lambda b: b"\\" not in b))),
).map(lambda r: (r[0], rdata_text(*r)))


def parsed(rtype: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text("IN", rtype, text)


def answer_set(reply) -> set:
    return {(rrset.name.to_text().lower(), dns.rdatatype.to_text(rrset.rdtype), r) for rrset in reply.answer for r in rrset}


@WIRE
@given(st.lists(st.tuples(owners, records, st.integers(0, 86400)), min_size=1, max_size=8), st.booleans())
def test_added_records_come_back_over_udp_and_tcp(server, entries, use_edns):
    server.reset()
    model: dict[tuple[str, str], tuple[int, set]] = {}
    for owner, (rtype, text), ttl in entries:
        server.add_record(owner, rtype, text, ttl=ttl)
        _, rdatas = model.get((owner, rtype), (ttl, set()))
        model[(owner, rtype)] = (ttl, rdatas | {parsed(rtype, text)})  # the RRset takes the newest TTL
    for (owner, rtype), (ttl, rdatas) in model.items():
        udp = ask(server.authoritative, owner, rtype, payload=1232 if use_edns else None)
        tcp = ask(server.authoritative, owner, rtype, tcp=True)
        for reply in (tcp,) if udp.flags & dns.flags.TC else (udp, tcp):
            assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
            assert answer_set(reply) == {(owner.lower(), rtype, r) for r in rdatas}
            assert {rrset.ttl for rrset in reply.answer} == {ttl}
        if udp.flags & dns.flags.TC:
            assert not udp.answer and len(tcp.to_wire()) > (1232 if use_edns else 512)


@WIRE
@given(st.lists(owners, min_size=1, max_size=5), owners, st.sampled_from(["A", "AAAA", "TXT", "CAA", "MX", "SOA"]))
def test_negative_answers_tell_nxdomain_from_nodata_and_carry_the_soa(server, existing, asked, rtype):
    server.reset()
    for owner in existing:
        server.add_record(owner, "TXT", '"x"')
    names = {dns.name.from_text(o) for o in existing}
    ancestors = {n for o in names for n in [o, *(o.split(d)[1] for d in range(3, len(o)))]}
    question = dns.name.from_text(asked)
    reply = ask(server.authoritative, asked, rtype)
    assert reply.flags & dns.flags.AA
    if question in names and rtype == "TXT":
        assert reply.rcode() == dns.rcode.NOERROR and reply.answer
        return
    expected = dns.rcode.NOERROR if question in ancestors else dns.rcode.NXDOMAIN
    assert (reply.rcode(), reply.answer) == (expected, [])
    (soa,) = reply.authority
    assert soa.rdtype == dns.rdatatype.SOA and soa.name == dns.name.from_text(ZONE)
    assert soa.ttl == min(3600, soa[0].minimum) == 30  # RFC 2308: the SOA's TTL is capped by MINIMUM


@WIRE
@given(labels, st.sampled_from(["A", "TXT", "SOA", "NS"]))
def test_names_outside_every_zone_are_refused_without_aa(server, label, rtype):
    reply = ask(server.authoritative, f"{label}.elsewhere.test.", rtype)
    assert reply.rcode() == dns.rcode.REFUSED and not reply.flags & dns.flags.AA and not reply.answer


def test_each_zone_answers_its_own_soa_and_ns(dns_server):
    for zone in (ZONE, OTHER_ZONE):
        soa = ask(dns_server.authoritative, zone, "SOA")
        ns = ask(dns_server.authoritative, zone, "NS")
        assert soa.answer[0][0].mname == dns.name.from_text("ns1." + zone)
        assert [r.target.to_text() for r in ns.answer[0]] == ["ns1." + zone]


def test_a_cname_is_followed_inside_the_zone(dns_server):
    dns_server.add_record("alias.example.test.", "CNAME", "www.example.test.")
    dns_server.add_record("www.example.test.", "A", "192.0.2.7")
    reply = ask(dns_server.authoritative, "alias.example.test.", "A")
    assert [(r.name.to_text(), dns.rdatatype.to_text(r.rdtype)) for r in reply.answer] == [
        ("alias.example.test.", "CNAME"), ("www.example.test.", "A"),
    ]


def test_big_udp_answers_are_truncated_by_the_clients_payload_and_whole_over_tcp(dns_server):
    name = "big.example.test."
    for i in range(12):  # 12 TXT records of ~100 bytes: ~1.3 KB, beyond 512 and beyond 1232
        dns_server.add_record(name, "TXT", f'"{i:02d}{"x" * 98}"')
    classic = ask(dns_server.authoritative, name, "TXT")
    big_payload = ask(dns_server.authoritative, name, "TXT", payload=4096)
    tcp = ask(dns_server.authoritative, name, "TXT", tcp=True)
    assert classic.flags & dns.flags.TC and not classic.answer and classic.question
    assert big_payload.flags & dns.flags.TC and big_payload.edns == 0 and big_payload.payload == 1232
    assert len(tcp.answer[0]) == 12 and not tcp.flags & dns.flags.TC
    dns_server.remove_records(name, "TXT", f'"00{"x" * 98}"')
    for i in range(1, 7):
        dns_server.remove_records(name, "TXT", f'"{i:02d}{"x" * 98}"')
    assert len(ask(dns_server.authoritative, name, "TXT", payload=1232).answer[0]) == 5  # ~550 bytes fit
    assert ask(dns_server.authoritative, name, "TXT").flags & dns.flags.TC  # but not in 512
    assert "truncated" in dns_server.log.queries(name)[-1].reason


def test_queries_are_logged_with_their_answers(dns_server):
    dns_server.add_record("www.example.test.", "A", "192.0.2.1")
    ask(dns_server.authoritative, "www.example.test.", "A")
    ask(dns_server.resolver, "www.example.test.", "A", tcp=True)
    auth, res = dns_server.log.queries("www.example.test.")
    assert (auth.view, auth.transport, auth.rcode, auth.answers) == (
        "authoritative", "udp", "NOERROR", ("www.example.test. 60 A 192.0.2.1",)
    )
    assert (res.view, res.transport) == ("resolver", "tcp") and auth.client.startswith("127.0.0.1:")
