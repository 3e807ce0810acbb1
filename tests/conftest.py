"""Hypothesis without its per-example deadline (200 ms by default): on a loaded 2-core CI machine an example's
time says nothing about its correctness, and speed is measured by benchmarks/, never asserted by a test.
Fixtures every test directory shares."""

import signal

import pytest
from hypothesis import settings

settings.register_profile("certchaos", deadline=None)
settings.load_profile("certchaos")

# Started as a background job of a non-interactive shell (`nohup make test &`), the tests inherit SIGINT ignored, and
# so would every child they start: the tests that interrupt a child (signals of certchaos, CI, a mutant's timeout)
# would time out on a child deaf to Ctrl-C. The default handler here is the default at the children's exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# `make test` runs the tests on xdist workers, a module per worker at a time (--dist loadfile). These modules wait
# the longest on cert-manager's own timings (seconds, `make test` of 2026-12-06: gameday 490, upgrade_check 342,
# explore 272, route53_solver 157, certchaos_run 90, clean_leftovers 48): handed out first, they overlap everything
# else instead of starting last.
SLOWEST_FIRST = ("test_gameday.py", "test_upgrade_check.py", "test_explore.py", "test_route53_solver.py",
                 "test_certchaos_run.py", "test_clean_leftovers.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: every other test keeps its order


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
