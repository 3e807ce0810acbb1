"""The options that take cert-manager's official artifacts (harness/stack/official.py), shared by `run`,
`upgrade-check` and `mirror`: where the chart and the images come from, checked before a lab starts, then
pulled into a bin dir that everything downstream takes like a user's --bin-dir."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.stack import official


def add_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chart-repo", metavar="URL",
                        help=f"the Helm repository (or oci://...) cert-manager's chart comes from (default "
                             f"{official.DEFAULT_CHART_REPO}; a mirror for an air-gapped CI)")
    parser.add_argument("--image-registry", metavar="HOST",
                        help=f"the registry or mirror cert-manager's images come from, HOST[:PORT][/PREFIX], "
                             f"http:// for a plain-HTTP one (default {official.DEFAULT_REGISTRY}); images are "
                             f"HOST/[PREFIX/]jetstack/cert-manager-<name>:<version>")


def request(version: str, args: argparse.Namespace) -> official.Request:
    return official.Request(version, chart_repo=args.chart_repo or official.DEFAULT_CHART_REPO,
                            image_registry=args.image_registry or official.DEFAULT_REGISTRY)


def plan(version: str, args: argparse.Namespace) -> official.Plan:
    """The request checked against the registry and the chart repository (HarnessError: exit 2)."""
    return official.plan(request(version, args))


def fetch(found: official.Plan) -> Path:
    return official.fetch(found, out=sys.stderr)


def refuse_without_version(args: argparse.Namespace, version_option: str) -> None:
    """--chart-repo / --image-registry say where a version comes from: without one they would be ignored."""
    given = [option for option, value in (("--chart-repo", args.chart_repo), ("--image-registry", args.image_registry))
             if value]
    if given:
        raise HarnessError(f"{' and '.join(given)}: where cert-manager's official artifacts come from, but no "
                           f"version was asked for. Fix: add {version_option}, or drop {' and '.join(given)}")
