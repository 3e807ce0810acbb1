"""Run-time DNS faults as resolver wrappers: SERVFAIL, REFUSED, drop, added latency.

A fault matches queries by name glob, record type and view, lasts for a duration or until removed,
and wraps whatever resolver it stands in front of; several matching faults compose in the order they
were added (latency then SERVFAIL: a slow failure). Faults never block: latency is recorded on the
exchange and the transport sends the reply later from its scheduler.
"""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from dnslib import QTYPE, RCODE, DNSRecord

from fakes.dns.resolvers import VIEWS, Answer, render
from fakes.dns.zone import glob_pattern, matches_glob

if TYPE_CHECKING:
    from fakes.dns.exchange import Exchange

ACTIONS = ("servfail", "refused", "drop", "latency")

Proceed = Callable[[DNSRecord, "Exchange"], "DNSRecord | None"]


@dataclass(frozen=True)
class Fault:
    """What goes wrong (action), for which questions (name glob, type, view: None = any), how long
    (duration in seconds of the server's clock, None = until removed), and the latency to add."""

    action: str
    name: str = "*"
    rtype: str | None = None
    view: str | None = None
    latency: float = 0.0
    duration: float | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}; use one of {', '.join(ACTIONS)}")
        if self.view not in (None, *VIEWS):
            raise ValueError(f"unknown view {self.view!r}; use one of {', '.join(VIEWS)} or None for all")
        if (self.action == "latency") != (self.latency > 0):
            raise ValueError("a latency fault needs latency > 0, and only a latency fault takes one")
        if self.duration is not None and self.duration <= 0:
            raise ValueError(f"fault duration must be > 0 seconds or None, got {self.duration}")
        object.__setattr__(self, "name", glob_pattern(self.name))
        object.__setattr__(self, "rtype", self.rtype and self.rtype.upper())

    def __repr__(self) -> str:
        fields = [repr(self.action)] + [
            f"{field}={value!r}"
            for field, value, default in (
                ("name", self.name, "*"),
                ("rtype", self.rtype, None),
                ("view", self.view, None),
                ("latency", self.latency, 0.0),
                ("duration", self.duration, None),
            )
            if value != default
        ]
        return f"Fault({', '.join(fields)})"

    def matches(self, qname: str, qtype: str, view: str) -> bool:
        return (
            (self.view is None or self.view == view)
            and (self.rtype is None or self.rtype == qtype)
            and matches_glob(qname, self.name)
        )

    def apply(self, request: DNSRecord, exchange: "Exchange", proceed: Proceed) -> DNSRecord | None:
        exchange.reason = "; ".join(filter(None, (exchange.reason, f"fault {self!r}")))
        if self.action == "latency":
            exchange.delay += self.latency
            return proceed(request, exchange)
        if self.action == "drop":
            return None
        rcode = RCODE.SERVFAIL if self.action == "servfail" else RCODE.REFUSED
        return render(request, Answer(rcode, ()), authoritative=False)

    def to_json(self) -> dict:
        return {
            "action": self.action,
            "name": self.name,
            "type": self.rtype,
            "view": self.view,
            "latency": self.latency,
            "duration": self.duration,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Fault":
        unknown = set(data) - {"action", "name", "type", "view", "latency", "duration"}
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        return cls(
            action=data.get("action", ""),
            name=data.get("name", "*"),
            rtype=data.get("type"),
            view=data.get("view"),
            latency=float(data.get("latency", 0.0)),
            duration=None if data.get("duration") is None else float(data["duration"]),
        )


class FaultHandle:
    """An active fault; `remove()` ends it (idempotent)."""

    def __init__(self, faults: "FaultSet", ident: int, fault: Fault, expires: float):
        self._faults, self.id, self.fault, self.expires = faults, ident, fault, expires

    def remove(self) -> None:
        self._faults.remove(self.id)

    @property
    def active(self) -> bool:
        return self._faults.active(self.id)

    def __repr__(self) -> str:
        return f"<FaultHandle {self.id} {self.fault!r}>"


class FaultSet:
    """The active faults, shared by both views; `on_change` invalidates cached answers."""

    def __init__(self, clock: Callable[[], float], on_change: Callable[[], None] = lambda: None):
        self.clock = clock
        self.on_change = on_change
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._active: dict[int, FaultHandle] = {}

    def add(self, fault: Fault) -> FaultHandle:
        expires = math.inf if fault.duration is None else self.clock() + fault.duration
        with self._lock:
            handle = FaultHandle(self, next(self._ids), fault, expires)
            self._active[handle.id] = handle
        self.on_change()
        return handle

    def remove(self, ident: int) -> None:
        with self._lock:
            removed = self._active.pop(ident, None)
        if removed is not None:
            self.on_change()

    def clear(self) -> None:
        with self._lock:
            self._active.clear()
        self.on_change()

    def active(self, ident: int) -> bool:
        handle = self._active.get(ident)
        return handle is not None and self.clock() < handle.expires

    def current(self) -> list[FaultHandle]:
        now = self.clock()
        with self._lock:
            return [h for h in self._active.values() if now < h.expires]

    def __bool__(self) -> bool:
        return bool(self._active)

    def matching(self, qname: str, qtype: str, view: str) -> list[Fault]:
        return [h.fault for h in self.current() if h.fault.matches(qname, qtype, view)]


class FaultResolver:
    """Wraps a view's resolver with the faults that match each question."""

    def __init__(self, inner, faults: FaultSet):
        self.inner = inner
        self.view = inner.view
        self.faults = faults

    def resolve(self, request: DNSRecord, exchange: "Exchange") -> DNSRecord | None:
        if not self.faults:  # the common case, kept cheap
            return self.inner.resolve(request, exchange)
        matching = self.faults.matching(str(request.q.qname), QTYPE[request.q.qtype], self.view)
        if not matching:
            return self.inner.resolve(request, exchange)
        exchange.valid_until = -math.inf  # a faulted answer is never served from the answer cache
        proceed: Proceed = self.inner.resolve
        for fault in reversed(matching):
            proceed = _wrap(fault, proceed)
        return proceed(request, exchange)


def _wrap(fault: Fault, proceed: Proceed) -> Proceed:
    return lambda request, exchange: fault.apply(request, exchange, proceed)
