"""Hypothesis without its per-example deadline (200 ms by default): on a loaded 2-core CI machine an example's
time says nothing about its correctness, and speed is measured by benchmarks/, never asserted by a test.
Fixtures every test directory shares."""

import pytest
from hypothesis import settings

settings.register_profile("certchaos", deadline=None)
settings.load_profile("certchaos")


@pytest.fixture
def dns_control():
    """Open the control API of a fake DNS server and a DnsControl client of it (`dns_control(server)`); both are
    stopped after the test."""
    from fakes.dns.control import ControlServer
    from harness.stack.dnscontrol import DnsControl

    opened = []

    def open_control(server) -> DnsControl:
        api = ControlServer(server, "127.0.0.1").start()
        opened.append((api, DnsControl(api.url)))
        return opened[-1][1]

    yield open_control
    for api, client in reversed(opened):
        client.close()
        api.stop()
