"""`certchaos dns serve`: the fake DNS server as its own process, controlled over HTTP JSON."""

from __future__ import annotations

import argparse
import signal
import threading

from harness.errors import HarnessError
from harness.stack.ports import LOOPBACK
from fakes.dns.keys import Policy, TsigKey
from fakes.dns.server import DEFAULT_NEGATIVE_TTL, DnsServer, check_loopback

KEY_SYNTAX = "NAME:ALGORITHM:BASE64SECRET[:NAMEGLOB[,NAMEGLOB...][:TYPE[,TYPE...]]]"


def register(subparsers: argparse._SubParsersAction) -> None:
    dns_parser = subparsers.add_parser("dns", help="the controllable fake DNS server")
    actions = dns_parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve",
        help="serve zones (authoritative + lagging resolver view, RFC 2136 + TSIG) until Ctrl-C",
        description="Prints the addresses, then a line with 'ready'. Port 0 picks a free port.",
    )
    serve.add_argument("--zone", action="append", required=True, help="zone to serve, e.g. certchaos.test. (repeatable)")
    serve.add_argument("--listen", type=address, default=(LOOPBACK, 0), metavar="HOST:PORT",
                       help="authoritative view, UDP and TCP (default 127.0.0.1:0)")
    serve.add_argument("--resolver-listen", type=address, default=(LOOPBACK, 0), metavar="HOST:PORT",
                       help="lagging resolver view for cert-manager's self-check, UDP and TCP (default 127.0.0.1:0)")
    serve.add_argument("--ca-resolver-listen", type=address, default=(LOOPBACK, 0), metavar="HOST:PORT",
                       help="lagging resolver view for the CA's validation (Pebble -dnsserver), UDP and TCP "
                            "(default 127.0.0.1:0)")
    serve.add_argument("--tsig-key", action="append", type=tsig_key, default=[], metavar=KEY_SYNTAX,
                       help="TSIG key allowed to update (repeatable); the optional globs and types restrict "
                            "what it may change, e.g. certchaos:hmac-sha256:c2VjcmV0:_acme-challenge.*:TXT")
    serve.add_argument("--propagation-delay", type=float, default=0.0, metavar="SECONDS",
                       help="how long a change takes to reach the lagging views (default 0)")
    serve.add_argument("--negative-ttl", type=float, default=DEFAULT_NEGATIVE_TTL, metavar="SECONDS",
                       help=f"SOA minimum: the lagging views cache NXDOMAIN/NODATA this long (default {DEFAULT_NEGATIVE_TTL:g})")
    serve.add_argument("--control", type=address, metavar="HOST:PORT",
                       help="serve the HTTP JSON control API here (see fakes/dns/control.py)")
    serve.set_defaults(handler=serve_until_interrupted)
    _register_console(actions)


def _register_console(actions: argparse._SubParsersAction) -> None:
    """The DNS provider's console for a running lab (what an operator fixes a credential with)."""
    keys = actions.add_parser("keys", help="a running lab's TSIG keys: revoked or not, and their policies")
    restore = actions.add_parser("key-restore", help="re-enable a revoked TSIG key of a running lab")
    restore.add_argument("key")
    policy = actions.add_parser("key-policy", help="set what a running lab's TSIG key may update")
    policy.add_argument("key")
    policy.add_argument("--names", action="append", required=True, metavar="GLOB",
                        help="a name the key may update, e.g. '_acme-challenge.*.ns.certchaos.test.' (repeatable)")
    policy.add_argument("--types", action="append", metavar="TYPE", help="a record type, e.g. TXT (default: any)")
    for command in (keys, restore, policy):
        command.add_argument("--lab", metavar="LAB_JSON", help="the lab's lab.json (default $CERTCHAOS_LAB)")
    keys.set_defaults(handler=_console, action="keys")
    restore.set_defaults(handler=_console, action="key-restore")
    policy.set_defaults(handler=_console, action="key-policy")


def _console(args: argparse.Namespace) -> int:
    from harness.cli.labctl import lab_info
    from harness.lab.dnscontrol import DnsControl

    dns = DnsControl(lab_info(args.lab).dns_control_url)
    try:
        if args.action == "keys":
            for key in dns.keys():
                policy = key.get("policy") or {}
                print(f"{key['name']:<32} {'REVOKED' if key.get('revoked') else 'active':<8} names="
                      f"{','.join(policy.get('names') or ['*'])} types={','.join(policy.get('types') or ['any'])}")
        elif args.action == "key-restore":
            dns.restore_key(args.key)
            print(f"{args.key}: restored")
        else:
            dns.set_policy(args.key, {"names": args.names, "types": args.types})
            print(f"{args.key}: may update {', '.join(args.names)} ({', '.join(args.types or ['any type'])})")
    finally:
        dns.close()
    return 0


def address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:5353, port 0 = any free)")
    try:
        check_loopback("listen address", host)
    except HarnessError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return host, int(port)


def tsig_key(text: str) -> TsigKey:
    parts = text.split(":")
    if len(parts) not in (3, 4, 5):
        raise argparse.ArgumentTypeError(f"{text!r} is not {KEY_SYNTAX}")
    name, algorithm, secret = parts[:3]
    policy = None
    if len(parts) > 3:
        types = tuple(t for t in parts[4].split(",") if t) if len(parts) == 5 else None
        policy = Policy(names=tuple(g for g in parts[3].split(",") if g) or ("*",), types=types)
    try:
        return TsigKey(name, algorithm, secret, policy)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def serve_until_interrupted(args: argparse.Namespace) -> int:
    from fakes.dns.control import ControlServer

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    dns_server = DnsServer(
        args.zone,
        args.tsig_key,
        propagation_delay=args.propagation_delay,
        negative_ttl=args.negative_ttl,
        listen=args.listen,
        resolver_listen=args.resolver_listen,
        ca_resolver_listen=args.ca_resolver_listen,
    )
    with dns_server:
        control = ControlServer(dns_server, *args.control).start() if args.control else None
        try:
            print("authoritative %s:%d udp+tcp" % dns_server.authoritative)
            print("resolver      %s:%d udp+tcp" % dns_server.resolver)
            print("ca_resolver   %s:%d udp+tcp" % dns_server.ca_resolver)
            if control:
                print(f"control       {control.url}")
            print(f"zones         {' '.join(dns_server.zones)}")
            print("certchaos dns ready; Ctrl-C stops it", flush=True)
            stop.wait()
        finally:
            if control:
                control.stop()
    dns_server.check()
    return 0
