"""The DNS unit tests' kit: zones and keys, a fake clock, and a small client speaking real wire format
over UDP/TCP through dnspython. (A module of its own: test modules cannot reliably import conftest.)"""

from __future__ import annotations

import base64
import socket
import struct

import dns.message
import dns.query
import dns.rrset
import dns.tsig

from fakes.dns import TsigKey

ZONE = "example.test."
OTHER_ZONE = "other.test."
SECRETS = {alg: base64.b64encode(f"{alg}-secret-for-tests".encode()).decode()
           for alg in ("hmac-md5", "hmac-sha1", "hmac-sha256", "hmac-sha512")}
# One key per algorithm, named after it; "certchaos" is the sha256 key scenarios use.
KEYS = [TsigKey(alg, alg, secret) for alg, secret in SECRETS.items()] + [
    TsigKey("certchaos", "hmac-sha256", SECRETS["hmac-sha256"])
]


class FakeClock:
    """The server's clock for view, negative-cache and fault-duration tests: advanced by hand."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


TIMEOUT = 2.0  # seconds; loopback answers take milliseconds, so this only bounds a failing test


def ask(address, name: str, rtype: str = "A", *, tcp: bool = False, payload: int | None = None) -> dns.message.Message:
    query = dns.message.make_query(name, rtype, use_edns=payload is not None, payload=payload or 512)
    host, port = address
    if tcp:
        return dns.query.tcp(query, host, port=port, timeout=TIMEOUT)
    return dns.query.udp(query, host, port=port, timeout=TIMEOUT, ignore_trailing=False)


def raw(address, wire: bytes, *, tcp: bool = False, timeout: float = TIMEOUT) -> bytes | None:
    """Send bytes, return the reply's bytes or None if none came within `timeout`."""
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            if tcp:
                sock.sendall(struct.pack("!H", len(wire)) + wire)
                length = struct.unpack("!H", _exactly(sock, 2))[0]
                return _exactly(sock, length)
            sock.send(wire)
            return sock.recv(65535)
        except (socket.timeout, ConnectionError):
            return None


def _exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def dnspython_key(key: TsigKey, secret: str | None = None) -> dns.tsig.Key:
    return dns.tsig.Key(key.name, secret or key.secret, key.dnspython_key().algorithm)


def sign(message: dns.message.Message, key: dns.tsig.Key, at: int | None = None) -> bytes:
    """The message's wire, TSIG-signed with `key`, at the time `at` (epoch seconds; None: now)."""
    message.use_tsig(key)
    if at is None:
        return message.to_wire()
    template, owner = message.tsig[0], message.keyname
    message.tsig = None
    unsigned = message.to_wire()
    rdata, _ = dns.tsig.sign(unsigned, key, template, int(at), b"")
    message.tsig, message.want_tsig_sign = dns.rrset.from_rdata(owner, 0, rdata), False
    return message.to_wire()


class Reply:
    """A reply to a signed update: its message (TSIG not checked) and whether its TSIG verifies."""

    def __init__(self, wire: bytes, key: dns.tsig.Key | None, request_mac: bytes):
        self.message = dns.message.from_wire(wire, keyring=False)
        self.rcode = self.message.rcode()
        tsig = self.message.tsig[0] if self.message.tsig else None
        self.tsig_error = tsig.error if tsig is not None else None
        self.mac = tsig.mac if tsig is not None else None
        self.verified = tsig is not None and key is not None and _mac_verifies(wire, self.message, key, request_mac)


def _mac_verifies(wire: bytes, message: dns.message.Message, key: dns.tsig.Key, request_mac: bytes) -> bool:
    """Whether the reply's TSIG MAC is right, also when it carries a TSIG error (dnspython's own check
    stops at the error, but a BADTIME reply must still be signed)."""
    tsig = message.tsig[0]
    tsig_length = len(message.keyname.to_wire()) + 10 + len(tsig.to_wire())  # owner, fixed fields, rdata
    body = wire[:-tsig_length]
    body = body[:10] + struct.pack("!H", struct.unpack("!H", body[10:12])[0] - 1) + body[12:]
    try:
        dns.tsig._digest(body, key, tsig, None, request_mac).verify(tsig.mac)  # dnspython's MAC input
        return True
    except Exception:
        return False


def send_update(address, message: dns.message.Message, key: dns.tsig.Key | None, *, at=None, tcp=False) -> Reply:
    wire = sign(message, key, at) if key is not None else message.to_wire()
    reply = raw(address, wire, tcp=tcp)
    assert reply is not None, "no reply to the update"
    return Reply(reply, key, message.mac if key is not None else b"")
