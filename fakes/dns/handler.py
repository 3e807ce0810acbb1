"""Wire format in, wire format out: the handler role of dnslib's four.

It routes a message by opcode (queries to the view's resolver, updates to the update processor),
answers what cannot be parsed as a real server does (FORMERR, NOTIMP, or silence for non-queries),
applies EDNS0 and UDP truncation, logs every message, and keeps packed answers in a cache so the hot
path of a repeated question is a dict lookup (the fake must keep up with resolvers that hammer it).
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Callable

from dnslib import EDNS0, OPCODE, QTYPE, RCODE, DNSHeader, DNSRecord

from fakes.dns.exchange import Exchange
from fakes.dns.log import LogEntry, QueryLog
from fakes.dns.resolvers import refuse
from fakes.dns.update import UpdateProcessor, header_only

# Our advertised and largest UDP payload: 1232 bytes is the DNS Flag Day 2020 default of BIND, Unbound
# and Knot, small enough to avoid IP fragmentation. Without EDNS0 the limit is the classic 512.
MAX_UDP_PAYLOAD = 1232
CLASSIC_UDP_PAYLOAD = 512
# Cached packed answers before the cache is emptied: far more distinct questions than a scenario asks,
# small enough (a few MB) not to matter.
ANSWER_CACHE_SIZE = 10_000
OPCODE_UPDATE = 5
CLASS_IN = 1
HEADER_SIZE = 12  # bytes of a DNS header: ID, flags, four section counts
QR = 0x80  # the response bit, in the third byte of the header


class WireHandler:
    """Turns one received message into the reply to send (or None) and how long to delay it."""

    def __init__(self, resolvers: dict, updater: UpdateProcessor, log: QueryLog, clock: Callable[[], float]):
        self.resolvers = resolvers
        self.updater = updater
        self.log = log
        self.clock = clock
        self.errors: list[str] = []  # internal errors, re-raised in the caller's thread by check()
        self._cache: dict[tuple[str, str, bytes], tuple[bytes, tuple, float]] = {}
        self._generation = 0
        self._cache_lock = threading.Lock()

    def invalidate(self) -> None:
        """Forget packed answers: a zone, a setting or a fault changed."""
        with self._cache_lock:
            self._generation += 1
            self._cache.clear()

    def handle(self, data: bytes, view: str, transport: str, client: tuple) -> tuple[bytes | None, float]:
        key = (view, transport, data[2:])
        hit = self._cache.get(key)
        if hit is not None and self.clock() < hit[2]:
            self.log.record(LogEntry(time.time(), view, f"{client[0]}:{client[1]}", transport, *hit[1]))
            return data[:2] + hit[0], 0.0
        generation = self._generation
        exchange = Exchange(view, transport, f"{client[0]}:{client[1]}")
        try:
            reply = self._reply(data, exchange)
        except Exception as error:  # a bug here must not kill the server: answer SERVFAIL, surface it
            self.errors.append(f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
            exchange.rcode, exchange.reason = "SERVFAIL", f"internal error: {type(error).__name__}: {error}"
            reply = header_only(data, RCODE.SERVFAIL) if len(data) >= HEADER_SIZE else None
        self.log.record(exchange.entry())
        cacheable = exchange.kind == "query" and reply is not None and exchange.delay == 0
        if cacheable and exchange.valid_until > self.clock():
            template = (exchange.kind, exchange.name, exchange.rtype, exchange.rcode, exchange.answers, exchange.reason)
            with self._cache_lock:
                if generation == self._generation:
                    if len(self._cache) >= ANSWER_CACHE_SIZE:
                        self._cache.clear()
                    self._cache[key] = (reply[2:], template, exchange.valid_until)
        return reply, exchange.delay

    def reject(self, view: str, transport: str, client: tuple, reason: str) -> None:
        """Log a message the transport could not even hand over (a TCP stream cut short)."""
        exchange = Exchange(view, transport, f"{client[0]}:{client[1]}", kind="invalid", reason=reason)
        self.log.record(exchange.entry())

    def _reply(self, data: bytes, exchange: Exchange) -> bytes | None:
        if len(data) < HEADER_SIZE:
            exchange.kind, exchange.reason = "invalid", f"{len(data)} bytes: shorter than a DNS header, dropped"
            return None
        if data[2] & QR:
            exchange.kind, exchange.reason = "invalid", "a response, not a request: dropped (no reply loops)"
            return None
        opcode = (data[2] >> 3) & 0xF  # bits 1-4 of the third byte
        if opcode == OPCODE_UPDATE:
            if exchange.view != "authoritative":
                exchange.kind, exchange.rcode = "update", "REFUSED"
                exchange.reason = "updates go to the authoritative address, not the resolver"
                return header_only(data, RCODE.REFUSED)
            return self.updater.handle(data, exchange)
        if opcode != OPCODE.QUERY:
            exchange.kind, exchange.rcode = "invalid", "NOTIMP"
            exchange.reason = f"opcode {OPCODE.forward.get(opcode, opcode)} not implemented"
            return header_only(data, RCODE.NOTIMP)
        try:
            request = DNSRecord.parse(data)
        except Exception as error:  # dnslib raises DNSError and, on some garbage, others
            exchange.kind, exchange.rcode, exchange.reason = "invalid", "FORMERR", f"malformed query: {error}"
            return header_only(data, RCODE.FORMERR)
        if len(request.questions) != 1:
            exchange.rcode = "FORMERR"
            exchange.reason = f"{len(request.questions)} questions; a query has exactly one"
            return header_only(data, RCODE.FORMERR)
        exchange.name, exchange.rtype = str(request.q.qname), QTYPE[request.q.qtype]
        if request.q.qclass != CLASS_IN:
            reply = refuse(request, exchange, RCODE.REFUSED, "only class IN is served", authoritative=False)
        else:
            reply = self.resolvers[exchange.view].resolve(request, exchange)
        if reply is None:
            return None
        exchange.rcode = RCODE[reply.header.rcode]
        exchange.answers = tuple(f"{rr.rname} {rr.ttl} {QTYPE[rr.rtype]} {rr.rdata.toZone()}" for rr in reply.rr)
        return self._pack(request, reply, exchange)

    def _pack(self, request: DNSRecord, reply: DNSRecord, exchange: Exchange) -> bytes:
        """Pack with EDNS0 if the client used it, and truncate (TC, no records) what does not fit the
        client's UDP payload, so it retries over TCP (RFC 1035 4.2.1, RFC 6891 6.2.5)."""
        opt = next((rr for rr in request.ar if rr.rtype == QTYPE.OPT), None)
        if opt is not None:
            reply.add_ar(EDNS0(udp_len=MAX_UDP_PAYLOAD))
        wire = reply.pack()
        limit = CLASSIC_UDP_PAYLOAD if opt is None else max(CLASSIC_UDP_PAYLOAD, min(opt.rclass, MAX_UDP_PAYLOAD))
        if exchange.transport == "tcp" or len(wire) <= limit:
            return wire
        header = reply.header
        truncated = DNSRecord(
            DNSHeader(id=header.id, qr=1, aa=header.aa, ra=header.ra, rd=header.rd, tc=1, rcode=header.rcode),
            q=request.q,
        )
        if opt is not None:
            truncated.add_ar(EDNS0(udp_len=MAX_UDP_PAYLOAD))
        exchange.reason = f"truncated: {len(wire)} bytes exceed the UDP limit of {limit}"
        return truncated.pack()
