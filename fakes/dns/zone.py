"""One authoritative zone: its records, RFC 2136 change semantics, and the history of its states.

Every change makes a new immutable ZoneState stamped with the clock, so the authoritative view reads the
newest state while each lagging view reads the newest state older than its horizon (now minus its
propagation delay): lag comes from the history, not from timers.
"""

from __future__ import annotations

import fnmatch
import math
import threading
from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple, Sequence

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

SOA = dns.rdatatype.SOA
NS = dns.rdatatype.NS
CNAME = dns.rdatatype.CNAME
ANY = dns.rdatatype.ANY

# SOA timers of the synthesised SOA: ordinary BIND-like values; only MINIMUM (the negative TTL) matters here.
SOA_TTL = 3600
SOA_TIMERS = "3600 600 86400"  # refresh retry expire
# Each new zone's NS RRset, as (label under the zone, IPv4 address of that host): one in-zone nameserver.
DEFAULT_NAMESERVERS = (("ns1", "127.0.0.1"),)


def glob_pattern(pattern: str) -> str:
    """A name glob made absolute and lowercase, so "_acme-challenge.*.example.test" matches names as
    the wire carries them; a pattern ending in "*" is left open."""
    pattern = pattern.lower()
    return pattern if pattern.endswith(("*", ".")) else pattern + "."


def matches_glob(name: str, pattern: str) -> bool:
    """fnmatch on absolute lowercase names; `*` also matches dots (several labels)."""
    return fnmatch.fnmatchcase(name.lower() if name.endswith(".") else name.lower() + ".", pattern)


def name_of(text: str | dns.name.Name) -> dns.name.Name:
    if isinstance(text, dns.name.Name):
        return text
    try:
        return dns.name.from_text(text)
    except Exception as error:  # dnspython's name errors (empty label, label too long, ...)
        raise ValueError(f"invalid DNS name {text!r}: {error}") from None


def rtype_of(text: str) -> int:
    try:
        return dns.rdatatype.from_text(text)
    except Exception:  # dnspython's UnknownRdatatype and ValueError
        raise ValueError(f"unknown record type {text!r}") from None


def rdata_of(rtype: int, text: str) -> dns.rdata.Rdata:
    try:
        return dns.rdata.from_text(dns.rdataclass.IN, rtype, text)
    except Exception as error:  # dnspython raises many types; one clear message
        raise ValueError(f"invalid {dns.rdatatype.to_text(rtype)} data {text!r}: {error}") from None


class RRset(NamedTuple):
    ttl: int
    rdatas: tuple[dns.rdata.Rdata, ...]


@dataclass(frozen=True)
class Record:
    """A record as the public API shows it: name, type, TTL and data in presentation format."""

    name: str
    type: str
    ttl: int
    data: str

    def to_json(self) -> dict:
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "data": self.data}


class Change(NamedTuple):
    """One RFC 2136 update operation (section 2.5): add, delete an RRset, a name, or one record."""

    op: str  # "add" | "delete-rrset" | "delete-name" | "delete-record"
    name: dns.name.Name
    rtype: int = ANY
    ttl: int = 0
    rdata: dns.rdata.Rdata | None = None

    def __str__(self) -> str:
        verb, rtype = ("add", f"{self.ttl} ") if self.op == "add" else ("delete", "")
        rtype += dns.rdatatype.to_text(self.rtype)
        data = f" {self.rdata.to_text()}" if self.rdata is not None else ""
        return f"{verb} {self.name.to_text().lower()} {rtype}{data}"


@dataclass(frozen=True)
class ZoneState:
    """The zone at one moment: records per owner name, and every name that exists (owners plus the
    empty non-terminals above them, which answer NODATA rather than NXDOMAIN)."""

    serial: int
    nodes: Mapping[dns.name.Name, Mapping[int, RRset]]
    names: frozenset[dns.name.Name]
    time: float
    version: int  # counts states, orders those made at the same clock reading

    @property
    def stamp(self) -> tuple[float, int]:
        return self.time, self.version


@dataclass
class Lag:
    """How far one lagging view trails a zone: changes show `delay` seconds after they were made, and
    negative answers are cached `negative_ttl` seconds. `horizon` is the stamp (time, version) of the
    newest state the view may show; it only moves forward, so a view never un-sees what it showed.
    The version part makes a change at the very clock reading of a delay change wait for the new delay."""

    delay: float
    negative_ttl: float
    horizon: tuple[float, float] = (-math.inf, -math.inf)


class Zone:
    """A zone's records, its history and how each lagging view trails it; thread-safe; `on_change` is
    called after every new state or setting. `lock` is held by the update processor across an
    update's prerequisites and changes."""

    def __init__(
        self,
        origin: str,
        *,
        clock: Callable[[], float],
        views: Sequence[str] = ("resolver",),
        propagation_delay: float | Mapping[str, float] = 0.0,
        negative_ttl: float = 60.0,
        nameservers: Sequence[tuple[str, str]] = DEFAULT_NAMESERVERS,
        on_change: Callable[[], None] = lambda: None,
    ):
        self.origin = name_of(origin)
        self.clock = clock
        self.on_change = on_change
        self.lock = threading.RLock()
        delays = propagation_delay if isinstance(propagation_delay, Mapping) else dict.fromkeys(views, propagation_delay)
        for delay in delays.values():
            self._check("propagation delay", delay)
        self._check("negative TTL", negative_ttl)
        self._soa_minimum = float(negative_ttl)
        self.lags = {view: Lag(float(delays.get(view, 0.0)), float(negative_ttl)) for view in views}
        if not nameservers:
            raise ValueError(f"zone {self.origin} needs at least one nameserver (label, IPv4 address)")
        hosts = [dns.name.from_text(label, self.origin) for label, _ in nameservers]
        self.nameserver = hosts[0]  # the SOA MNAME: the primary
        nodes = {self.origin: {NS: RRset(SOA_TTL, tuple(rdata_of(NS, host.to_text()) for host in hosts))}}
        for host, (_, address) in zip(hosts, nameservers):
            nodes[host] = {dns.rdatatype.A: RRset(SOA_TTL, (rdata_of(dns.rdatatype.A, address),))}
        self._history: list[ZoneState] = []
        self._commit(nodes, serial=1)

    # -- settings ---------------------------------------------------------------------------------

    def _check(self, what: str, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"{what} of {self.origin} must be >= 0 seconds, got {seconds}")

    def _lag(self, view: str) -> Lag:
        try:
            return self.lags[view]
        except KeyError:
            raise ValueError(f"{view!r} is not a lagging view; use one of {', '.join(self.lags)}") from None

    def set_propagation_delay(self, view: str, seconds: float) -> None:
        """Lowering the delay reveals pending changes at once; raising it hides nothing already shown."""
        self._check("propagation delay", seconds)
        with self.lock:
            lag = self._lag(view)
            self._advance(lag)
            lag.delay = float(seconds)
        self.on_change()

    def set_negative_ttl(self, seconds: float, view: str | None = None) -> None:
        """One view's negative caching time, or (view None) the SOA MINIMUM and every view's: RFC 2308
        caching for min(SOA TTL, MINIMUM), and the SOA TTL is the larger here."""
        self._check("negative TTL", seconds)
        with self.lock:
            for lag in self.lags.values() if view is None else [self._lag(view)]:
                lag.negative_ttl = float(seconds)
            if view is None:
                self._soa_minimum = float(seconds)
                self._commit(self.state.nodes)  # the SOA MINIMUM field changes: a new serial
        self.on_change()

    # -- reading ----------------------------------------------------------------------------------

    @property
    def soa_minimum(self) -> float:
        return self._soa_minimum

    @property
    def state(self) -> ZoneState:
        return self._history[-1]

    def visible(self, view: str, now: float) -> tuple[ZoneState, float]:
        """The state `view` shows at `now`, and when its next pending change becomes visible (inf if
        none): a change made at time t shows from t + delay on."""
        with self.lock:
            lag = self._lag(view)
            self._prune(now)
            history = self._history
            index = _newest_at(history, lag.horizon)
            upcoming = history[index + 1].time + lag.delay if index + 1 < len(history) else math.inf
            return history[index], upcoming

    def _prune(self, now: float | None = None) -> None:
        """Drop the states older than the one the furthest-behind view shows: horizons only move
        forward, so no view can show them again."""
        now = self.clock() if now is None else now
        oldest = min((self._advance(lag, now) for lag in self.lags.values()), default=(math.inf, math.inf))
        del self._history[: _newest_at(self._history, oldest)]

    def _advance(self, lag: Lag, now: float | None = None) -> tuple[float, float]:
        """Move the horizon to now - delay, covering the states made so far (none can be made later
        with an earlier time: the clock is monotonic)."""
        now = self.clock() if now is None else now
        lag.horizon = max(lag.horizon, (now - lag.delay, self.state.version))
        return lag.horizon

    def contains(self, name: dns.name.Name) -> bool:
        return name.is_subdomain(self.origin)

    # -- changing ---------------------------------------------------------------------------------

    def apply(self, changes: Sequence[Change]) -> list[tuple[Change, str]]:
        """Apply changes atomically with RFC 2136 section 3.4.2 rules; return the ignored ones with why.
        Bumps the serial when anything changed."""
        with self.lock:
            nodes = {name: dict(rrsets) for name, rrsets in self.state.nodes.items()}
            ignored = []
            for change in changes:
                why = self._apply_one(nodes, change)
                if why:
                    ignored.append((change, why))
            nodes = {name: rrsets for name, rrsets in nodes.items() if rrsets}
            if nodes != self.state.nodes:
                self._commit(nodes)
            return ignored

    def _apply_one(self, nodes: dict[dns.name.Name, dict[int, RRset]], change: Change) -> str | None:
        name, rtype = change.name, change.rtype
        apex = name == self.origin
        node = nodes.setdefault(name, {})
        if change.op == "add":
            if rtype == SOA:
                return "the SOA is maintained by the server"
            if rtype == CNAME and set(node) - {CNAME}:
                return f"{name} has other data, a CNAME cannot be added"
            if rtype != CNAME and CNAME in node:
                return f"{name} is a CNAME, other data cannot be added"
            old = node.get(rtype, RRset(change.ttl, ())).rdatas
            rdatas = (change.rdata,) if rtype == CNAME else old + (change.rdata,) * (change.rdata not in old)
            node[rtype] = RRset(change.ttl, rdatas)
        elif change.op == "delete-name":
            for existing in list(node):
                if not (apex and existing in (SOA, NS)):
                    del node[existing]
        elif change.op == "delete-rrset":
            if apex and rtype in (SOA, NS):
                return f"the apex {dns.rdatatype.to_text(rtype)} RRset cannot be deleted"
            node.pop(rtype, None)
        elif change.op == "delete-record":
            rrset = node.get(rtype)
            if rtype == SOA or (apex and rtype == NS and rrset is not None and len(rrset.rdatas) == 1):
                return f"the apex {dns.rdatatype.to_text(rtype)} cannot be deleted"
            if rrset is not None:
                rdatas = tuple(r for r in rrset.rdatas if r != change.rdata)
                if rdatas:
                    node[rtype] = RRset(rrset.ttl, rdatas)
                else:
                    del node[rtype]
        else:
            raise ValueError(f"unknown change {change.op!r}")
        return None

    def _commit(self, nodes: Mapping[dns.name.Name, Mapping[int, RRset]], serial: int | None = None) -> None:
        with self.lock:
            serial = serial if serial is not None else (self.state.serial + 1) % 2**32 or 1
            minimum = math.ceil(self._soa_minimum)
            soa = rdata_of(
                SOA, f"{self.nameserver} hostmaster.{self.origin} {serial} {SOA_TIMERS} {minimum}"
            )
            nodes = dict(nodes)
            nodes[self.origin] = {**nodes.get(self.origin, {}), SOA: RRset(SOA_TTL, (soa,))}
            names = set()
            for owner in nodes:
                while owner not in names and owner.is_subdomain(self.origin):
                    names.add(owner)
                    if owner == self.origin:
                        break
                    owner = owner.parent()
            version = self._history[-1].version + 1 if self._history else 0
            self._history.append(ZoneState(serial, nodes, frozenset(names), self.clock(), version))
            self._prune()
        self.on_change()

    def records(self, state: ZoneState, name: dns.name.Name, rtype: int | None = None) -> list[Record]:
        node = state.nodes.get(name, {})
        return [r for t, rrset in sorted(node.items()) if rtype in (None, t) for r in records_of(name, t, rrset)]


def _newest_at(history: Sequence[ZoneState], horizon: tuple[float, float]) -> int:
    """Index of the newest state stamped at or before `horizon` (the first state is always there)."""
    index = len(history) - 1
    while index > 0 and history[index].stamp > horizon:
        index -= 1
    return index


def records_of(name: dns.name.Name, rtype: int, rrset: RRset) -> list[Record]:
    owner, type_text = name.to_text().lower(), dns.rdatatype.to_text(rtype)
    return [Record(owner, type_text, rrset.ttl, rdata.to_text()) for rdata in rrset.rdatas]
