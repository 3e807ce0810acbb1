"""Fixtures for the fake DNS server's unit tests: one server per module on a fake clock, reset per test."""

from __future__ import annotations

import pytest
from dns_testkit import KEYS, OTHER_ZONE, ZONE, FakeClock

from fakes.dns import DnsServer


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
