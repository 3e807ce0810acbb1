"""Pebble starts on loopback with a run-CA certificate, serves its directory and management API, and stops."""

from __future__ import annotations

import dataclasses
import socket

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding

from harness.stack import binaries
from harness.errors import MissingBinary, PortInUse
from harness.stack.pebble import Pebble
from harness.stack.ports import LOOPBACK, free_port

pytestmark = pytest.mark.integration


def refuses_connections(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((LOOPBACK, port)) != 0


def test_pebble_serves_its_directory_over_run_ca_tls_and_stops(make_pebble, pebble_binary):
    pebble = make_pebble(binary=pebble_binary)
    directory = requests.get(pebble.directory_url, verify=str(pebble.ca_bundle), timeout=10).json()
    assert {"newNonce", "newAccount", "newOrder"} <= directory.keys()

    root = x509.load_pem_x509_certificate(pebble.management.roots().encode())
    intermediate = x509.load_pem_x509_certificate(pebble.management.intermediates().encode())
    assert root.subject.rfc4514_string().startswith("CN=Pebble Root CA")
    assert intermediate.issuer == root.subject
    root.public_key().verify(intermediate.signature, intermediate.tbs_certificate_bytes, padding.PKCS1v15(),
                             intermediate.signature_hash_algorithm)
    assert pebble.management.cert_status(0x1234) is None  # never issued

    with pytest.raises(requests.exceptions.SSLError):  # the system trust store does not know the run CA
        requests.get(pebble.directory_url, timeout=10)

    pebble.stop()
    assert not pebble.process.running()
    assert refuses_connections(pebble.listen_port) and refuses_connections(pebble.management_port)


def test_a_listen_port_in_use_is_named_and_nothing_starts(make_pebble):
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse, match=rf"^pebble: 127.0.0.1:{port} is already in use"):
            make_pebble(listen_port=port)


def test_a_missing_pebble_names_the_fix(pki, tmp_path, monkeypatch):
    # Neither the build cache nor Debian's package: an empty cache and no apt fallback.
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "empty-cache"))
    components = binaries.load_components()
    components["pebble"] = dataclasses.replace(components["pebble"], apt_fallback=str(tmp_path / "no-pebble"))
    monkeypatch.setattr(binaries, "load_components", lambda **_: components)
    pebble = Pebble(tmp_path / "pebble", pki, (LOOPBACK, free_port()))
    with pytest.raises(MissingBinary) as missing:
        pebble.start()
    assert "certchaos binaries build pebble" in str(missing.value)
    assert pebble.process is None
