"""`certchaos` command line: binaries, doctor, up, dns serve, run, report.

Each module of harness.cli registers its subcommands through `register(subparsers)`; this one only
assembles them and turns HarnessError into one clear line and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness.errors import HarnessError

# Modules that contribute subcommands, each with register(subparsers).
COMMAND_MODULES = (
    "harness.cli.stack",
    "harness.cli.dns",
    "harness.cli.run",
    "harness.cli.report",
    "harness.cli.mutants",
    "harness.cli.alerts",
    "harness.cli.images",
    "harness.cli.gameday",
    "harness.cli.labctl",
    "harness.cli.upgrade",
)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="certchaos",
        description="Chaos and conformance harness for cert-manager certificate automation.",
    )
    subparsers = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except HarnessError as error:
        print(f"certchaos {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
