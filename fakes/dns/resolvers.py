"""The views of the zones, as dnslib resolvers: `resolve(request, exchange) -> reply`.

The authoritative view answers from each zone's newest state, as the zone's primary server does. The
resolver views are what a recursive resolver in front of it would say: they read the state that has had
time to propagate (the zone history at now - delay) and cache negative answers for the SOA minimum. The
secondary view is a secondary authoritative server whose zone transfers lag: it reads the state at
now - delay too, but answers authoritatively and caches nothing.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Callable, Mapping, NamedTuple

import dns.name
import dns.rdata
import dns.rdatatype
from dnslib import QTYPE, RCODE, RDMAP, RR, RD, DNSBuffer, DNSHeader, DNSLabel, DNSRecord

from fakes.dns.zone import ANY, CNAME, SOA, RRset, Zone, ZoneState

if TYPE_CHECKING:
    from fakes.dns.exchange import Exchange

# Longest CNAME chain followed inside the zones; a loop or a longer chain stops there, as BIND does
# (its limit is 16; chains in tests are a few links at most).
MAX_CNAME_CHAIN = 16
# Bound on cached negative answers before expired ones are swept: far above what a scenario queries.
NEGATIVE_CACHE_SWEEP = 10_000
TRANSFER_TYPES = {dns.rdatatype.AXFR, dns.rdatatype.IXFR}
# The views, each on its own address: the zones' primary, the resolver cert-manager's self-check asks,
# the resolver the CA (Pebble) validates through, and a secondary nameserver; the last three trail the
# first independently. "Both lagging views" in the API means the two resolvers.
RESOLVER_VIEWS = ("resolver", "ca_resolver")
SECONDARY = "secondary"
LAGGING_VIEWS = (*RESOLVER_VIEWS, SECONDARY)
VIEWS = ("authoritative", *LAGGING_VIEWS)


class Answer(NamedTuple):
    rcode: int
    records: tuple[tuple[dns.name.Name, int, RRset], ...]  # answer section, RRset per (owner, type)
    soa: tuple[dns.name.Name, RRset] | None = None  # authority section of negative answers

    @property
    def negative(self) -> bool:
        return self.soa is not None


def find_zone(zones: Mapping[dns.name.Name, Zone], name: dns.name.Name) -> Zone | None:
    """The zone with the longest origin that contains `name`."""
    for candidate in (name, *(name.split(depth)[1] for depth in range(len(name) - 1, 0, -1))):
        zone = zones.get(candidate)
        if zone is not None:
            return zone
    return None


def answer(state: ZoneState, zone: Zone, qname: dns.name.Name, qtype: int) -> Answer:
    """Answer a question from one state of a zone: positive, NXDOMAIN or NODATA with the SOA (whose TTL
    is min(SOA TTL, MINIMUM), RFC 2308 section 3), following CNAMEs that stay inside the zone."""
    records = []
    name = qname
    for _ in range(MAX_CNAME_CHAIN):
        node = state.nodes.get(name)
        if node is None:
            rcode = RCODE.NOERROR if name in state.names else RCODE.NXDOMAIN
            return Answer(rcode, tuple(records), _negative_soa(state, zone))
        if qtype == ANY:
            records.extend((name, rtype, rrset) for rtype, rrset in sorted(node.items()))
            break
        if qtype in node:
            records.append((name, qtype, node[qtype]))
            break
        if CNAME not in node:
            return Answer(RCODE.NOERROR, tuple(records), _negative_soa(state, zone))
        records.append((name, CNAME, node[CNAME]))
        name = node[CNAME].rdatas[0].target
        if not zone.contains(name):
            break
    return Answer(RCODE.NOERROR, tuple(records))


def _negative_soa(state: ZoneState, zone: Zone) -> tuple[dns.name.Name, RRset]:
    soa = state.nodes[zone.origin][SOA]
    return zone.origin, RRset(min(soa.ttl, soa.rdatas[0].minimum), soa.rdatas)


@functools.lru_cache(maxsize=4096)  # the packing hot spot on cache misses; rdatas are immutable
def _dnslib_rdata(rdata: dns.rdata.Rdata) -> RD:
    """dnslib's typed rdata where it can hold the value, else its opaque RD (RFC 3597 style bytes):
    dnslib's CAA, for one, insists on UTF-8 values that the wire allows to be any bytes."""
    wire = rdata.to_wire()
    try:
        return RDMAP.get(QTYPE[rdata.rdtype], RD).parse(DNSBuffer(wire), len(wire))
    except Exception:  # dnslib's parsers raise DNSError, UnicodeDecodeError, ...
        return RD(wire)


def _label(name: dns.name.Name) -> DNSLabel:
    return DNSLabel(name.labels[:-1])


def qname_of(request: DNSRecord) -> dns.name.Name:
    return dns.name.Name(tuple(request.q.qname.label) + (b"",))


def render(request: DNSRecord, result: Answer, *, authoritative: bool) -> DNSRecord:
    """The dnslib reply for an Answer; AA from an authoritative server, RA from a recursive one."""
    reply = DNSRecord(
        DNSHeader(
            id=request.header.id,
            qr=1,
            aa=int(authoritative),
            ra=int(not authoritative),
            rd=request.header.rd,
            rcode=result.rcode,
        ),
        q=request.q,
    )
    for name, rtype, rrset in result.records:
        for rdata in rrset.rdatas:
            reply.add_answer(RR(_label(name), rtype, ttl=rrset.ttl, rdata=_dnslib_rdata(rdata)))
    if result.soa is not None:
        name, rrset = result.soa
        reply.add_auth(RR(_label(name), SOA, ttl=rrset.ttl, rdata=_dnslib_rdata(rrset.rdatas[0])))
    return reply


def refuse(request: DNSRecord, exchange: "Exchange", rcode: int, reason: str, *, authoritative: bool) -> DNSRecord:
    exchange.reason = reason
    return render(request, Answer(rcode, ()), authoritative=authoritative)


def authoritative_question(zones: Mapping[dns.name.Name, Zone], request: DNSRecord, exchange: "Exchange"):
    """(zone, qname, qtype, None) for a question an authoritative server answers, or (..., refusal) for one
    it refuses as BIND does: a name in none of its zones, a zone transfer."""
    qname, qtype = qname_of(request), request.q.qtype
    zone = find_zone(zones, qname)
    if zone is None:
        return None, qname, qtype, refuse(request, exchange, RCODE.REFUSED, f"not authoritative for {qname}",
                                          authoritative=False)
    if qtype in TRANSFER_TYPES:
        return zone, qname, qtype, refuse(request, exchange, RCODE.REFUSED, "zone transfers are not allowed",
                                          authoritative=False)
    return zone, qname, qtype, None


class AuthoritativeResolver:
    """The zones' primary: newest state, AA set, REFUSED for names in no zone (as BIND answers)."""

    view = "authoritative"

    def __init__(self, zones: Mapping[dns.name.Name, Zone]):
        self.zones = zones

    def resolve(self, request: DNSRecord, exchange: "Exchange") -> DNSRecord:
        zone, qname, qtype, refusal = authoritative_question(self.zones, request, exchange)
        if refusal is not None:
            return refusal
        return render(request, answer(zone.state, zone, qname, qtype), authoritative=True)


class LaggingResolver:
    """A recursive resolver's view: a change becomes visible the view's propagation delay after it was
    made, and a negative answer, once given, is repeated for the view's negative TTL (RFC 2308) even if
    the record has appeared meanwhile. Time comes from the injected clock, so tests need no waiting.
    There are two: "resolver" (what cert-manager's self-check asks) and "ca_resolver" (Pebble's VA)."""

    def __init__(self, zones: Mapping[dns.name.Name, Zone], clock: Callable[[], float], view: str):
        self.zones = zones
        self.clock = clock
        self.view = view
        self._lock = threading.Lock()
        # (qname, qtype or None for NXDOMAIN, which covers every type of the name) -> (cached at,
        # answer, zone). The expiry is computed when read, from the zone's current negative TTL, so
        # changing the TTL at run time also shortens or lengthens what is already cached.
        self._negative: dict[tuple[dns.name.Name, int | None], tuple[float, Answer, Zone]] = {}

    def resolve(self, request: DNSRecord, exchange: "Exchange") -> DNSRecord:
        qname, qtype = qname_of(request), request.q.qtype
        zone = find_zone(self.zones, qname)
        if zone is None:
            # What a recursive resolver says for names under a TLD that does not exist (such as .test).
            exchange.reason = f"{qname} is outside every zone"
            return render(request, Answer(RCODE.NXDOMAIN, ()), authoritative=False)
        result, valid_until = self.lookup(zone, qname, qtype, remember=True)
        exchange.valid_until = min(exchange.valid_until, valid_until)
        return render(request, result, authoritative=False)

    def lookup(self, zone: Zone, qname: dns.name.Name, qtype: int, remember: bool) -> tuple[Answer, float]:
        """The answer now and until when it stays the same; `remember=False` observes without caching
        (what the records() API uses, so looking does not change what resolvers will see)."""
        now = self.clock()
        with self._lock:
            ttl = zone.lags[self.view].negative_ttl
            for key in ((qname, None), (qname, qtype)):
                cached = self._negative.get(key)
                if cached is not None and now < cached[0] + ttl:
                    return cached[1], cached[0] + ttl
            state, upcoming = zone.visible(self.view, now)
            result = answer(state, zone, qname, qtype)
            if result.negative and remember:
                nxdomain = result.rcode == RCODE.NXDOMAIN and not result.records
                self._remember((qname, None if nxdomain else qtype), now, result, zone)
                return result, min(upcoming, now + ttl)
            return result, upcoming

    def _remember(self, key, now: float, result: Answer, zone: Zone) -> None:
        if len(self._negative) >= NEGATIVE_CACHE_SWEEP:
            self._negative = {
                k: v for k, v in self._negative.items() if now < v[0] + v[2].lags[self.view].negative_ttl
            }
        self._negative[key] = (now, result, zone)

    def forget(self) -> None:
        """Empty the negative cache (a reset between tests)."""
        with self._lock:
            self._negative.clear()



class SecondaryResolver(LaggingResolver):
    """A secondary authoritative server whose copy of each zone trails the primary by the view's delay
    (zone transfer lag after NOTIFY/refresh): AA set, REFUSED outside the zones, no negative caching (an
    authoritative server answers from its copy, it does not cache what it answered)."""

    def __init__(self, zones: Mapping[dns.name.Name, Zone], clock: Callable[[], float]):
        super().__init__(zones, clock, SECONDARY)

    def resolve(self, request: DNSRecord, exchange: "Exchange") -> DNSRecord:
        zone, qname, qtype, refusal = authoritative_question(self.zones, request, exchange)
        if refusal is not None:
            return refusal
        result, valid_until = self.lookup(zone, qname, qtype, remember=False)
        exchange.valid_until = min(exchange.valid_until, valid_until)
        return render(request, result, authoritative=True)
