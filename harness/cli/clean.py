"""`certchaos clean`: remove what earlier runs left behind (harness.stack.leftovers), never what a live run
uses; `certchaos doctor` lists the same (leftover_report)."""

from __future__ import annotations

import argparse
import json
import sys

from harness.stack import binaries, leftovers


def register(subparsers: argparse._SubParsersAction) -> None:
    clean = subparsers.add_parser(
        "clean", help="remove what earlier runs left behind (run dirs, processes, kind clusters, containers, "
                      "the kind network, the dockerd certchaos started); never what a live run uses",
        epilog="exit code: 0 nothing is left (or --dry-run), 1 a leftover could not be removed or is kept "
               "(the line says why and what to do), 2 a harness error. --json prints "
               '[{"what", "name", "why", "removable", "fix", "removed", "error"}].')
    clean.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    clean.add_argument("--json", action="store_true", help="print JSON instead of lines (see below)")
    clean.set_defaults(handler=_clean)


def _docker():
    """The docker CLI as leftovers wants it (check=False), or None when no Docker engine answers: clean
    never starts one (with no engine running, no container runs either)."""
    from harness.stack.kind.engine import DockerEngine

    engine = DockerEngine()
    if engine.info() is None:
        return None
    return lambda *args: engine.docker(*args, check=False, timeout=300)


def leftover_report() -> dict:
    """What doctor shows of leftovers: each one, and whether Docker was looked at."""
    docker = _docker()
    return {"docker_checked": docker is not None, "items": [item.as_dict() for item in leftovers.find(docker)]}


def _kind_binary():
    try:
        return binaries.binary("kind")
    except binaries.MissingBinary:
        return None  # leftovers.remove falls back to removing the nodes with docker


def _clean(args: argparse.Namespace) -> int:
    docker = _docker()
    found = leftovers.find(docker)
    results = []
    for item in found:
        result = {**item.as_dict(), "removed": False, "error": None}
        if not item.removable:
            result["error"] = f"kept: {item.why}"
        elif not args.dry_run:
            try:
                leftovers.remove(item, docker, _kind_binary())
                result["removed"] = True
            except (OSError, RuntimeError, ValueError) as error:
                result["error"] = str(error)
        results.append(result)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        if docker is None:
            print("Docker is not running: no container to look at")
        for result in results:
            state = "would remove" if args.dry_run and result["removable"] else \
                "removed" if result["removed"] else "KEPT" if not result["removable"] else "FAILED"
            print(f"{state:<12} {result['what']:<9} {result['name']}  ({result['why']})")
            if result["error"] and result["removable"]:
                print(f"{'':<12} {result['error']}")
            if result["fix"]:
                print(f"{'':<12} fix: {result['fix']}")
        if not results:
            print("nothing left over from earlier runs")
    failed = [r for r in results if not r["removed"] and (r["error"] or not args.dry_run)]
    if failed and not args.dry_run:
        print(f"certchaos clean: {len(failed)} leftover(s) not removed (see above)", file=sys.stderr)
        return 1
    return 0
