"""Client of the fake DNS server's HTTP control API (fakes.dns.control), usable from any process.

Scenarios drive DNS through this even when the server runs in the same process, so a scenario behaves
the same on a stack it started and on one it attached to (`certchaos run` with parallel workers).
"""

from __future__ import annotations

from typing import Any

import requests

from harness.errors import HarnessError

REQUEST_TIMEOUT = 10.0  # a loopback control call answers in milliseconds; 10 s means the server hangs


class DnsControl:
    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self._session = requests.Session()

    def _call(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        try:
            response = self._session.request(method, self.url + path, json=json, params=params,
                                             timeout=REQUEST_TIMEOUT)
        except requests.RequestException as error:
            raise HarnessError(f"fake DNS control {method} {path}: {error}") from None
        if response.status_code >= 400:
            raise HarnessError(f"fake DNS control {method} {path}: HTTP {response.status_code}: {response.text.strip()}")
        return response.json()

    def close(self) -> None:
        self._session.close()

    def info(self) -> dict:
        return self._call("GET", "/")

    def add_zone(self, zone: str) -> None:
        self._call("POST", "/zones", json={"zone": zone})

    def zone_settings(self, zone: str) -> dict:
        wanted = zone.rstrip(".") + "."
        return next(z for z in self._call("GET", "/zones") if z["zone"] == wanted)

    def set_zone(self, zone: str, **settings: float) -> None:
        """propagation_delay / negative_ttl (resolver view), ca_propagation_delay / ca_negative_ttl."""
        self._call("PUT", f"/zones/{zone}", json=settings)

    def records(self, name: str, rtype: str | None = None, view: str = "authoritative") -> list[dict]:
        params = {"name": name, "view": view, **({"type": rtype} if rtype else {})}
        return self._call("GET", "/records", params=params)

    def add_record(self, name: str, rtype: str, data: str, ttl: int | None = None) -> None:
        self._call("POST", "/records", json={"name": name, "type": rtype, "data": data,
                                             **({"ttl": ttl} if ttl is not None else {})})

    def set_records(self, name: str, rtype: str, data: list[str], ttl: int | None = None) -> None:
        """Replace the RRset at `name` (an empty `data` deletes it)."""
        self._call("PUT", "/records", json={"name": name, "type": rtype, "data": list(data),
                                            **({"ttl": ttl} if ttl is not None else {})})

    def remove_records(self, name: str, rtype: str | None = None, data: str | None = None) -> None:
        params = {"name": name, **({"type": rtype} if rtype else {}), **({"data": data} if data else {})}
        self._call("DELETE", "/records", params=params)

    def add_key(self, name: str, algorithm: str, secret: str, policy: dict | None = None) -> None:
        self._call("POST", "/keys", json={"name": name, "algorithm": algorithm, "secret": secret, "policy": policy})

    def keys(self) -> list[dict]:
        return self._call("GET", "/keys")

    def revoke_key(self, name: str) -> None:
        self._call("POST", f"/keys/{name}/revoke")

    def restore_key(self, name: str) -> None:
        self._call("POST", f"/keys/{name}/restore")

    def rotate_key(self, name: str, secret: str) -> None:
        self._call("POST", f"/keys/{name}/rotate", json={"secret": secret})

    def set_policy(self, name: str, policy: dict | None) -> None:
        self._call("PUT", f"/keys/{name}/policy", json=policy)

    def log(self, **filters: Any) -> list[dict]:
        """Log entries, oldest first; filters: kind, name (glob), type, view, rcode, key, since (epoch)."""
        return self._call("GET", "/log", params={k: v for k, v in filters.items() if v is not None})
