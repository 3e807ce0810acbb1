"""DnsServer: the fake DNS server assembled from its roles, and the Python API certchaos drives it with."""

from __future__ import annotations

import ipaddress
import time
from typing import Callable, Iterable, Mapping, Sequence

import dns.name

from fakes.dns.errors import FakeDnsError
from fakes.dns.resolver_faults import Fault, FaultHandle, FaultResolver, FaultSet
from fakes.dns.handler import WireHandler
from fakes.dns.keys import KeyStore, Policy, TsigKey
from fakes.dns.log import QueryLog
from fakes.dns.resolvers import (
    LAGGING_VIEWS, RESOLVER_VIEWS, SECONDARY, VIEWS, AuthoritativeResolver, LaggingResolver, SecondaryResolver,
    find_zone,
)
from fakes.dns.transport import Binder, Transport
from fakes.dns.update import UpdateProcessor
from fakes.dns.zone import DEFAULT_NAMESERVERS, Change, Record, Zone, name_of, rdata_of, records_of, rtype_of

DEFAULT_TTL = 60  # seconds; what cert-manager gives its challenge TXT records
# Default SOA MINIMUM, the lagging views' negative caching time: production zones often say 300-3600 s;
# 60 s keeps negative caching visible yet short enough for compressed-time runs. Settable per zone/view.
DEFAULT_NEGATIVE_TTL = 60.0
# Prefix of each lagging view's keys in zone_settings() and the control API's PUT /zones.
SETTING_PREFIX = {"resolver": "", "ca_resolver": "ca_", SECONDARY: "secondary_"}
# Where nameserver listeners bind when given no address: a free address in this loopback network, on a
# fixed port (53 for what cert-manager's authoritative self-check asks), so several labs coexist.
NAMESERVER_NETWORK = "127.53.0.0/16"
LOOPBACK = "127.0.0.1"  # where listeners bind when given no address


def check_loopback(what: str, host: str) -> str:
    """Refuse to listen anywhere but 127.0.0.0/8 (an address, or a network for "any free address in
    it"): the fake must never be reachable from the network."""
    try:
        loopback = ipaddress.ip_network(host).subnet_of(ipaddress.ip_network("127.0.0.0/8"))
    except (ValueError, TypeError):
        loopback = False
    if not loopback:
        raise FakeDnsError(
            f"{what}: {host!r} is not a loopback address; certchaos servers bind 127.0.0.0/8 only. "
            f"Fix: use {LOOPBACK} (or another 127.x.y.z address)"
        )
    return host


class DnsServer:
    """An authoritative server for `zones` (UDP+TCP), two lagging resolver views and a lagging secondary
    of the same zones on their own addresses, RFC 2136 updates with TSIG `keys`, faults and a log.

    `nameservers` adds listeners: {name: (view, (host, port))}, e.g. {"ns-primary": ("authoritative",
    ("127.53.0.0/16", 53))}. `zone_nameservers` is each new zone's NS RRset as (label, address), where
    the address may name a listener ("ns-primary"): its address once started. `binders` {listener:
    binder(component, host, port) -> (udp, tcp)} makes that listener's bound sockets instead of binding
    them on loopback (the kind lab binds inside its anchor containers' network namespaces). See fakes.dns."""

    def __init__(
        self,
        zones: Iterable[str],
        keys: Iterable[TsigKey] = (),
        *,
        propagation_delay: float = 0.0,
        negative_ttl: float = DEFAULT_NEGATIVE_TTL,
        listen: tuple[str, int] = (LOOPBACK, 0),
        resolver_listen: tuple[str, int] = (LOOPBACK, 0),
        ca_resolver_listen: tuple[str, int] = (LOOPBACK, 0),
        secondary_listen: tuple[str, int] = (LOOPBACK, 0),
        nameservers: Mapping[str, tuple[str, tuple[str, int]]] = {},
        zone_nameservers: Sequence[tuple[str, str]] = DEFAULT_NAMESERVERS,
        clock: Callable[[], float] = time.monotonic,
        binders: Mapping[str, Binder] = {},
    ):
        # The secondary starts in step with the primary; propagation_delay is the resolvers' lag.
        delays = {view: float(propagation_delay) for view in RESOLVER_VIEWS}
        self._settings = {"propagation_delay": delays, "negative_ttl": float(negative_ttl)}
        self._initial_zones = [name_of(z) for z in zones]
        if not self._initial_zones:
            raise ValueError("DnsServer needs at least one zone, e.g. zones=['certchaos.test.']")
        self._initial_keys = list(keys)
        # A listener with a binder binds wherever its binder puts it (inside a container's network
        # namespace, never on the machine's own interfaces); every other one on loopback only.
        self._binders = dict(binders)
        self._listen = {
            view: (self._checked(view, host), int(port))
            for view, (host, port) in zip(VIEWS, (listen, resolver_listen, ca_resolver_listen, secondary_listen))
        }
        self._views = {}
        for name, (view, (host, port)) in nameservers.items():
            if view not in VIEWS or name in VIEWS:
                raise ValueError(f"nameserver listener {name!r}: serves one of the views {', '.join(VIEWS)} "
                                 f"and is not named like one; got view {view!r}")
            self._listen[name] = (self._checked(name, host), int(port))
            self._views[name] = view
        self._zone_nameservers = tuple(zone_nameservers)
        self.clock = clock
        self.log = QueryLog()
        self.keys = KeyStore(self._initial_keys)
        self._zones: dict[dns.name.Name, Zone] = {}
        self._lagging = {view: LaggingResolver(self._zones, clock, view) for view in RESOLVER_VIEWS}
        self._lagging[SECONDARY] = SecondaryResolver(self._zones, clock)
        self._updater = UpdateProcessor(self._zones, self.keys)
        self.faults = FaultSet(clock)
        resolvers = [AuthoritativeResolver(self._zones), *self._lagging.values()]
        self._handler = WireHandler(
            {resolver.view: FaultResolver(resolver, self.faults) for resolver in resolvers},
            self._updater,
            self.log,
            clock,
        )
        self.faults.on_change = self._handler.invalidate
        self._transport: Transport | None = None
        if not self._deferred():
            self._add_initial_zones()

    def _checked(self, name: str, host: str) -> str:
        return host if name in self._binders else check_loopback(f"dns {name} address", host)

    def _deferred(self) -> bool:
        """Whether the zones' NS addresses name listeners whose addresses only start() knows."""
        return any(address in self._views for _, address in self._zone_nameservers)

    def _add_initial_zones(self) -> None:
        for origin in self._initial_zones:
            self.add_zone(origin.to_text())

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> "DnsServer":
        if self._transport is not None:
            raise RuntimeError("DnsServer already started")
        self._transport = Transport(self._handler, self._listen, self._views, self._binders)
        self._transport.start()
        if self._deferred():
            self._add_initial_zones()
        return self

    def stop(self) -> None:
        """Release the ports and join the threads; idempotent."""
        if self._transport is not None:
            self._transport.stop()

    def __enter__(self) -> "DnsServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to how it was created (zones, records, settings, keys, faults, negative caches, log),
        keeping the sockets: the cheap per-test reset of a server started once per session."""
        self.faults.clear()
        self.keys = self._updater.keys = KeyStore(self._initial_keys)
        self._zones.clear()
        self._add_initial_zones()
        for lagging in self._lagging.values():
            lagging.forget()
        self.log.clear()
        self._handler.errors.clear()

    def check(self) -> None:
        """Raise the internal errors the server threads met (each also answered SERVFAIL), so a bug in
        the fake surfaces in the test thread instead of vanishing."""
        errors = self._handler.errors
        if errors:
            raise FakeDnsError(f"fake DNS server hit {len(errors)} internal error(s); the first:\n{errors[0]}")

    def address(self, view: str) -> tuple[str, int]:
        """(host, port) of a view's address, or of a nameserver listener by its name."""
        if self._transport is None:
            raise RuntimeError("DnsServer not started: call start() or use it as a context manager")
        if view not in self._listen:
            raise ValueError(f"unknown view or listener {view!r}; use one of {', '.join(self._listen)}")
        return self._transport.addresses[view]

    @property
    def listeners(self) -> dict[str, str]:
        """Every listener name -> the view it serves (the views' own addresses and the nameservers)."""
        return {name: self._views.get(name, name) for name in self._listen}

    @property
    def authoritative(self) -> tuple[str, int]:
        """(host, port) of the authoritative view, UDP and TCP: where updates go."""
        return self.address("authoritative")

    @property
    def resolver(self) -> tuple[str, int]:
        """(host, port) of the lagging resolver view for cert-manager's self-check (and any resolver)."""
        return self.address("resolver")

    @property
    def ca_resolver(self) -> tuple[str, int]:
        """(host, port) of the lagging view the CA validates through (Pebble's -dnsserver)."""
        return self.address("ca_resolver")

    @property
    def secondary(self) -> tuple[str, int]:
        """(host, port) of the secondary nameserver's view (its zone transfers lag)."""
        return self.address(SECONDARY)

    # -- zones and records ------------------------------------------------------------------------

    @property
    def zones(self) -> list[str]:
        return [origin.to_text() for origin in self._zones]

    def add_zone(self, name: str) -> None:
        """Serve one more zone (SOA; NS and A records from zone_nameservers, by default NS ns1.<zone> with
        A 127.0.0.1), with the default settings."""
        origin = name_of(name)
        if origin in self._zones:
            raise ValueError(f"zone {origin} is already served")
        nameservers = [(label, self.address(address)[0] if address in self._views else address)
                       for label, address in self._zone_nameservers]
        self._zones[origin] = Zone(
            origin.to_text(), clock=self.clock, views=LAGGING_VIEWS, nameservers=nameservers,
            on_change=self._handler.invalidate, **self._settings
        )
        self._handler.invalidate()

    def zone(self, name: str) -> Zone:
        zone = self._zones.get(name_of(name))
        if zone is None:
            raise KeyError(f"no zone {name!r}; served zones: {', '.join(self.zones)}")
        return zone

    def _zone_of(self, name: dns.name.Name) -> Zone:
        zone = find_zone(self._zones, name)
        if zone is None:
            raise ValueError(f"{name} is in none of the served zones ({', '.join(self.zones)})")
        return zone

    def _apply(self, name: dns.name.Name, changes: list[Change]) -> None:
        ignored = self._zone_of(name).apply(changes)
        if ignored:
            raise ValueError("; ".join(f"cannot {change}: {why}" for change, why in ignored))

    def add_record(self, name: str, rtype: str, data: str, ttl: int = DEFAULT_TTL) -> None:
        """Add one record to its RRset (the RRset takes `ttl`), as an RFC 2136 add would."""
        owner, code = name_of(name), rtype_of(rtype)
        self._apply(owner, [Change("add", owner, code, ttl, rdata_of(code, data))])

    def set_records(self, name: str, rtype: str, data: Iterable[str], ttl: int = DEFAULT_TTL) -> None:
        """Replace the RRset atomically (empty `data`: delete it)."""
        owner, code = name_of(name), rtype_of(rtype)
        adds = [Change("add", owner, code, ttl, rdata_of(code, item)) for item in data]
        self._apply(owner, [Change("delete-rrset", owner, code)] + adds)

    def remove_records(self, name: str, rtype: str | None = None, data: str | None = None) -> None:
        """Delete every record of a name, one RRset, or one record."""
        owner = name_of(name)
        if rtype is None:
            change = Change("delete-name", owner)
        elif data is None:
            change = Change("delete-rrset", owner, rtype_of(rtype))
        else:
            code = rtype_of(rtype)
            change = Change("delete-record", owner, code, 0, rdata_of(code, data))
        self._apply(owner, [change])

    def records(self, name: str, rtype: str | None = None, view: str = "authoritative") -> list[Record]:
        """The records at exactly `name` (no CNAME following) as `view` answers them now. For a lagging
        view this includes its negative cache, without adding to it: looking changes nothing."""
        owner = name_of(name)
        zone = self._zone_of(owner)
        code = None if rtype is None else rtype_of(rtype)
        if view == "authoritative":
            return zone.records(zone.state, owner, code)
        if view not in self._lagging:
            raise ValueError(f"unknown view {view!r}; use one of {', '.join(VIEWS)}")
        state, _ = zone.visible(view, self.clock())
        found = []
        for each in [code] if code is not None else sorted(state.nodes.get(owner, {})):
            answer, _ = self._lagging[view].lookup(zone, owner, each, remember=False)
            found += [r for n, t, rrset in answer.records if (n, t) == (owner, each) for r in records_of(n, t, rrset)]
        return found

    # -- how the lagging views trail the zones ----------------------------------------------------

    def set_propagation_delay(self, zone: str, seconds: float, view: str | None = None) -> None:
        """Changes to `zone` show in `view` (None: both resolver views; "secondary": the secondary's zone
        transfer lag) `seconds` after they are made. Lowering the delay reveals pending changes at once;
        raising it never hides what was shown."""
        target = self.zone(zone)
        for each in RESOLVER_VIEWS if view is None else [view]:
            target.set_propagation_delay(each, seconds)

    def set_negative_ttl(self, zone: str, seconds: float, view: str | None = None) -> None:
        """How long `view` repeats NXDOMAIN/NODATA, also for answers it already cached. With view None
        it is the zone's SOA MINIMUM, which both resolver views follow."""
        if view == SECONDARY:
            raise ValueError("the secondary is an authoritative server: it caches no negative answers")
        self.zone(zone).set_negative_ttl(seconds, view)

    def zone_settings(self) -> list[dict]:
        """Per zone: serial, SOA minimum, each resolver view's propagation delay and negative TTL (keys
        propagation_delay, negative_ttl for "resolver"; ca_propagation_delay, ca_negative_ttl) and the
        secondary's secondary_propagation_delay."""
        settings = []
        for zone in list(self._zones.values()):
            entry = {"zone": zone.origin.to_text(), "serial": zone.state.serial, "soa_minimum": zone.soa_minimum}
            for view, lag in zone.lags.items():
                prefix = SETTING_PREFIX[view]
                entry[prefix + "propagation_delay"] = lag.delay
                if view != SECONDARY:
                    entry[prefix + "negative_ttl"] = lag.negative_ttl
            settings.append(entry)
        return settings

    # -- keys: the "DNS-provider permission drift" lever ------------------------------------------

    def add_key(self, key: TsigKey) -> None:
        """Add (or replace) a key allowed to update."""
        self.keys.add(key)

    def revoke_key(self, name: str) -> None:
        """Updates signed with the key now fail NOTAUTH/BADKEY, as if the key were unknown."""
        self.keys.revoke(name)

    def restore_key(self, name: str) -> None:
        self.keys.restore(name)

    def rotate_key(self, name: str, secret: str) -> None:
        """New base64 secret: updates signed with the old one now fail NOTAUTH/BADSIG."""
        self.keys.rotate(name, secret)

    def set_policy(self, name: str, policy: Policy | None) -> None:
        """Narrow (or widen) what the key may change; updates outside it are REFUSED."""
        self.keys.set_policy(name, policy)

    # -- faults -----------------------------------------------------------------------------------

    def add_fault(self, action: str | Fault, name: str = "*", rtype: str | None = None, **fields) -> FaultHandle:
        """Start a fault: add_fault("servfail", "_acme-challenge.*", "TXT", view="ca_resolver",
        duration=30) or add_fault(Fault(...)); fields: view, latency (seconds), duration (seconds)."""
        fault = action if isinstance(action, Fault) else Fault(action, name, rtype, **fields)
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()
