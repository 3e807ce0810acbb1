"""`certchaos mirror serve`: a local mirror of cert-manager's official artifacts (an OCI registry and a Helm chart
repository on loopback, harness/stack/mirror.py) holding images built here, until Ctrl-C: what --image-registry
and --chart-repo of `run` and `upgrade-check` point at, to try the path a user's CI takes without internet."""

from __future__ import annotations

import argparse

from harness.stack.mirror import Mirror
from harness.stack.service import wait_until_interrupted


def register(subparsers: argparse._SubParsersAction) -> None:
    command = subparsers.add_parser("mirror", help="a local registry and chart repository of cert-manager's artifacts")
    actions = command.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="serve the images built here and the charts, until Ctrl-C")
    serve.add_argument("--versions", nargs="+", default=["v1.11.5"], metavar="VERSION",
                       help="cert-manager versions to hold (their kind images must be built; default v1.11.5)")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    with Mirror(versions=tuple(args.versions)) as mirror:
        print(f"certchaos mirror: serving; use --image-registry {mirror.image_registry} --chart-repo "
              f"{mirror.chart_repo} (or --chart-repo {mirror.oci_chart_repo}); Ctrl-C stops it", flush=True)
        wait_until_interrupted(lambda: None, interval=2.0)
    return 0
