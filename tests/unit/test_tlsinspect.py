"""tlsinspect: serials, names, key match and chain verification of trustme-issued certificates, in PEM,
in a kubernetes.io/tls Secret, and served over a real TLS handshake on loopback."""

from __future__ import annotations

import base64
import datetime
import socket
import ssl
import threading

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

import cm_objects as cm
from harness.observe import tlsinspect
from harness.observe.conditions import tls
from harness.errors import HarnessError
from harness.wait import WaitTimeout, wait_for

UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def pem(leaf: trustme.LeafCert) -> tuple[bytes, bytes]:
    return b"".join(p.bytes() for p in leaf.cert_chain_pems), leaf.private_key_pem.bytes()


def serial_of(chain_pem: bytes) -> str:
    return format(x509.load_pem_x509_certificate(chain_pem).serial_number, "x")


def test_leaf_serial_names_and_matching_key(ca):
    crt, key = pem(ca.issue_cert("web.example.test", "127.0.0.1"))
    found = tlsinspect.inspect_pem(crt, key, ca.cert_pem.bytes())

    assert found.serial == serial_of(crt)
    assert found.leaf.dns_names == ("web.example.test",) and found.leaf.ip_addresses == ("127.0.0.1",)
    assert found.leaf.issuer == x509.load_pem_x509_certificate(ca.cert_pem.bytes()).subject.rfc4514_string()
    assert found.leaf.not_before < datetime.datetime.now(UTC) < found.leaf.not_after
    assert (found.key_matches, found.verified, found.verify_error) == (True, True, None)


def test_key_of_another_certificate_does_not_match(ca):
    crt, _ = pem(ca.issue_cert("web.example.test"))
    _, other_key = pem(ca.issue_cert("web.example.test"))
    assert tlsinspect.inspect_pem(crt, other_key).key_matches is False


def test_chain_through_an_intermediate_verifies_only_with_the_intermediate(ca):
    crt, key = pem(ca.create_child_ca().issue_cert("web.example.test"))
    whole = tlsinspect.inspect_pem(crt, key, ca.cert_pem.bytes())
    assert whole.verified and len(whole.chain) == 1 and whole.chain[0].is_ca

    leaf_only = tlsinspect.inspect_pem(crt.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n",
                                       key, ca.cert_pem.bytes())
    assert leaf_only.verified is False
    assert leaf_only.verify_error.startswith("no CA in the chain or the roots signed")


def test_a_different_root_does_not_verify(ca):
    crt, key = pem(ca.issue_cert("web.example.test"))
    found = tlsinspect.inspect_pem(crt, key, trustme.CA().cert_pem.bytes())
    assert found.verified is False and "no CA in the chain or the roots signed" in found.verify_error


def test_expired_certificate_does_not_verify(ca):
    crt, key = pem(ca.issue_cert("web.example.test"))
    later = tlsinspect.inspect_pem(crt, key).leaf.not_after + datetime.timedelta(seconds=1)
    found = tlsinspect.inspect_pem(crt, key, ca.cert_pem.bytes(), at=later)
    assert found.verified is False and "is not valid at" in found.verify_error


def self_signed_leaf() -> tuple[bytes, bytes]:
    """What cert-manager's SelfSigned issuer makes: a non-CA leaf, signed by its own key, empty subject."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(x509.Name([]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("web.example.test")]), critical=True)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def test_self_signed_secret_verifies_against_its_own_ca_crt():
    crt, key = self_signed_leaf()
    found = tlsinspect.inspect_secret(cm.tls_secret(crt, key, crt))
    assert (found.key_matches, found.verified) == (True, True)
    assert found.summary()["subject"] == "" and found.summary()["dnsNames"] == ["web.example.test"]


def test_secret_uses_the_given_root_over_its_ca_crt(ca):
    crt, key = pem(ca.issue_cert("web.example.test"))
    secret = cm.tls_secret(crt, key, trustme.CA().cert_pem.bytes())
    assert tlsinspect.inspect_secret(secret).verified is False
    assert tlsinspect.inspect_secret(secret, root=ca.cert_pem.bytes()).verified is True


def test_secret_without_a_certificate_is_a_harness_error():
    secret = cm.tls_secret(b"", b"", None)
    with pytest.raises(HarnessError, match=r"Secret ns/web-tls: has no tls.crt"):
        tlsinspect.inspect_secret(secret)
    secret["data"]["tls.crt"] = base64.b64encode(b"garbage").decode()
    with pytest.raises(HarnessError, match=r"Secret ns/web-tls: tls.crt"):
        tlsinspect.inspect_secret(secret)


@given(st.integers(min_value=0, max_value=2**160))
def test_serial_spellings_normalise_alike(serial):
    hex_digits = format(serial, "x")
    padded = hex_digits.zfill(len(hex_digits) + len(hex_digits) % 2).upper()
    colons = ":".join(padded[i:i + 2] for i in range(0, len(padded), 2))
    assert tlsinspect.normalise_serial(serial) == tlsinspect.normalise_serial(colons) == \
        tlsinspect.normalise_serial("00" + hex_digits) == hex_digits


# --- served over a real handshake ---


class SNIServer:
    """A loopback TLS server choosing its certificate by SNI; errors on its thread are re-raised by stop()."""

    def __init__(self, certs: dict[str | None, trustme.LeafCert]):
        self.contexts = {}
        for name, leaf in certs.items():
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            leaf.configure_cert(context)
            self.contexts[name] = context
        self.contexts[None].sni_callback = self._choose
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.errors = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _choose(self, sslobj, server_name, context):
        sslobj.context = self.contexts.get(server_name, self.contexts[None])

    def _serve(self):
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return  # listener shut down by stop()
            try:
                with self.contexts[None].wrap_socket(raw, server_side=True) as tls:
                    tls.recv(1)  # until the client closes
            except (ssl.SSLError, OSError) as error:
                self.errors.append(error)

    def stop(self):
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        self.listener.close()
        self.thread.join(5)  # accept() returns at once after the shutdown
        assert not self.thread.is_alive()
        if self.errors:
            raise self.errors[0]


@pytest.fixture
def served(ca):
    certs = {None: ca.issue_cert("default.example.test"), "web.example.test": ca.issue_cert("web.example.test")}
    server = SNIServer(certs)
    yield server, {name: serial_of(leaf.cert_chain_pems[0].bytes()) for name, leaf in certs.items()}
    server.stop()


def test_served_certificate_is_chosen_by_sni_and_verifies(ca, served):
    server, serials = served
    web = tlsinspect.inspect_served("127.0.0.1", server.port, "web.example.test", root=ca.cert_pem.bytes())
    other = tlsinspect.inspect_served("127.0.0.1", server.port, "other.example.test")

    assert web.serial == serials["web.example.test"] and web.leaf.dns_names == ("web.example.test",)
    assert web.verified is True and web.key_matches is None
    assert other.serial == serials[None] and other.verified is None


def test_served_certificate_serial_condition(served):
    server, serials = served
    holds = tls.served_certificate_serial("127.0.0.1", server.port, "web.example.test",
                                                 serials["web.example.test"])
    assert wait_for(holds, subject="served", expected="web", timeout=5)["serial"] == serials["web.example.test"]

    stale = tls.served_certificate_serial("127.0.0.1", server.port, "web.example.test", serials[None])
    with pytest.raises(WaitTimeout) as failure:
        wait_for(stale, subject="web.example.test on loopback", expected="to serve the renewed serial",
                 timeout=0.5, interval=0.1)
    assert f"'serial': '{serials['web.example.test']}'" in str(failure.value)
    assert f"'expected': '{serials[None]}'" in str(failure.value)


def test_nothing_listening_is_a_connection_error_not_a_pass():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(ConnectionRefusedError):
        tls.served_certificate_serial("127.0.0.1", port, "web.example.test", "ab")()
