"""`certchaos mutants list|build|run`: mutation testing of cert-manager against the scenario catalogue."""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

from harness.errors import HarnessError
from harness.mutants import build as mutant_build
from harness.mutants import catalogue, report, runner
from harness.mutants.build import BuildFailed
from harness.mutants.patch import PatchDoesNotApply


def register(subparsers: argparse._SubParsersAction) -> None:
    mutants = subparsers.add_parser("mutants", help="mutation testing: cert-manager variants vs the catalogue")
    actions = mutants.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="each mutant: name, behaviour, owning scenarios (-k), files")
    listing.set_defaults(handler=_list)
    build = actions.add_parser("build", help="build mutants into the cache (default: all; cached ones are kept)")
    build.add_argument("names", nargs="*", metavar="NAME", help="mutants to build (see `certchaos mutants list`)")
    build.add_argument("--force", action="store_true", help="rebuild even if cached")
    build.set_defaults(handler=_build)
    run = actions.add_parser("run", help="run each mutant against its owning scenarios; report the mutation score")
    run.add_argument("names", nargs="*", metavar="NAME", help="mutants to run (default: all)")
    run.add_argument("--all-scenarios", action="store_true", help="run the whole catalogue against each mutant")
    run.add_argument("--report-dir", help="where the report goes (default: reports/mutants-<UTC timestamp>/)")
    run.add_argument("--timeout", type=float, default=runner.RUN_TIMEOUT,
                     help=f"seconds one mutant's scenarios may take before it counts as timed out "
                          f"(default {runner.RUN_TIMEOUT})")
    run.add_argument("--workers", type=int, default=8, help="parallel scenarios per mutant (default 8)")
    run.set_defaults(handler=_run)


def _list(args: argparse.Namespace) -> int:
    for mutant in catalogue.load():
        cached = "built" if mutant_build.is_built(mutant) else "-"
        print(f"{mutant.name}\n    behaviour: {mutant.behaviour}\n    owner:     -k {mutant.owner!r}\n"
              f"    files:     {', '.join(mutant.files)}\n    rebuilds:  {', '.join(mutant.binaries)} ({cached})")
    return 0


def _build(args: argparse.Namespace) -> int:
    failed = 0
    for mutant in catalogue.select(catalogue.load(), args.names):
        try:
            built = mutant_build.build(mutant, force=args.force)
        except (PatchDoesNotApply, BuildFailed) as error:  # the others still build
            print(f"certchaos mutants build: {error}")
            failed += 1
            continue
        print(f"{mutant.name}: {'cached' if built.cached else f'built in {built.seconds:.0f}s'} -> {built.bin_dir}")
    return 1 if failed else 0


def _run(args: argparse.Namespace) -> int:
    if args.workers < 1 or args.timeout <= 0:
        raise HarnessError(f"--workers {args.workers} / --timeout {args.timeout}: give at least 1 and a positive time")
    mutants = catalogue.select(catalogue.load(), args.names)
    now = datetime.datetime.now(datetime.timezone.utc)
    folder = Path(args.report_dir or Path("reports") / f"mutants-{now.strftime('%Y%m%dT%H%M%SZ')}").resolve()
    source = f"cert-manager {mutant_build.source_version()}"
    started = time.monotonic()
    outcomes: list[runner.Outcome] = []
    try:
        for mutant in mutants:  # one at a time: builds and labs share two cores with everyone else
            outcome = runner.run_mutant(mutant, folder, all_scenarios=args.all_scenarios, workers=args.workers,
                                        timeout=args.timeout)
            print(f"mutant {mutant.name}: {outcome.status}"
                  f"{' by ' + ', '.join(outcome.killed_by) if outcome.killed_by else ''}", flush=True)
            outcomes.append(outcome)
    finally:  # also after Ctrl-C: the report of what finished
        markdown = report.write(folder, outcomes, started_at=now.isoformat(timespec="seconds"),
                                seconds=time.monotonic() - started, source=source)
        print(markdown)
        print(f"certchaos mutants run: report in {folder} (report.md, report.json, one run per mutant)")
    return 0
