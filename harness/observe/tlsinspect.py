"""What a TLS certificate is: from a kubernetes.io/tls Secret's tls.crt/tls.key/ca.crt, or from a real
TLS handshake with a server. Serial, validity, names, issuer, whether the key matches, whether the chain
verifies to a root.

Chain verification is signature-and-validity only (each certificate signed by the next, issuers are CAs,
all valid at the given time, ending at a given root), not a browser's policy: cert-manager's self-signed
issuer produces a non-CA leaf that is its own ca.crt, and that must count as verified.
"""

from __future__ import annotations

import base64
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from harness.errors import HarnessError

# A TLS handshake on loopback takes milliseconds; 5 s leaves room for a loaded machine without letting a
# server that accepts but never answers stall the condition polling it.
HANDSHAKE_TIMEOUT = 5.0


def normalise_serial(serial: str | int) -> str:
    """Lowercase hex without separators or leading zeros: "00:AB:0c" and 0xab0c compare equal."""
    if isinstance(serial, int):
        return format(serial, "x")
    return format(int(serial.replace(":", "").strip() or "0", 16), "x")


@dataclass(frozen=True)
class CertInfo:
    serial: str
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    is_ca: bool

    @classmethod
    def of(cls, cert: x509.Certificate) -> "CertInfo":
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns = tuple(san.get_values_for_type(x509.DNSName))
            ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
        except x509.ExtensionNotFound:
            dns, ips = (), ()
        return cls(
            serial=normalise_serial(cert.serial_number),
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            dns_names=dns,
            ip_addresses=ips,
            is_ca=_is_ca(cert),
        )

    def summary(self) -> dict:
        return {"serial": self.serial, "subject": self.subject, "issuer": self.issuer,
                "notBefore": self.not_before.isoformat(), "notAfter": self.not_after.isoformat(),
                "dnsNames": list(self.dns_names), "ipAddresses": list(self.ip_addresses)}


@dataclass(frozen=True)
class Inspection:
    """A certificate as found: the leaf, the rest of the chain as presented, and the two checks.
    key_matches is None when there is no key to compare (a served certificate); verified is None when
    there was no root to verify against, with verify_error saying why it did not verify otherwise."""

    leaf: CertInfo
    chain: tuple[CertInfo, ...]
    key_matches: bool | None
    verified: bool | None
    verify_error: str | None

    @property
    def serial(self) -> str:
        return self.leaf.serial

    def summary(self) -> dict:
        out = self.leaf.summary()
        if self.chain:
            out["chain"] = [c.subject for c in self.chain]
        if self.key_matches is not None:
            out["keyMatches"] = self.key_matches
        if self.verified is not None:
            out["verified"] = self.verified
        if self.verify_error:
            out["verifyError"] = self.verify_error
        return out


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def load_certificates(pem: bytes, what: str = "certificate") -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        raise HarnessError(f"{what}: not PEM certificates ({error})") from None
    return certs


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def verify_chain(chain: list[x509.Certificate], roots: list[x509.Certificate],
                 at: datetime | None = None) -> str | None:
    """None if chain[0] leads to one of `roots` through the rest of `chain`; else why not."""
    at = at or datetime.now(timezone.utc)
    current, intermediates = chain[0], list(chain[1:])
    # Each step either ends at a root or consumes one intermediate, so this bounds the walk.
    for _ in range(len(chain) + 1):
        name = current.subject.rfc4514_string() or "(empty subject)"
        if not current.not_valid_before_utc <= at <= current.not_valid_after_utc:
            return (f"{name} is not valid at {at.isoformat()} (valid {current.not_valid_before_utc.isoformat()}"
                    f" to {current.not_valid_after_utc.isoformat()})")
        if any(current == root for root in roots):
            return None
        root = next((r for r in roots if _is_ca(r) and _signed_by(current, r)), None)
        if root is not None:
            if not root.not_valid_before_utc <= at <= root.not_valid_after_utc:
                return f"root {root.subject.rfc4514_string()} is not valid at {at.isoformat()}"
            return None
        parent = next((c for c in intermediates if _is_ca(c) and _signed_by(current, c)), None)
        if parent is None:
            return f"no CA in the chain or the roots signed {name} (issuer {current.issuer.rfc4514_string()})"
        intermediates.remove(parent)
        current = parent
    return "chain does not end at a root"


def key_matches(cert: x509.Certificate, key_pem: bytes) -> bool:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as error:
        raise HarnessError(f"tls.key: not a PEM private key ({error})") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return key.public_key().public_bytes(der, spki) == cert.public_key().public_bytes(der, spki)


def inspect_pem(tls_crt: bytes, tls_key: bytes | None = None, roots: bytes | None = None,
                at: datetime | None = None) -> Inspection:
    """Inspect a PEM chain (leaf first), optionally with its key and the PEM roots to verify against."""
    chain = load_certificates(tls_crt, "tls.crt")
    if not chain:
        raise HarnessError("tls.crt: no certificate in it")
    verified, error = None, None
    if roots:
        error = verify_chain(chain, load_certificates(roots, "roots"), at)
        verified = error is None
    return Inspection(
        leaf=CertInfo.of(chain[0]),
        chain=tuple(CertInfo.of(c) for c in chain[1:]),
        key_matches=key_matches(chain[0], tls_key) if tls_key else None,
        verified=verified,
        verify_error=error,
    )


def secret_data(secret: dict) -> dict[str, bytes]:
    """A Secret's data as the API returns it (base64) decoded."""
    return {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}


def inspect_secret(secret: dict, root: bytes | None = None, at: datetime | None = None) -> Inspection:
    """Inspect a kubernetes.io/tls Secret (API JSON). The chain is verified against `root` if given,
    else against the Secret's own ca.crt."""
    data = secret_data(secret)
    where = f"Secret {secret['metadata'].get('namespace')}/{secret['metadata']['name']}"
    if not data.get("tls.crt"):
        raise HarnessError(f"{where}: has no tls.crt (keys: {sorted(data)})")
    try:
        return inspect_pem(data["tls.crt"], data.get("tls.key") or None, root or data.get("ca.crt") or None, at)
    except HarnessError as error:
        raise HarnessError(f"{where}: {error}") from None


def served_certificate(host: str, port: int, server_name: str | None,
                       timeout: float = HANDSHAKE_TIMEOUT) -> x509.Certificate:
    """The leaf certificate a server presents in a real handshake with SNI `server_name`, unverified
    (checking it is the caller's business). Python 3.11's ssl gives only the leaf, not the chain."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise HarnessError(f"{host}:{port} (SNI {server_name}): handshake completed without a certificate")
    return x509.load_der_x509_certificate(der)


def inspect_served(host: str, port: int, server_name: str | None, root: bytes | None = None,
                   at: datetime | None = None, timeout: float = HANDSHAKE_TIMEOUT) -> Inspection:
    """Inspect the certificate served at host:port for `server_name`, verified against `root` if given."""
    leaf = served_certificate(host, port, server_name, timeout)
    verified, error = None, None
    if root:
        error = verify_chain([leaf], load_certificates(root, "root"), at)
        verified = error is None
    return Inspection(leaf=CertInfo.of(leaf), chain=(), key_matches=None, verified=verified, verify_error=error)
