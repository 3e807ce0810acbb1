"""Client of the ACME fault layer's control API (`acme_layer.py`), usable from any process: scenario
workers attach to the lab's layer through lab.json the way they reach the fake DNS server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from harness.errors import HarnessError
from harness.stack.acme_rules import Rule

REQUEST_TIMEOUT = 10.0  # a loopback control call answers in milliseconds; 10 s means the layer hangs


@dataclass(frozen=True)
class AcmeRequest:
    """One request the layer passed or answered: when (epoch seconds), how long it took, what it was,
    what was answered and which fault rule answered it (None: Pebble did)."""

    at: float
    seconds: float
    method: str
    path: str
    endpoint: str
    status: int
    fault: str | None
    nonce: str | None  # the JWS protected header's nonce of a POST
    abandoned: bool | None = None  # a delayed request: the client closed its connection before the answer


class AcmeLayerControl:
    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self._session = requests.Session()

    def call(self, method: str, path: str, json: Any = None) -> Any:
        try:
            response = self._session.request(method, self.url + path, json=json, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as error:
            raise HarnessError(f"ACME fault layer control {method} {path}: {error}") from None
        if response.status_code >= 400:
            raise HarnessError(f"ACME fault layer control {method} {path}: HTTP {response.status_code}: "
                               f"{response.text.strip()}")
        return response.json()

    def add_route(self, name: str, upstream: tuple[str, int]) -> "AcmeRoute":
        """A new route (its own TLS listener on a free loopback port) forwarding to `upstream` (Pebble)."""
        answer = self.call("POST", "/routes", {"name": name, "upstream": list(upstream)})
        return AcmeRoute(self, name, tuple(answer["listen"]))

    def close(self) -> None:
        self._session.close()


@dataclass(frozen=True)
class AcmeRoute:
    """One scenario's route through the layer: where it listens, its rules and its journal."""

    control: AcmeLayerControl
    name: str
    listen: tuple[str, int]

    def __repr__(self) -> str:
        return f"AcmeRoute({self.name!r})"

    def add_rule(self, rule: Rule) -> int:
        """One more fault rule (tried after those added before it); its id, for remove_rule."""
        return self.control.call("POST", f"/routes/{self.name}/rules", rule.to_json())["id"]

    def remove_rule(self, rule_id: int) -> None:
        self.control.call("DELETE", f"/routes/{self.name}/rules/{rule_id}")

    def requests(self) -> list[AcmeRequest]:
        """Every request of the route so far, oldest first."""
        return [AcmeRequest(**entry) for entry in self.control.call("GET", f"/routes/{self.name}/journal")["requests"]]

    def delete(self) -> None:
        self.control.call("DELETE", f"/routes/{self.name}")
