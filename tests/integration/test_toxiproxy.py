"""Toxiproxy in front of Pebble: real TLS passes through, a disabled proxy refuses, toxics delay and reset."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from harness.errors import MissingBinary, PortInUse
from harness.stack.ports import LOOPBACK
from harness.stack.toxiproxy import ToxiproxyServer, latency, reset_peer

pytestmark = pytest.mark.integration

# Latency injected into Pebble's responses. A fresh TLS connection plus GET /dir on loopback takes a few
# tens of milliseconds, so a 1 s delay is unmistakable even on a loaded 2-core machine.
LATENCY_MS, JITTER_MS = 1000, 100


@pytest.fixture
def proxied(make_pebble, toxiproxy):
    """(proxy, directory URL through it) for a fresh Pebble behind a fresh toxiproxy-server."""
    pebble = make_pebble()
    proxy = toxiproxy.api.create("pebble", (LOOPBACK, pebble.listen_port))
    host, port = proxy.listen
    return proxy, f"https://{host}:{port}/dir", str(pebble.ca_bundle)


def get_directory(url: str, ca_bundle: str) -> float:
    """GET the directory on a new connection, verified against the run CA; returns the seconds it took."""
    started = time.monotonic()
    response = requests.get(url, verify=ca_bundle, timeout=10)
    assert response.status_code == 200 and "newOrder" in response.json()
    return time.monotonic() - started


def test_tls_passes_through_and_a_disabled_proxy_refuses(proxied):
    proxy, url, ca_bundle = proxied
    get_directory(url, ca_bundle)

    proxy.disable()
    assert proxy.state()["enabled"] is False
    with pytest.raises(requests.exceptions.ConnectionError):
        get_directory(url, ca_bundle)

    proxy.enable()
    get_directory(url, ca_bundle)


def test_a_latency_toxic_delays_a_request_by_at_least_its_latency(proxied):
    proxy, url, ca_bundle = proxied
    baseline = get_directory(url, ca_bundle)
    lower_bound = (LATENCY_MS - JITTER_MS) / 1000

    name = proxy.add(latency(LATENCY_MS, jitter_ms=JITTER_MS))
    delayed = get_directory(url, ca_bundle)
    assert baseline < lower_bound <= delayed, f"baseline {baseline:.3f}s, with latency {delayed:.3f}s"

    proxy.remove(name)
    assert proxy.state()["toxics"] == []


def test_reset_peer_breaks_connections_until_toxiproxy_is_reset(proxied, toxiproxy):
    proxy, url, ca_bundle = proxied
    proxy.add(reset_peer(stream="upstream"))
    with pytest.raises(requests.exceptions.ConnectionError):
        get_directory(url, ca_bundle)

    toxiproxy.api.reset()
    assert proxy.state()["toxics"] == []
    get_directory(url, ca_bundle)


def test_a_server_port_in_use_is_named(tmp_path):
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ToxiproxyServer(tmp_path, port=port)
        with pytest.raises(PortInUse, match=rf"^toxiproxy-server: 127.0.0.1:{port} is already in use"):
            server.start()
        assert server.process is None


def test_a_missing_server_binary_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(MissingBinary, match="certchaos binaries build toxiproxy-server"):
        ToxiproxyServer(tmp_path).start()
