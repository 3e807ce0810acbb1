"""Whatever arrives, the server keeps serving, logs it, and answers as a real server would: FORMERR for
what it cannot parse, NOTIMP for opcodes it does not implement, REFUSED for what it will not serve,
silence for what is not a request at all."""

from __future__ import annotations

import socket
import struct

import dns.message
import dns.opcode
import dns.rcode
import dns.update
import pytest
from dns_testkit import ZONE, ask, raw
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.wait import Seen, wait_for

QUERY = dns.message.make_query("www.example.test.", "A", id=0x1234).to_wire()


def header(reply: bytes) -> tuple[int, int, int]:
    """(id, opcode, rcode) of a reply."""
    ident, flags = struct.unpack("!HH", reply[:4])
    assert flags & 0x8000, "QR must be set in a reply"
    return ident, (flags >> 11) & 0xF, flags & 0xF


def with_header(wire: bytes, *, flags: int | None = None, qdcount: int | None = None) -> bytes:
    ident, old_flags, old_qd, rest = *struct.unpack("!HHH", wire[:6]), wire[6:]
    return struct.pack("!HHH", ident, old_flags if flags is None else flags, old_qd if qdcount is None else qdcount) + rest


def still_serving(server) -> None:
    assert ask(server.authoritative, ZONE, "SOA").answer
    server.check()


mutations = st.one_of(
    st.binary(max_size=80),
    st.integers(0, len(QUERY)).map(lambda n: QUERY[:n]),
    st.tuples(st.integers(0, len(QUERY) - 1), st.integers(0, 255)).map(
        lambda m: QUERY[: m[0]] + bytes([m[1]]) + QUERY[m[0] + 1 :]
    ),
    st.binary(min_size=1, max_size=40).map(lambda junk: QUERY + junk),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations, st.booleans())
def test_any_bytes_leave_the_server_serving_and_are_logged(server, data, tcp):
    server.reset()
    answerable = len(data) >= 12 and not data[2] & 0x80
    # Unanswerable messages: wait 50 ms for the reply that must not come (loopback answers take ~1 ms).
    reply = raw(server.authoritative, data, tcp=tcp, timeout=2.0 if answerable else 0.05)
    assert (reply is not None and reply[:2] == data[:2]) if answerable else reply is None
    # The server logs an unanswerable message after the client stopped waiting for it: poll for the entry.
    wait_for(lambda: Seen(len(server.log) == 1, len(server.log)), subject="fake DNS log",
             expected="one entry for the message", timeout=5)
    still_serving(server)


def test_a_cut_query_is_formerr_with_its_id(dns_server):
    assert header(raw(dns_server.authoritative, QUERY[:20])) == (0x1234, 0, dns.rcode.FORMERR)
    assert dns_server.log.entries()[-1].kind == "invalid"


@pytest.mark.parametrize("opcode", [1, 2, 3, 4, 6, 15])  # IQUERY, STATUS, unassigned, NOTIFY, DSO, ...
def test_opcodes_other_than_query_and_update_are_notimp(dns_server, opcode):
    reply = raw(dns_server.authoritative, with_header(QUERY, flags=opcode << 11))
    assert header(reply) == (0x1234, opcode, dns.rcode.NOTIMP)
    assert "not implemented" in dns_server.log.entries()[-1].reason
    still_serving(dns_server)


@pytest.mark.parametrize("qdcount", [0, 2])
def test_a_query_needs_exactly_one_question(dns_server, qdcount):
    body = QUERY + QUERY[12:] if qdcount == 2 else QUERY[:12]
    reply = raw(dns_server.authoritative, with_header(body, qdcount=qdcount))
    assert header(reply)[2] == dns.rcode.FORMERR


def test_responses_and_runts_get_no_reply(dns_server):
    assert raw(dns_server.authoritative, with_header(QUERY, flags=0x8000), timeout=0.3) is None
    assert raw(dns_server.authoritative, b"\x12\x34\x00", timeout=0.3) is None
    reasons = [e.reason for e in dns_server.log.entries()]
    assert "a response" in reasons[0] and "shorter than a DNS header" in reasons[1]
    still_serving(dns_server)


def test_other_classes_and_zone_transfers_are_refused(dns_server):
    chaos = dns.message.make_query("version.bind.", "TXT", "CH")
    assert ask_rcode(dns_server, chaos) == dns.rcode.REFUSED
    assert ask_rcode(dns_server, dns.message.make_query(ZONE, "AXFR"), tcp=True) == dns.rcode.REFUSED


def ask_rcode(server, message, tcp=False):
    return dns.message.from_wire(raw(server.authoritative, message.to_wire(), tcp=tcp)).rcode()


def test_a_malformed_update_is_formerr(dns_server):
    update = dns.update.UpdateMessage(ZONE)
    update.add("x", 60, "TXT", '"v"')
    wire = bytearray(update.to_wire())
    wire[5] = 2  # ZOCOUNT 2: the zone section must hold exactly one zone
    reply = raw(dns_server.authoritative, bytes(wire))
    assert header(reply)[1:] == (dns.opcode.UPDATE, dns.rcode.FORMERR)
    assert dns_server.log.updates()[-1].reason.startswith("malformed update")


def test_a_tcp_message_cut_short_is_logged_and_the_connection_closed(dns_server):
    with socket.create_connection(dns_server.authoritative, timeout=2) as sock:
        sock.sendall(struct.pack("!H", len(QUERY)) + QUERY[:10])
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b""
    assert "cut short" in dns_server.log.entries()[-1].reason
    still_serving(dns_server)


def test_several_queries_on_one_tcp_connection(dns_server):
    with socket.create_connection(dns_server.authoritative, timeout=2) as sock:
        for _ in range(3):
            sock.sendall(struct.pack("!H", len(QUERY)) + QUERY)
            length = struct.unpack("!H", sock.recv(2))[0]
            assert header(sock.recv(length))[0] == 0x1234
