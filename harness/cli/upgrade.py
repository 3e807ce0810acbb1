"""`certchaos upgrade-check`: a user's setup on cert-manager A, upgraded in place to B, checked (see
harness/upgrade/check.py for the phases). The setup is validated against A's CRDs before anything starts
or is built; missing pinned versions are built with progress (unless --no-build). Exit 0 only when the
upgrade kept every certificate and everything passed on B; 1 when a check failed; 2 for bad input or a
harness error (the report still says which phase failed)."""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from harness.cli import artifacts, kubernetes
from harness.errors import HarnessError
from harness.lab import providers
from harness.lab.providers.seam import ProviderOptions
from harness.upgrade import report, setup, versions
from harness.upgrade.check import UpgradeCheck
from harness.upgrade.rewrite import check_something_left, http01_issuers


def register(subparsers: argparse._SubParsersAction) -> None:
    command = subparsers.add_parser(
        "upgrade-check", help="pre-upgrade validation: your setup on cert-manager A, upgraded in place to B")
    command.add_argument("--from", dest="source", required=True, help="the version running today, e.g. v1.10.2")
    command.add_argument("--to", dest="target", required=True, help="the version to upgrade to, e.g. v1.11.5")
    command.add_argument("--setup", help="directory of your manifests (Issuers, ClusterIssuers, Certificates, Ingresses)")
    command.add_argument("--values", metavar="FILE",
                         help="kind: your Helm values for cert-manager's chart, after ours, for A's install and B's upgrade")
    # The check installs cert-manager A and upgrades it: only on a provider where certchaos installs it.
    command.add_argument("--provider", choices=providers.providers_with("installs_cert_manager"),
                         default=providers.DEFAULT)
    command.add_argument("--bin-dir-from", metavar="DIR", help="your build of the --from version (with crds/)")
    command.add_argument("--bin-dir-to", metavar="DIR", help="your build of the --to version (with crds/)")
    command.add_argument("-k", dest="keyword", help="only catalogue scenarios matching this pytest -k expression")
    command.add_argument("--no-catalogue", action="store_true", help="skip the scenario catalogue on A and B")
    command.add_argument("--report-dir", help="where the report goes (default: reports/upgrade-<UTC timestamp>/)")
    command.add_argument("--no-build", action="store_true", help="never build a pinned version; fail naming the command")
    command.add_argument("--build-only", action="store_true",
                         help="build both versions' binaries (with --provider kind: and images), then stop")
    artifacts.add_sources(command)
    kubernetes.add_options(command)
    command.set_defaults(handler=_upgrade_check)


def official_sides(args: argparse.Namespace) -> None:
    """A side without a bin dir takes its version's official chart and images when --chart-repo or
    --image-registry is given, or when certchaos cannot build that version: both checked (registry, chart
    repository, manifests) before anything is pulled, then pulled into bin dirs (--bin-dir-from/--bin-dir-to)."""
    wanted = bool(args.chart_repo or args.image_registry)
    plans = {}
    for version, option in ((args.source, "bin_dir_from"), (args.target, "bin_dir_to")):
        if getattr(args, option) is None and (wanted or version not in versions.known_versions()):
            plans[option] = artifacts.plan(version, args)
    for option, found in plans.items():
        setattr(args, option, str(artifacts.fetch(found)))

def _upgrade_check(args: argparse.Namespace) -> int:
    kubernetes.check_pairings(args, args.source, args.target)
    chosen = providers.validate(args.provider, ProviderOptions(values=args.values,
                                                               kubernetes=kubernetes.requested(args)))
    values = Path(args.values).expanduser().resolve() if args.values else None
    hint = versions.build_command(args.source, args.target, args.provider)
    official_sides(args)
    if args.build_only:
        for version, bin_dir in ((args.source, args.bin_dir_from), (args.target, args.bin_dir_to)):
            if bin_dir is None:
                versions.build(version, out=sys.stderr)
            if chosen.CAPABILITIES.images:
                versions.build_images(versions.locate(version, bin_dir, build_hint=hint), out=sys.stderr)
        return 0
    if not args.setup:
        raise HarnessError("--setup DIR is required: the directory of your cert-manager manifests "
                           "(examples/upgrade-setup is an example)")
    # Before anything starts or is built: the setup against the CRDs of the version it runs on today.
    objects = setup.load(args.setup)
    schemas = setup.Schemas.from_crds(args.source, versions.crd_documents(args.source, args.bin_dir_from))
    setup.validate(args.setup, objects, schemas)
    solving = [" ".join(filter(None, key)) for key in http01_issuers(objects)]
    solving_pods = bool(solving) and not chosen.CAPABILITIES.lacking("nodes", "images")
    if solving and not solving_pods:
        check_something_left(objects)  # HTTP-01 is left out here: something else must be left to check
    sides = []
    for version, bin_dir in ((args.source, args.bin_dir_from), (args.target, args.bin_dir_to)):
        if bin_dir is None and not args.no_build and version in versions.known_versions():
            versions.build(version, out=sys.stderr)
        sides.append(versions.locate(version, bin_dir, build_hint=hint))
    if solving_pods:  # solver pods will run: their image too
        for side in sides:
            versions.require_solver(side, f"the setup solves HTTP-01 ({', '.join(solving)})")
    if chosen.CAPABILITIES.images:
        # Each side's images (one `docker import` per binary, seconds) before anything starts.
        for side in sides:
            if args.no_build:
                versions.check_images(side, build_hint=hint)
            else:
                versions.build_images(side, out=sys.stderr)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report_dir = Path(args.report_dir or Path("reports") / f"upgrade-{stamp}").resolve()
    check = UpgradeCheck(sides[0], sides[1], Path(args.setup).resolve(), report_dir, keyword=args.keyword,
                         catalogue=not args.no_catalogue, provider=args.provider, values=values,
                         kubernetes=kubernetes.requested(args),
                         unsupported_allowed=args.allow_unsupported_kubernetes)
    passed = False
    try:
        passed = check.run(schemas, objects)
    except Exception as error:  # noqa: BLE001 - the phase recorded it; the report says which one failed
        if not any(phase.verdict == "failed" for phase in check.phases.values()):
            raise HarnessError(f"{error}\n(report: {report_dir / 'upgrade-report.md'})") from error
    finally:
        path = report.write(report_dir, report.build(check))
        print(path.read_text())
        print(f"certchaos upgrade-check: report in {path} and {path.with_suffix('.json')}")
    return 0 if passed else 1
