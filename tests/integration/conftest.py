"""Shared fixtures for integration tests that run single components: the run PKI, Pebble, Toxiproxy, fake DNS.

Each fixture creates its object, yields it and stops it afterwards (also when the test fails).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from harness.stack import binaries
from harness.stack.pebble import Pebble
from harness.stack.pki import RunPKI
from harness.stack.ports import LOOPBACK, free_port
from harness.stack.toxiproxy import ToxiproxyServer

DEBIAN_PEBBLE = Path("/usr/bin/pebble")
ZONE = "certchaos.test."
# An RFC 2136 TSIG key, as cert-manager's rfc2136 solver would hold it.
TSIG_NAME, TSIG_ALGORITHM = "certchaos", "hmac-sha256"
TSIG_SECRET = base64.b64encode(b"certchaos-tsig-secret-for-tests!").decode()  # 32 bytes, as for SHA-256


def _pebble_binary(which: str) -> Path:
    if which == "debian":
        path, fix = DEBIAN_PEBBLE, "apt-get install -y pebble"
    else:
        path, fix = binaries.load_components()["pebble"].cached, "certchaos binaries build pebble"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"{which} Pebble is not at {path}; `{fix}` provides it")
    return path


@pytest.fixture(params=["built", "debian"], ids=["pebble-v2.10.3", "pebble-debian-2.4"])
def pebble_binary(request: pytest.FixtureRequest) -> Path:
    """Path of each Pebble the harness supports: the pinned build and Debian's 2.4 (skipped if absent)."""
    return _pebble_binary(request.param)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> RunPKI:
    """The run CA (trustme) that signs every component's TLS serving certificate."""
    return RunPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def make_pebble(pki: RunPKI, tmp_path: Path) -> Iterator[Callable[..., Pebble]]:
    """make_pebble(resolver=None, **options) -> a started Pebble (resolver defaults to a port where
    nothing answers); every Pebble it started is stopped after the test."""
    started: list[Pebble] = []

    def make(resolver: tuple[str, int] | None = None, **options) -> Pebble:
        pebble = Pebble(tmp_path / f"pebble-{len(started)}", pki, resolver or (LOOPBACK, free_port()), **options)
        started.append(pebble)
        return pebble.start()

    yield make
    for pebble in reversed(started):
        pebble.stop()


@pytest.fixture
def toxiproxy(tmp_path: Path) -> Iterator[ToxiproxyServer]:
    """A running toxiproxy-server on loopback (server.api is its client); stopped after the test."""
    with ToxiproxyServer(tmp_path / "toxiproxy") as server:
        yield server


@pytest.fixture
def zone() -> str:
    """The zone the fake DNS server is authoritative for."""
    return ZONE


@pytest.fixture
def tsig_key():
    """The DNS-01 provider's credential: the TSIG key (fakes.dns.TsigKey) allowed to update the zone."""
    from fakes.dns import TsigKey  # imported here: only DNS tests need the fake

    return TsigKey(TSIG_NAME, TSIG_ALGORITHM, TSIG_SECRET)


@pytest.fixture
def dns(zone, tsig_key):
    """The fake DNS server for `zone`, updatable with `tsig_key`, no propagation lag to start with;
    .authoritative, .resolver (self-checks) and .ca_resolver (Pebble) are its views. Stopped after the test,
    then errors its threads met are raised."""
    from fakes.dns import DnsServer

    with DnsServer(zones=[zone], keys=[tsig_key], propagation_delay=0.0) as server:
        yield server
    server.check()


@pytest.fixture
def pebble(make_pebble, dns) -> Pebble:
    """A started Pebble (the pinned one) whose VA resolves through the fake DNS server's CA view."""
    return make_pebble(resolver=dns.ca_resolver)


# The tests of the bare stack (test_local_stack, test_observers) need no lab: certchaos's Kubernetes client is
# the stack's here, so certchaos_namespace starts no lab either; short names as the catalogue's conftest gives.
@pytest.fixture(scope="session")
def certchaos_kube(certchaos_stack):
    """The bare stack's admin client (system:masters); overrides certchaos's, which is the lab's."""
    return certchaos_stack.api()


@pytest.fixture(scope="session")
def stack(certchaos_stack):
    """The bare stack (certchaos_stack): local processes, started once per session."""
    return certchaos_stack


@pytest.fixture(scope="session")
def kube(certchaos_kube):
    """The bare stack's admin client."""
    return certchaos_kube


@pytest.fixture
def namespace(certchaos_namespace):
    """A fresh namespace on the bare stack (certchaos_namespace), deleted afterwards."""
    return certchaos_namespace


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `kind` run only when asked for (`-m kind`, `make test-kind`): each cluster costs minutes."""
    if "kind" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="kind tests run only with `-m kind` (`make test-kind`): each cluster costs minutes")
    for item in items:
        if item.get_closest_marker("kind"):
            item.add_marker(skip)
