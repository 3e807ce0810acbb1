"""`certchaos lab ...`: the running lab's network console, for operators and runbooks: which paths are up,
and bringing the webhook or the CA path back (or down). Thin: Toxiproxy's API through the lab's lab.json
(--lab, else $CERTCHAOS_LAB). In a cluster the same repairs are a Service's endpoints or a network policy."""

from __future__ import annotations

import argparse
import fnmatch
import json
import os

from harness.cli import kubernetes
from harness.errors import HarnessError
from harness.lab import providers
from harness.lab.providers.seam import ProviderOptions
from harness.lab.lab import LAB_ENV, LabInfo
from harness.stack.toxiproxy import Toxiproxy

PATHS = {"webhook": ("webhook", "webhook-*"), "ca": ("acme-*",)}  # proxy name patterns per path


def register(subparsers: argparse._SubParsersAction) -> None:
    lab = subparsers.add_parser("lab", help="the running lab's console: network paths (status, webhook/ca up|down)")
    lab.add_argument("--lab", metavar="LAB_JSON", help=f"the lab's lab.json (default ${LAB_ENV})")
    actions = lab.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="every network path (Toxiproxy proxy): up or down, toxics")
    status.add_argument("--json", action="store_true",
                        help='print JSON: [{"name", "up" (true/false), "listen", "upstream", "toxics": [type]}]')
    status.set_defaults(handler=_status)
    for path, help_text in (("webhook", "the API server's path to cert-manager's webhook"),
                            ("ca", "cert-manager's path to the ACME CA")):
        command = actions.add_parser(path, help=f"{help_text}: up or down")
        command.add_argument("state", choices=("up", "down"))
        command.add_argument("--namespace", help="only this namespace's own path (default: all of them)")
        command.set_defaults(handler=_switch, path=path)


def add_lab_arguments(command: argparse.ArgumentParser, what: str) -> None:
    """--attach, --provider, --bin-dir and --time-scale of a command that runs on a lab it starts or attaches to
    (gameday, explore); `what` says what acts through the lab's servers, for --provider's help."""
    command.add_argument("--attach", metavar="LAB_JSON", help=f"use a running lab (its lab.json; default ${LAB_ENV}) "
                                                              "instead of starting one")
    # What acts through the lab's servers (DNS, ACME CA, proxies) needs them: not on an existing cluster.
    command.add_argument("--provider", choices=providers.providers_with("lab_network"), default=providers.DEFAULT,
                         help=f"the lab to start ({what} acts through its servers): local processes (default) or a "
                              "kind cluster (not with --attach)")
    command.add_argument("--bin-dir", help="directory of user-built binaries that take precedence")
    command.add_argument("--time-scale", metavar="FACTOR",
                         help="multiply the harness's deadlines on a slow machine, e.g. 2 (default: "
                              "$CERTCHAOS_TIME_SCALE or 1)")
    kubernetes.add_options(command)


def attached_lab(args: argparse.Namespace, what: str) -> tuple[str | None, LabInfo | None]:
    """The lab --attach (or $CERTCHAOS_LAB) names and its info, checked before anything starts: not with --provider,
    readable, and with the lab network `what` acts through; (None, None) when a lab is to be started, once its
    provider options and cert-manager's pairing with its Kubernetes (--kubernetes) are checked."""
    attach = args.attach or os.environ.get(LAB_ENV) or None
    if attach and (args.provider != providers.DEFAULT or args.kubernetes):
        given = f"--provider {args.provider}" if args.provider != providers.DEFAULT else f"--kubernetes {args.kubernetes}"
        raise HarnessError(f"{given} starts a lab; an attached lab ({attach}) is what it is. "
                           f"Fix: drop {given.split()[0]} or --attach")
    attached = lab_info(attach) if attach else None  # a bad lab.json is refused before anything is made
    if attached is not None and attached.capabilities is not None and not attached.capabilities.lab_network:
        raise HarnessError(f"--attach {attach}: a lab on provider {attached.provider}, whose cert-manager does not "
                           f"reach the lab's DNS, ACME CA or proxies, where {what} acts. Fix: attach a lab of "
                           f"{' or '.join(providers.providers_with('lab_network'))}")
    if not attach:
        kubernetes.check_pairings(args, kubernetes.cert_manager_version(args.bin_dir))
        providers.validate(args.provider, ProviderOptions(bin_dir=args.bin_dir, kubernetes=kubernetes.requested(args)))
    return attach, attached


def lab_info(explicit: str | None) -> LabInfo:
    """The running lab from --lab or $CERTCHAOS_LAB, or one error saying how to name it."""
    path = explicit or os.environ.get(LAB_ENV)
    if not path:
        raise HarnessError(f"no lab given. Fix: pass --lab LAB_JSON or set {LAB_ENV} (`certchaos gameday` prints it)")
    try:
        return LabInfo.load(path)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise HarnessError(f"{path}: not a running lab's lab.json: {error}") from None


def _proxies(api: Toxiproxy) -> dict[str, dict]:
    return api.request("GET", "/proxies").json()


def _status(args: argparse.Namespace) -> int:
    api = Toxiproxy(lab_info(args.lab).toxiproxy_url)
    try:
        paths = [{"name": name, "up": bool(proxy.get("enabled")), "listen": proxy.get("listen"),
                  "upstream": proxy.get("upstream"), "toxics": [t.get("type", "?") for t in proxy.get("toxics") or []]}
                 for name, proxy in sorted(_proxies(api).items())]
    finally:
        api.close()
    if args.json:
        print(json.dumps(paths, indent=2))
        return 0
    for path in paths:
        state = "up" if path["up"] else "DOWN"
        print(f"{path['name']:<40} {state:<5} {path['listen']} -> {path['upstream']} "
              f"({', '.join(path['toxics']) or 'no toxics'})")
    return 0


def _switch(args: argparse.Namespace) -> int:
    api = Toxiproxy(lab_info(args.lab).toxiproxy_url)
    patterns = PATHS[args.path] if not args.namespace else (
        f"webhook-{args.namespace}" if args.path == "webhook" else f"acme-{args.namespace}",)
    try:
        names = [name for name in sorted(_proxies(api)) if any(fnmatch.fnmatchcase(name, p) for p in patterns)]
        if not names:
            raise HarnessError(f"no {args.path} path matches {', '.join(patterns)} (see `certchaos lab status`)")
        for name in names:
            api.request("PATCH", f"/proxies/{name}", {"enabled": args.state == "up"})
            print(f"{name}: {args.state}")
    finally:
        api.close()
    return 0
