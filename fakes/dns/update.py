"""RFC 2136 dynamic updates authenticated with TSIG (RFC 8945): what cert-manager's RFC2136 provider sends.

dnspython does the TSIG maths (verify the request, sign the response); this module does what a real
primary does with the message: TSIG errors as NOTAUTH with BADKEY/BADSIG/BADTIME, unsigned updates
REFUSED, prerequisites (section 3.2), the key's policy, the prescan (3.4.1) and the atomic apply (3.4.2).
"""

from __future__ import annotations

import struct
import time
from typing import TYPE_CHECKING, Mapping

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig

from fakes.dns.keys import KeyStore, key_name
from fakes.dns.zone import ANY, NS, SOA, Change, Zone

if TYPE_CHECKING:
    from fakes.dns.exchange import Exchange

IN = dns.rdataclass.IN
# TSIG error names (dns.rcode.to_text(16) says BADVERS, which shares the value with BADSIG).
TSIG_ERRORS = {dns.rcode.BADSIG: "BADSIG", dns.rcode.BADKEY: "BADKEY", dns.rcode.BADTIME: "BADTIME"}


class Reject(Exception):
    """Stops processing an update with an rcode and the reason the log shows."""

    def __init__(self, rcode: int, reason: str):
        self.rcode, self.reason = rcode, reason
        super().__init__(reason)


def header_only(wire: bytes, rcode: int) -> bytes:
    """A reply carrying only the request's header (ID, opcode, RD) with QR and `rcode`: the answer to a
    message that cannot be parsed further (FORMERR) or whose opcode is not implemented (NOTIMP)."""
    ident, flags = struct.unpack("!HH", wire[:4])
    flags = 0x8000 | (flags & 0x7900) | rcode  # QR, keep opcode and RD
    return struct.pack("!HHHHHH", ident, flags, 0, 0, 0, 0)


class UpdateProcessor:
    """Applies signed updates to the zones, with the keys of a KeyStore."""

    def __init__(self, zones: Mapping[dns.name.Name, Zone], keys: KeyStore):
        self.zones = zones
        self.keys = keys

    def handle(self, wire: bytes, exchange: "Exchange") -> bytes:
        """Process one update message; returns the response wire and fills in the exchange for the log."""
        exchange.kind = "update"
        try:
            message = dns.message.from_wire(wire, keyring=self.keys.keyring)
        except (dns.message.UnknownTSIGKey, dns.tsig.BadKey, dns.tsig.BadAlgorithm):
            return self._tsig_error(wire, exchange, dns.rcode.BADKEY)
        except dns.tsig.BadSignature:
            return self._tsig_error(wire, exchange, dns.rcode.BADSIG)
        except dns.tsig.BadTime:
            return self._tsig_error(wire, exchange, dns.rcode.BADTIME)
        except Exception as error:  # dnspython raises many types for malformed input
            exchange.reason = f"malformed update: {type(error).__name__}: {error}"
            exchange.rcode = "FORMERR"
            return header_only(wire, dns.rcode.FORMERR)
        response = dns.message.make_response(message)
        exchange.changes = _describe(message)
        try:
            self._process(message, exchange)
            rcode = dns.rcode.NOERROR
        except Reject as reject:
            rcode, exchange.reason = reject.rcode, reject.reason
        response.set_rcode(rcode)
        exchange.rcode = dns.rcode.to_text(rcode)
        return response.to_wire()

    def _process(self, message: dns.message.Message, exchange: "Exchange") -> None:
        if len(message.question) != 1:
            raise Reject(dns.rcode.FORMERR, "the zone section must hold exactly one zone")
        origin = message.question[0].name
        exchange.name = origin.to_text().lower()
        zone = self.zones.get(origin)
        if zone is None or message.question[0].rdclass != IN:
            raise Reject(dns.rcode.NOTAUTH, f"not authoritative for zone {exchange.name}")
        if not message.had_tsig:
            raise Reject(dns.rcode.REFUSED, "unsigned update refused: a TSIG key is required")
        key, _ = self.keys.get(message.keyname.to_text())
        exchange.key = key.name
        with zone.lock:  # prerequisites and changes are one atomic step against concurrent updates
            _check_prerequisites(zone, message.answer)
            changes = [_change(zone, rrset) for rrset in message.authority]
            if key.policy is not None:
                for change in changes:
                    for rtype in _types_touched(zone, change):
                        name = change.name.to_text().lower()
                        if not key.policy.permits(name, rtype):
                            raise Reject(dns.rcode.REFUSED, f"policy of key {key.name} forbids {rtype} {name}")
            ignored = zone.apply(changes)
        if ignored:
            exchange.reason = "; ".join(f"ignored {change}: {why}" for change, why in ignored)

    def _tsig_error(self, wire: bytes, exchange: "Exchange", error: int) -> bytes:
        """NOTAUTH with the TSIG error: unsigned (empty MAC) for BADKEY and BADSIG, signed with the
        server's time in "other data" for BADTIME, as RFC 8945 section 5.3.2 prescribes."""
        message = dns.message.from_wire(wire, keyring=False)  # parsed once already, TSIG aside
        tsig = message.tsig[0]
        keyname = key_name(message.keyname.to_text())
        exchange.key, exchange.rcode, exchange.tsig_error = keyname, "NOTAUTH", TSIG_ERRORS[error]
        exchange.name = message.question[0].name.to_text().lower() if message.question else None
        exchange.changes = _describe(message)
        known = self.keys.get(keyname)
        if error == dns.rcode.BADKEY:
            if known is None:
                exchange.reason = f"unknown key {keyname}"
            elif known[1]:
                exchange.reason = f"key {keyname} revoked"
            else:
                exchange.reason = f"key {keyname} is {known[0].algorithm}, the update is signed with {tsig.algorithm}"
        else:
            exchange.reason = {
                dns.rcode.BADSIG: f"bad signature for key {keyname} (wrong secret?)",
                dns.rcode.BADTIME: f"time signed {tsig.time_signed} is more than {tsig.fudge}s from the server's",
            }[error]
        response = dns.message.make_response(message)
        response.set_rcode(dns.rcode.NOTAUTH)
        now = int(time.time())
        if error == dns.rcode.BADTIME:
            response.use_tsig(
                known[0].dnspython_key(),
                tsig_error=error,
                other_data=struct.pack("!Q", now)[2:],  # 48-bit time signed, as in the TSIG RR
                algorithm=tsig.algorithm,
            )
            response.request_mac = tsig.mac
        else:
            response.tsig = dns.rrset.from_rdata(message.keyname, 0, tsig.replace(mac=b"", error=error, other=b""))
        return response.to_wire()


def _check_prerequisites(zone: Zone, prerequisites: list[dns.rrset.RRset]) -> None:
    nodes = zone.state.nodes
    expected: dict[tuple[dns.name.Name, int], set] = {}
    for rrset in prerequisites:
        name, rtype = rrset.name, rrset.rdtype
        if rrset.ttl != 0:
            raise Reject(dns.rcode.FORMERR, f"prerequisite {name} {dns.rdatatype.to_text(rtype)} has TTL != 0")
        if not zone.contains(name):
            raise Reject(dns.rcode.NOTZONE, f"prerequisite {name} is outside zone {zone.origin}")
        node = nodes.get(name, {})
        what = f"{name} {dns.rdatatype.to_text(rtype)}"
        if rrset.deleting == dns.rdataclass.ANY:
            if rtype == ANY and not node:
                raise Reject(dns.rcode.NXDOMAIN, f"prerequisite failed: name {name} is not in use")
            if rtype != ANY and rtype not in node:
                raise Reject(dns.rcode.NXRRSET, f"prerequisite failed: RRset {what} does not exist")
        elif rrset.deleting == dns.rdataclass.NONE:
            if rtype == ANY and node:
                raise Reject(dns.rcode.YXDOMAIN, f"prerequisite failed: name {name} is in use")
            if rtype != ANY and rtype in node:
                raise Reject(dns.rcode.YXRRSET, f"prerequisite failed: RRset {what} exists")
        elif rrset.rdclass == IN:
            expected.setdefault((name, rtype), set()).update(rrset)
        else:
            raise Reject(dns.rcode.FORMERR, f"prerequisite {what} has class {dns.rdataclass.to_text(rrset.rdclass)}")
    for (name, rtype), rdatas in expected.items():
        present = nodes.get(name, {}).get(rtype)
        if present is None or set(present.rdatas) != rdatas:
            what = f"{name} {dns.rdatatype.to_text(rtype)}"
            raise Reject(dns.rcode.NXRRSET, f"prerequisite failed: RRset {what} differs from the expected one")


def _change(zone: Zone, rrset: dns.rrset.RRset) -> Change:
    """The prescan of one update RR (RFC 2136 section 3.4.1.3) and the Change it asks for."""
    name, rtype = rrset.name, rrset.rdtype
    what = f"{name} {dns.rdatatype.to_text(rtype)}"
    if not zone.contains(name):
        raise Reject(dns.rcode.NOTZONE, f"update of {name} is outside zone {zone.origin}")
    meta = dns.rdatatype.is_metatype(rtype)
    if rrset.deleting is None:
        if rrset.rdclass != IN or meta:
            raise Reject(dns.rcode.FORMERR, f"cannot add {what} of class {dns.rdataclass.to_text(rrset.rdclass)}")
        return Change("add", name, rtype, rrset.ttl, rrset[0])
    if rrset.ttl != 0 or (meta and rtype != ANY) or (rrset.deleting == dns.rdataclass.NONE and rtype == ANY):
        raise Reject(dns.rcode.FORMERR, f"malformed delete of {what}")
    if rrset.deleting == dns.rdataclass.ANY:
        return Change("delete-name" if rtype == ANY else "delete-rrset", name, rtype)
    return Change("delete-record", name, rtype, 0, rrset[0])


def _describe(message: dns.message.Message) -> tuple[str, ...]:
    """What the update asks for, as the log shows it, also when it is refused before being checked."""
    ops = {None: "add", dns.rdataclass.NONE: "delete-record"}
    return tuple(
        str(Change(ops.get(rrset.deleting, "delete-name" if rrset.rdtype == ANY else "delete-rrset"),
                   rrset.name, rrset.rdtype, rrset.ttl, rrset[0] if len(rrset) else None))
        for rrset in message.authority
    )


def _types_touched(zone: Zone, change: Change) -> list[str]:
    """The record types a change would alter; deleting a whole name touches every type present there
    (except the apex SOA and NS, which it leaves alone)."""
    if change.op != "delete-name":
        return [dns.rdatatype.to_text(change.rtype)]
    node = zone.state.nodes.get(change.name, {})
    apex = change.name == zone.origin
    return [dns.rdatatype.to_text(t) for t in node if not (apex and t in (SOA, NS))]
