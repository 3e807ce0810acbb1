"""Toxiproxy: the network-fault injector in front of a component (CA outage, latency, resets).

The server runs as a local process on loopback; Toxiproxy and Proxy drive its REST API with requests.
Toxics are plain values (Toxic) built by small constructors, so a scenario's fault prints as Python.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import requests

from harness.stack import binaries
from harness.errors import HarnessError
from harness.stack.netns import nsenter_argv
from harness.stack.ports import LOOPBACK, free_port, port_or_free
from harness.stack.process import ManagedProcess
from harness.wait import Seen
from harness.stack.service import Service

# toxiproxy-server answers /version within a few hundred milliseconds of starting; 30 s covers a loaded
# CI machine.
READY_TIMEOUT = 30.0
# Every API call is answered from memory; 10 s only guards against a hung server.
REQUEST_TIMEOUT = 10.0

Stream = Literal["upstream", "downstream"]  # upstream: client -> server; downstream: server -> client


@dataclass(frozen=True)
class Toxic:
    """One toxic as Toxiproxy's API takes it; `name` defaults to <type>_<stream> like Toxiproxy's own."""

    type: str
    attributes: dict = field(default_factory=dict)
    stream: Stream = "downstream"
    toxicity: float = 1.0  # probability that a connection gets it
    name: str = ""

    def body(self) -> dict:
        return {**asdict(self), "name": self.name or f"{self.type}_{self.stream}"}


def latency(ms: int, jitter_ms: int = 0, stream: Stream = "downstream") -> Toxic:
    """Delay every chunk of data by ms +/- jitter_ms."""
    return Toxic("latency", {"latency": ms, "jitter": jitter_ms}, stream)


def timeout(ms: int, stream: Stream = "downstream") -> Toxic:
    """Stop all data and close the connection after ms (0: never close, hang forever)."""
    return Toxic("timeout", {"timeout": ms}, stream)


def reset_peer(ms: int = 0, stream: Stream = "downstream") -> Toxic:
    """Reset the connection (TCP RST) after ms."""
    return Toxic("reset_peer", {"timeout": ms}, stream)


def bandwidth(kb_per_s: int, stream: Stream = "downstream") -> Toxic:
    """Limit the link to kb_per_s kilobytes per second."""
    return Toxic("bandwidth", {"rate": kb_per_s}, stream)


def slow_close(ms: int, stream: Stream = "downstream") -> Toxic:
    """Delay closing the connection by ms after the peer closed it."""
    return Toxic("slow_close", {"delay": ms}, stream)


class Toxiproxy:
    """A client for one toxiproxy-server's REST API."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()

    def request(self, method: str, path: str, json: dict | None = None) -> requests.Response:
        response = self.session.request(method, self.url + path, json=json, timeout=REQUEST_TIMEOUT)
        if not response.ok:
            raise HarnessError(f"toxiproxy {method} {path}: HTTP {response.status_code} {response.text[:200]!r}")
        return response

    def version(self) -> str:
        return self.request("GET", "/version").text.strip()

    def create(self, name: str, upstream: tuple[str, int], listen_port: int = 0,
               listen_host: str = LOOPBACK) -> "Proxy":
        """A proxy to `upstream` on `listen_host` (loopback; on kind the server's anchor address, in its own
        namespace); port 0 lets Toxiproxy pick a free one (see Proxy.listen)."""
        host, port = upstream
        body = self.request("POST", "/proxies", {
            "name": name, "listen": f"{listen_host}:{listen_port}", "upstream": f"{host}:{port}", "enabled": True,
        }).json()
        return Proxy(self, name, _address(body["listen"]), upstream)

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self.request("POST", "/reset")

    def close(self) -> None:
        self.session.close()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


@dataclass(frozen=True)
class Proxy:
    api: Toxiproxy = field(repr=False)
    name: str
    listen: tuple[str, int]  # where clients connect instead of upstream
    upstream: tuple[str, int]

    def state(self) -> dict:
        """The proxy as Toxiproxy reports it: enabled, toxics, addresses."""
        return self.api.request("GET", f"/proxies/{self.name}").json()

    def disable(self) -> None:
        """Take the proxy down: connections are refused and open ones are dropped."""
        self.api.request("PATCH", f"/proxies/{self.name}", {"enabled": False})

    def enable(self) -> None:
        self.api.request("PATCH", f"/proxies/{self.name}", {"enabled": True})

    def add(self, toxic: Toxic) -> str:
        """Add `toxic`; returns its name, for remove()."""
        return self.api.request("POST", f"/proxies/{self.name}/toxics", toxic.body()).json()["name"]

    def remove(self, toxic_name: str) -> None:
        self.api.request("DELETE", f"/proxies/{self.name}/toxics/{toxic_name}")

    def delete(self) -> None:
        self.api.request("DELETE", f"/proxies/{self.name}")


class ToxiproxyServer(Service):
    """A running toxiproxy-server on loopback (or on `host` inside the network namespace `netns`, a
    /proc/<pid>/ns/net path: the kind lab's "ca" anchor). Use as a context manager, or start()/stop()."""

    def __init__(self, run_dir: str | Path, port: int | None = None, bin_dir: str | Path | None = None,
                 netns: str | None = None, host: str = LOOPBACK):
        self.netns, self.host = netns, host
        self.run_dir = Path(run_dir)
        self.port = port
        self.bin_dir = bin_dir
        self.log_path = self.run_dir / "toxiproxy.log"
        self.process: ManagedProcess | None = None
        self.api: Toxiproxy | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _start(self) -> None:
        """Start the server and wait until its API (self.api) answers /version."""
        binary = binaries.binary("toxiproxy-server", self.bin_dir)
        # In a namespace of its own only the lab listens: a port free on the host's loopback is free there.
        self.port = port_or_free("toxiproxy-server", self.port) if self.netns is None else free_port()
        self.api = Toxiproxy(self.url)
        self.process = ManagedProcess(
            "toxiproxy-server", nsenter_argv(self.netns, [binary, "-host", self.host, "-port", self.port]),
            self.log_path)
        self.process.start()
        self.process.wait_ready(lambda: Seen(True, self.api.version()), READY_TIMEOUT,
                                expected="to answer GET /version")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self.api is not None:
            self.api.close()
