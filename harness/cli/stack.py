"""The stack's own subcommands: `binaries build`, `doctor`, `up`."""

from __future__ import annotations

import argparse
import json
import sys

from harness.cli import kubernetes
from harness.cli.clean import leftover_report
from harness.lab import providers
from harness.lab.providers.seam import ProviderOptions
from harness.stack import binaries, certmanager, versions


def register(subparsers: argparse._SubParsersAction) -> None:
    build = subparsers.add_parser("binaries", help="build the third-party binaries into the cache")
    build_sub = build.add_subparsers(dest="action", metavar="ACTION", required=True)
    build_cmd = build_sub.add_parser("build", help="build missing Go components (default: all)")
    build_cmd.add_argument("components", nargs="*", help="component names (see `certchaos doctor`)")
    build_cmd.add_argument("--force", action="store_true", help="rebuild even if cached")
    build_cmd.add_argument("--provider", choices=providers.NAMES, default=providers.DEFAULT,
                           help="also build the components only this provider needs (kind: node image, kind)")
    build_cmd.add_argument("--kubernetes", metavar="VERSION",
                           help=f"the Kubernetes components of this version (default "
                                f"{binaries.default_kubernetes()}; also {', '.join(binaries.kubernetes_versions()[1:])})")
    build_cmd.set_defaults(handler=_build)

    doctor = subparsers.add_parser(
        "doctor", help="list each component, its version, path and fix if missing",
        epilog='exit code: 0 every required component is present, 1 one is missing, 2 a bad --bin-dir. --json '
               'prints {"bin_dir", "components": [{"name", "version", "status" (cache, bin-dir, apt, ... when '
               'found; MISSING, optional, "<provider> only" when not), "version_from" (how the version was learnt: its flag, its Go build info, dpkg), "origin", "required", "path", "fix"}], '
               '"missing_required", "kind": {"engine", "running", "images": [{"image", "state", "fix"}]}, "leftovers": {"docker_checked", '
               '"items": [{"what", "name", "why", "removable", "fix"}]}} (earlier runs\' leftovers: `certchaos clean`)')
    doctor.add_argument("--bin-dir", help="directory of user-built binaries that take precedence")
    doctor.add_argument("--json", action="store_true", help="print JSON instead of the table (see below)")
    doctor.set_defaults(handler=_doctor)

    up = subparsers.add_parser("up", help="start the stack (local, or a kind cluster) and keep it running until Ctrl-C")
    # An existing cluster (kubeconfig) is up already: `up` starts what certchaos owns.
    up.add_argument("--provider", choices=providers.providers_with("owns_cluster"), default=providers.DEFAULT,
                    help="local processes on loopback (default), or a kind cluster with cert-manager's chart")
    up.add_argument("--values", metavar="FILE", help="kind: your Helm values for cert-manager's chart, after ours")
    up.add_argument("--worker-nodes", dest="workers", metavar="N", type=int, default=0,
                    help="kind: worker nodes beside the control plane (2 for the node-failure scenarios)")
    up.add_argument("--kubeconfig", help="also write the admin kubeconfig to this path")
    up.add_argument("--bin-dir", help="directory of user-built binaries that take precedence")
    up.add_argument("--run-dir", help="keep component logs and certs here (default: a temp dir, removed)")
    kubernetes.add_options(up)
    up.set_defaults(handler=_up)


def _build(args: argparse.Namespace) -> int:
    binaries.check_kubernetes(args.kubernetes)
    built = binaries.build(args.components or None, force=args.force, provider=args.provider,
                           kubernetes=args.kubernetes)
    for path in built:
        print(f"built {path}")
    if not built:
        print("all requested components are already built (use --force to rebuild)")
    # The CRDs come from the same cert-manager module: cache them now, so a stack starts without Go.
    print(f"cert-manager CRDs in {certmanager.crd_dir()}")
    return 0


def doctor_report(bin_dir_option: str | None) -> dict:
    """What `certchaos doctor` shows, as data: each component found (version, where from, path) or not (why it
    matters, the fix), and the kind provider's engine and images."""
    bin_dir = binaries.user_bin_dir(bin_dir_option)  # a bad bin dir is an error here, before any row
    components = []
    for name, component in binaries.load_components().items():
        required = not component.optional and component.provider is None
        try:
            resolved = binaries.resolve(name, bin_dir_option)
        except binaries.MissingBinary as error:
            status = "MISSING" if required else f"{component.provider} only" if component.provider else "optional"
            components.append({"name": name, "version": component.version, "status": status, "required": required,
                               "path": None, "fix": error.fix})
            continue
        said = versions.facts(resolved)  # what the binary says, not the pin
        components.append({"name": name, "version": said["version"], "status": resolved.source,
                           "version_from": said["version_from"], "origin": said["origin"],
                           "required": required, "path": str(resolved.path), "fix": None})
    return {"bin_dir": None if bin_dir is None else str(bin_dir), "components": components,
            "missing_required": sum(c["required"] and c["path"] is None for c in components), "kind": _doctor_kind(),
            "leftovers": leftover_report()}


def _doctor(args: argparse.Namespace) -> int:
    report = doctor_report(args.bin_dir)
    missing = report["missing_required"]
    if args.json:
        print(json.dumps(report, indent=2))
        return 1 if missing else 0
    if report["bin_dir"] is not None:
        print(f"bin dir {report['bin_dir']} (its binaries win over the cache)")
    rows = [(c["name"], c["version"], c["status"], c["path"] or f"fix: {c['fix']}") for c in report["components"]]
    width = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width[i]) for i, cell in enumerate(row[:3])), row[3])
    kind = report["kind"]
    print(f"kind provider: engine: {kind['engine']}")
    if kind["inotify"]:
        print(f"  {kind['inotify']}")
    for image in kind["images"]:
        fix = f"  fix: `{image['fix']}`" if image["fix"] else ""
        print(f"  {image['image']:<52} {image['state']}{fix}")
    left = report["leftovers"]["items"]
    print(f"leftovers of earlier runs: {len(left) or 'none'}" + ("" if report["leftovers"]["docker_checked"] else
                                                                 " (Docker not running: containers not checked)"))
    for item in left:
        print(f"  {item['what']:<9} {item['name']}  ({item['why']})" + (f"  fix: {item['fix']}" if item["fix"] else ""))
    if any(item["removable"] for item in left):
        print("  `certchaos clean` removes them")
    if missing:
        print(f"{missing} required component(s) missing", file=sys.stderr)
        return 1
    print("all required components present")
    return 0


def _doctor_kind() -> dict:
    """The kind provider's engine and images: informational (the local provider needs none of them)."""
    from harness.stack.kind.engine import DockerEngine, inotify_advice
    from harness.stack.kind.images import BUILD_COMMAND, Builder

    engine = DockerEngine()
    running = engine.info() is not None
    images = [] if not running else [
        {"image": what, "state": state, "fix": BUILD_COMMAND if state in ("missing", "stale") else None}
        for what, state in Builder(engine).status()]
    return {"engine": engine.describe(), "running": running, "images": images, "inotify": inotify_advice()}


def _up(args: argparse.Namespace) -> int:
    options = ProviderOptions(bin_dir=args.bin_dir, values=args.values, workers=args.workers,
                              kubernetes=kubernetes.requested(args))
    kubernetes.check_pairings(args, kubernetes.cert_manager_version(args.bin_dir))
    stack = providers.validate(args.provider, options).make_stack(options, args.run_dir)
    with stack:
        if args.kubeconfig:
            stack.write_kubeconfig(args.kubeconfig)
        for name, endpoint in stack.endpoints().items():
            print(f"{name:<24} {endpoint}")
        print(f"kubeconfig               {args.kubeconfig or stack.kubeconfig}")
        print("certchaos stack ready; Ctrl-C stops it", flush=True)
        stack.wait_until_interrupted()
    return 0
