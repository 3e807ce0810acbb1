"""`certchaos images build`: the kind provider's node and component images, rebuilt only when inputs changed."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.stack import binaries
from harness.stack.kind import images
from harness.stack.kind.engine import DockerEngine


def register(subparsers: argparse._SubParsersAction) -> None:
    command = subparsers.add_parser("images", help="build the kind provider's images (node, components)")
    actions = command.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="build what is missing or out of date (needs root and Docker)")
    build.add_argument("--force", action="store_true", help="rebuild every step even if up to date")
    build.add_argument("--compress", action="store_true",
                       help="gzip the node image's preloaded images (0.5 GB smaller, ~3 min slower to build)")
    build.add_argument("--bin-dir", metavar="DIR",
                       help="only the cert-manager images of DIR's version (chart/Chart.yaml appVersion), from its "
                            "binaries (another cert-manager than the lab's; no root needed)")
    build.add_argument("--kubernetes", metavar="VERSION",
                       help="the node image of this Kubernetes (default: the lab's; also those of "
                            "`certchaos binaries build --kubernetes VERSION`, whose binaries it needs)")
    build.set_defaults(handler=_build)


def _build(args: argparse.Namespace) -> int:
    if args.bin_dir:
        folder = Path(args.bin_dir).expanduser().resolve()
        version = images.bin_dir_version(folder, "--bin-dir")
        with DockerEngine() as engine:
            built = images.Builder(engine).build_cert_manager(version, folder)
        print(f"cert-manager {version} images ready: {', '.join(image.tag for image in built)}")
        return 0
    binaries.check_kubernetes(args.kubernetes)
    kubernetes = None if args.kubernetes == binaries.default_kubernetes() else args.kubernetes
    with DockerEngine() as engine:
        images.Builder(engine, force=args.force, compress=args.compress, kubernetes=kubernetes).build()
    print(f"kind node image {images.node_image(kubernetes)} ready")
    return 0
