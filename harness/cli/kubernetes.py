"""`--kubernetes VERSION` and `--allow-unsupported-kubernetes`, shared by the commands that start a lab (run, up,
upgrade-check; gameday and explore through labctl's lab options): which Kubernetes the lab runs (the default or a
pinned other: harness/stack/binaries.py), and, before anything starts, the refusal of a pairing cert-manager's
documentation does not support (harness/stack/support.py) unless the user overrides it."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import MissingBinary
from harness.stack import binaries, support


def add_options(parser: argparse.ArgumentParser) -> None:
    default, *others = binaries.kubernetes_versions()
    parser.add_argument("--kubernetes", metavar="VERSION",
                        help=f"the lab's Kubernetes (default {default}; also {', '.join(others) or 'none'}: "
                             f"`certchaos binaries build [--provider kind] --kubernetes VERSION`, and on kind "
                             f"`certchaos images build --kubernetes VERSION`); "
                             f"refused when cert-manager does not support it")
    parser.add_argument(support.OVERRIDE, dest="allow_unsupported_kubernetes", action="store_true",
                        help="run cert-manager on a Kubernetes its documentation does not support (refused "
                             "otherwise); every journal records the pairing as unsupported")


def requested(args: argparse.Namespace) -> str | None:
    """--kubernetes checked: None for the default (every provider runs it), else the other version asked for."""
    binaries.check_kubernetes(args.kubernetes)
    return None if args.kubernetes in (None, binaries.default_kubernetes()) else args.kubernetes


def cert_manager_version(bin_dir: str | None) -> str:
    """The version of the cert-manager controller a lab of `bin_dir` runs: an official bin dir's, else what the
    controller in the bin dir says (a user's build), else the default build's pin (nothing is run for it)."""
    from harness.stack import official, versions

    pinned = binaries.load_components()["cert-manager-controller"].version
    if not bin_dir:
        return pinned
    described = official.describe(Path(bin_dir).expanduser())
    if described is not None:
        return described["version"]
    try:
        resolved = binaries.resolve("cert-manager-controller", bin_dir)  # a bad bin dir is refused here
    except MissingBinary:
        return pinned  # the stack's start says what is missing
    return versions.reported(resolved).version if resolved.source == "bin-dir" else pinned


def check_pairings(args: argparse.Namespace, *cert_manager: str) -> None:
    """Each cert-manager version on the lab's Kubernetes: HarnessError (reason, fixes) for an unsupported
    one, unless --allow-unsupported-kubernetes."""
    binaries.check_kubernetes(args.kubernetes)  # one the lab builds, first
    kubernetes = args.kubernetes or binaries.default_kubernetes()
    for version in cert_manager:
        support.refuse_unsupported(version, kubernetes, binaries.kubernetes_versions(),
                                   allowed=args.allow_unsupported_kubernetes)
