"""`certchaos dns serve`: the fake DNS server as its own process, controlled over HTTP JSON."""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import signal
import sys
import threading
from pathlib import Path

from harness.errors import HarnessError, as_harness_error
from harness.stack.ports import LOOPBACK
from fakes.dns.errors import FakeDnsError
from fakes.dns.keys import ALGORITHMS, Policy, TsigKey
from fakes.dns.server import DEFAULT_NEGATIVE_TTL, DnsServer, check_loopback

KEY_SYNTAX = "NAME:ALGORITHM:BASE64SECRET[:NAMEGLOB[,NAMEGLOB...][:TYPE[,TYPE...]]]"
KEYS_ENV = "CERTCHAOS_DNS_TSIG_KEYS"  # TSIG keys in KEY_SYNTAX, separated by whitespace: not visible in `ps`
VISIBLE_IN_PS = ("certchaos dns serve: warning: --tsig-key puts the key's secret on the command line, where `ps` "
                 "shows it to every user of this machine. Fix: --tsig-key-file FILE (one key a line, mode 600) "
                 f"or ${KEYS_ENV}")


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
    serve.add_argument("--tsig-key-file", action="append", default=[], metavar="FILE",
                       help=f"TSIG keys allowed to update, one a line as {KEY_SYNTAX} ('#' starts a comment; "
                            "repeatable); the optional globs and types restrict what a key may change, e.g. "
                            f"certchaos:hmac-sha256:c2VjcmV0:_acme-challenge.*:TXT. Also ${KEYS_ENV} (keys "
                            "separated by whitespace)")
    serve.add_argument("--tsig-key", action="append", type=tsig_key, default=[], metavar=KEY_SYNTAX,
                       help="a TSIG key on the command line (repeatable; kept for scripts, but `ps` shows its "
                            "secret: prefer --tsig-key-file)")
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
    from harness.stack.dnscontrol import DnsControl

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
    except FakeDnsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return host, int(port)


def tsig_key(text: str) -> TsigKey:
    """One key in KEY_SYNTAX. An error never shows the secret: it ends up in terminals, logs and CI output."""
    parts = text.split(":")
    if len(parts) not in (3, 4, 5):
        # Too few or too many fields: which one is the secret is unknown, so nothing of the text is shown.
        raise argparse.ArgumentTypeError(f"a TSIG key has 3 to 5 ':'-separated fields, {KEY_SYNTAX}; this one has "
                                         f"{len(parts)} (its text is not shown: it may hold the secret)")
    name, algorithm, secret = parts[:3]
    # Our own messages, naming the key only: fakes.dns.keys's repeat the values, and a field in the wrong place
    # (the secret where the algorithm goes) would be shown.
    if algorithm.lower().rstrip(".") not in ALGORITHMS:
        raise argparse.ArgumentTypeError(f"TSIG key {name}: the second field is not an algorithm (not shown: it "
                                         f"may be the secret); use one of {', '.join(ALGORITHMS)}")
    try:
        base64.b64decode(secret, validate=True)
        key = TsigKey(name, algorithm, secret)
    except (binascii.Error, ValueError):
        raise argparse.ArgumentTypeError(f"TSIG key {name}: the secret (not shown) is not non-empty base64. Fix: "
                                         "e.g. `openssl rand -base64 32`") from None
    if len(parts) == 3:
        return key
    types = tuple(t for t in parts[4].split(",") if t) if len(parts) == 5 else None
    try:
        policy = Policy(names=tuple(g for g in parts[3].split(",") if g) or ("*",), types=types)
    except (ValueError, TypeError) as error:
        raise argparse.ArgumentTypeError(f"TSIG key {name}: bad policy: {error}") from None
    return TsigKey(key.name, key.algorithm, secret, policy)


def tsig_keys(command_line: list[TsigKey], files: list[str], environ: dict[str, str]) -> list[TsigKey]:
    """The keys of --tsig-key, every --tsig-key-file and $CERTCHAOS_DNS_TSIG_KEYS; an error names the file and
    line (or the variable and the key's position), never the secret."""
    keys = list(command_line)
    for file in files:
        try:
            lines = Path(file).expanduser().read_text().splitlines()
        except OSError as error:
            raise HarnessError(f"--tsig-key-file {file}: {error.strerror}. Fix: give a readable file with one key "
                               f"a line, {KEY_SYNTAX}") from None
        for number, line in enumerate(lines, 1):
            text = line.split("#", 1)[0].strip()
            if text:
                keys.append(_parsed(text, f"--tsig-key-file {file} line {number}"))
    for position, text in enumerate(environ.get(KEYS_ENV, "").split(), 1):
        keys.append(_parsed(text, f"${KEYS_ENV} key {position}"))
    return keys


def _parsed(text: str, where: str) -> TsigKey:
    try:
        return tsig_key(text)
    except argparse.ArgumentTypeError as error:
        raise HarnessError(f"{where}: {error}") from None


def serve_until_interrupted(args: argparse.Namespace) -> int:
    with as_harness_error(FakeDnsError):  # the fake's refusals (an address in use, ...) end it as ours do
        return _serve_until_interrupted(args)


def _serve_until_interrupted(args: argparse.Namespace) -> int:
    from fakes.dns.control import ControlServer

    if args.tsig_key:
        print(VISIBLE_IN_PS, file=sys.stderr)
    keys = tsig_keys(args.tsig_key, args.tsig_key_file, dict(os.environ))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    dns_server = DnsServer(
        args.zone,
        keys,
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
