"""Fixtures for the fake DNS server's unit tests: one server per module on a fake clock, reset per test."""

from __future__ import annotations

import base64

import pytest

from fakes.dns import DnsServer, TsigKey

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


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def server(clock):
    """A started DnsServer for ZONE and OTHER_ZONE with KEYS on the fake clock, shared by a module;
    stopped after it. Hypothesis tests call server.reset() per example; others use `dns_server`."""
    with DnsServer([ZONE, OTHER_ZONE], KEYS, negative_ttl=30, clock=clock) as dns_server:
        yield dns_server
        dns_server.check()


@pytest.fixture
def dns_server(server):
    """The module's server, reset to how it was created (records, keys, faults, caches, log)."""
    server.reset()
    yield server
    server.check()
