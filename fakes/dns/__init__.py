"""The controllable fake DNS server: real DNS over UDP and TCP (dnslib), RFC 2136 updates with TSIG
(dnspython does the TSIG maths), and the levers for two production failures: DNS propagation lag (the
lagging views) and DNS-provider permission drift (key revoke / rotate / policy).

Four views of the same zones, each on its own loopback address (UDP and TCP on one port):

    authoritative   the zones' primary: every change at once, AA set, REFUSED outside the zones; takes
                    the updates (cert-manager's RFC2136 provider sends them here)
    resolver        what cert-manager's self-check resolves through (--dns01-recursive-nameservers)
    ca_resolver     what the CA validates through (Pebble -dnsserver)
    secondary       a secondary nameserver whose zone transfers lag: AA set, trails the primary by its
                    per-zone delay, caches nothing

Nameserver listeners serve a view on more addresses (e.g. port 53 on a free 127.53.x.y, where
cert-manager's authoritative self-check asks the zone's NS hosts); `zone_nameservers` makes each zone's
NS and A records name them:

    DnsServer(zones, nameservers={"ns-primary": ("authoritative", ("127.53.0.0/16", 53)),
                                  "ns-secondary": ("secondary", ("127.53.0.0/16", 53))},
              zone_nameservers=[("ns1", "ns-primary"), ("ns2", "ns-secondary")])
    dns.address("ns-primary"); dns.listeners        # {listener: view}
    dns.set_propagation_delay(zone, 20, view="secondary")   # the secondary's zone transfer lag

The two lagging views act like recursive resolvers: a change made at time t shows from t + delay on
(per zone and view), and an NXDOMAIN/NODATA answer, once given, is repeated for the negative TTL (RFC
2308) even after the record appeared. Lowering a delay reveals pending changes at once; raising it never
hides what was shown. Names outside every zone are NXDOMAIN there (as a resolver says for .test).

Python API (what the rest of certchaos imports):

    from fakes.dns import DnsServer, TsigKey, Policy, Fault

    key = TsigKey("certchaos", "hmac-sha256", "<base64 secret>", policy=None)   # also md5, sha1, sha512
    with DnsServer(zones=["certchaos.test."], keys=[key], propagation_delay=0.0, negative_ttl=60.0,
                   listen=("127.0.0.1", 0), resolver_listen=("127.0.0.1", 0),
                   ca_resolver_listen=("127.0.0.1", 0), clock=time.monotonic) as dns:
        dns.authoritative, dns.resolver, dns.ca_resolver       # ("127.0.0.1", port) each
        dns.address("resolver")                                # the same by view name

        # records (RRset semantics of RFC 2136: an add joins the RRset, which takes the new TTL)
        dns.add_record("_acme-challenge.www.certchaos.test.", "TXT", '"token"', ttl=60)
        dns.set_records(name, "TXT", ['"a"', '"b"'], ttl=60)   # replace the RRset atomically
        dns.remove_records(name)  /  (name, "TXT")  /  (name, "TXT", '"a"')
        dns.records(name, rtype=None, view="authoritative")    # -> [Record(name, type, ttl, data)];
                                                               # lagging views: what they would answer now,
                                                               # negative cache included, without filling it
        dns.add_zone("other.test."); dns.zones; dns.zone_settings()

        # propagation lag
        dns.set_propagation_delay("certchaos.test.", 30)                    # both resolver views
        dns.set_propagation_delay("certchaos.test.", 90, view="ca_resolver")
        dns.set_negative_ttl("certchaos.test.", 10)          # the SOA MINIMUM, followed by both views
        dns.set_negative_ttl("certchaos.test.", 5, view="resolver")         # one view's caching only

        # permission drift: updates are answered as a real primary answers them
        dns.revoke_key("certchaos")        # NOTAUTH, TSIG error BADKEY (as for an unknown key)
        dns.restore_key("certchaos")
        dns.rotate_key("certchaos", "<new base64>")   # the old secret now gets NOTAUTH/BADSIG
        dns.set_policy("certchaos", Policy(names=("_acme-challenge.*.certchaos.test.",), types=("TXT",)))
        dns.set_policy("certchaos", None)              # anything in the zones again
        dns.add_key(TsigKey(...))
        # unsigned update -> REFUSED; bad time -> NOTAUTH/BADTIME (signed); outside the policy -> REFUSED;
        # prerequisites -> NXDOMAIN/YXDOMAIN/NXRRSET/YXRRSET; names outside the zone -> NOTZONE

        # faults on queries: servfail, refused, drop, latency; by name glob, type, view; for a duration
        # (seconds of the server clock) or until removed; several matching faults compose in order
        fault = dns.add_fault("servfail", "_acme-challenge.*", "TXT", view="ca_resolver", duration=30)
        dns.add_fault("latency", "*", latency=2.0)        # delayed on its own, other answers go on
        dns.add_fault(Fault("drop", name="www.certchaos.test."))
        fault.remove(); fault.active; dns.faults.current(); dns.clear_faults()

        # the log of every query and update (a ring of 100k entries)
        dns.log.queries(name_glob=None, rtype=None, view=None, rcode=None, since=None)
        dns.log.updates(name_glob=None, key=None, rcode=None)   # name_glob matches the changed names
        dns.log.entries(); dns.log.select(kind=..., ...); dns.log.clear()
        # LogEntry(time (epoch), view, client "host:port", transport "udp"/"tcp", kind "query"/"update"/
        #          "invalid", name, rtype, rcode (None if no reply), answers (zone-file lines),
        #          reason (why refused / faulted / dropped / truncated), key, changes, tsig_error)

        dns.reset()     # back to how it was created, sockets kept: the cheap per-test reset
        dns.check()     # raise the internal errors the server threads met (each was answered SERVFAIL)

`clock` times the zone history, negative caching and fault durations: tests pass a fake clock and
advance it instead of waiting. Latency faults use real time.

Out of process: `certchaos dns serve --zone Z [--listen H:P] [--resolver-listen H:P]
[--ca-resolver-listen H:P] [--tsig-key NAME:ALG:SECRET[:GLOBS[:TYPES]]] [--propagation-delay S]
[--negative-ttl S] [--control H:P]` prints the addresses and a "ready" line; the HTTP JSON control
API is described in fakes.dns.control. Only 127.0.0.0/8 addresses are accepted.

Not modelled: wildcards, delegations below the apex (NS there is just data), DNSSEC, zone transfers
(REFUSED), TSIG on queries (ignored), positive caching in the lagging views (they trail by the delay
only), SOA changes through updates (ignored: the server keeps the SOA).
"""

from fakes.dns.resolver_faults import Fault, FaultHandle
from fakes.dns.keys import Policy, TsigKey
from fakes.dns.log import LogEntry, QueryLog
from fakes.dns.server import DnsServer
from fakes.dns.zone import Record

__all__ = ["DnsServer", "Fault", "FaultHandle", "LogEntry", "Policy", "QueryLog", "Record", "TsigKey"]
