"""Certificates for the local stack, from trustme: one CA per run, serving and client certs on disk.

Every component that terminates TLS (kube-apiserver, the cert-manager webhook, Pebble) gets a serving
certificate for 127.0.0.1 and localhost from the run's CA; kubeconfigs carry a client certificate for an
admin in system:masters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

LOOPBACK_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


class RunPKI:
    """A CA and the files issued from it, under one directory."""

    def __init__(self, directory: Path, organization: str = "certchaos"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._ca = trustme.CA(organization_name=organization)
        self.ca_cert = self.directory / "ca.crt"
        self._ca.cert_pem.write_to_path(str(self.ca_cert))

    @property
    def ca_pem(self) -> bytes:
        return self._ca.cert_pem.bytes()

    def serving(self, name: str, *hosts: str) -> KeyPair:
        """A serving certificate for loopback (plus `hosts`), written as NAME.crt / NAME.key."""
        cert = self._ca.issue_cert(*LOOPBACK_NAMES, *hosts, common_name=name)
        return self._write(name, cert)

    def client(self, name: str, user: str, groups: tuple[str, ...] = ()) -> KeyPair:
        """A client certificate whose CN is the user and whose O entries are its groups."""
        cert = self._ca.issue_cert(
            user, common_name=user, organization_name=groups[0] if groups else None
        )
        return self._write(name, cert)

    def _write(self, name: str, cert: "trustme.LeafCert") -> KeyPair:
        pair = KeyPair(self.directory / f"{name}.crt", self.directory / f"{name}.key")
        pair.cert.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
        cert.private_key_pem.write_to_path(str(pair.key))
        pair.key.chmod(0o600)
        return pair

    def service_account_keys(self) -> KeyPair:
        """An RSA key pair for signing service-account tokens (private key as .key, public as .pub)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = self.directory / "service-account.key"
        public = self.directory / "service-account.pub"
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        private.chmod(0o600)
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return KeyPair(public, private)
