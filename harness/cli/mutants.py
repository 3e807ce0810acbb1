"""`certchaos mutants list|build|run|sample`: mutation testing of cert-manager against the scenario catalogue."""

from __future__ import annotations

import argparse
import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

from harness.cli import order
from harness.cli.run import DEFAULT_WORKERS
from harness.errors import HarnessError
from harness.lab import providers
from harness.mutants import attribution, catalogue, generate, report, runner
from harness.mutants import build as mutant_build
from harness.mutants import sample as sampling
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
    _run_options(run)
    run.set_defaults(handler=_run)
    sample = actions.add_parser("sample", help="a seeded random sample of generated mutants (standard operators "
                                               "over the pinned source), run against the whole catalogue or, with "
                                               "--coverage, the scenarios that ran beside their lines")
    sample.add_argument("--seed", type=int, required=True, help="the same seed and source give the same sample")
    sample.add_argument("--count", type=int, required=True, help="how many generated mutants to draw")
    sample.add_argument("--packages", nargs="+", choices=list(generate.PACKAGES), metavar="PACKAGE",
                        help=f"draw from these packages only (default: all of {', '.join(generate.PACKAGES)})")
    sample.add_argument("--dry-run", action="store_true", help="list the sample and check each applies; build nothing")
    sample.add_argument("--coverage", type=Path, metavar="DIR",
                        help="a `certchaos coverage run` report directory: mutants of lines the catalogue never "
                             "executed survive as not-executed, without being built or run; the others run only "
                             "against the scenarios its scenarios.json attributes their lines to")
    sample.add_argument("--resume", type=Path, metavar="DIR",
                        help="an earlier run of this sample (its --report-dir): its kills whose killers the "
                             "catalogue still has, and its other verdicts whose scenarios are the same now, are kept, "
                             "not run again")
    sample.add_argument("--classes", type=Path, default=sampling.SURVIVORS,
                        help=f"hand classifications of survivors (default {sampling.SURVIVORS})")
    _run_options(sample)
    sample.set_defaults(handler=_sample)


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report-dir", help="where the report goes (default: reports/mutants-<UTC timestamp>/)")
    parser.add_argument("--timeout", type=float, default=runner.RUN_TIMEOUT,
                        help=f"seconds one mutant's scenarios may take before it counts as timed out "
                             f"(default {runner.RUN_TIMEOUT})")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help=f"parallel scenarios per mutant (default {DEFAULT_WORKERS}, as `certchaos run`: more on "
                             f"two cores would load the lab past the timings its verdicts allow)")
    parser.add_argument("--parallel", type=int, default=1, metavar="N",
                        help="mutants run at once, each with its own lab (default 1; with 2, give each --workers 2 "
                             "to keep the load of one catalogue run)")
    parser.add_argument("--min-score", type=float, default=0.0, metavar="PERCENT",
                        help="exit 1 when the mutation score is below this percentage (default 0: no threshold)")


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


def _check_run_options(args: argparse.Namespace) -> None:
    if args.workers < 1 or args.parallel < 1 or args.timeout <= 0:
        raise HarnessError(f"--workers {args.workers} / --parallel {args.parallel} / --timeout {args.timeout}: give "
                           f"at least 1 and a positive time")
    if not 0 <= args.min_score <= 100:
        raise HarnessError(f"--min-score {args.min_score}: give a percentage from 0 to 100")


def below(result: report.Score, min_score: float) -> bool:
    """Whether the score misses the threshold; with no score (nothing built) any threshold is missed."""
    if min_score <= 0:
        return False
    return result.value is None or result.value * 100 < min_score


def _run(args: argparse.Namespace) -> int:
    _check_run_options(args)
    mutants = catalogue.select(catalogue.load(), args.names)
    return _run_mutants(mutants, args, command="run")


def _sample(args: argparse.Namespace) -> int:
    _check_run_options(args)
    source = mutant_build.pinned_source()
    profile = (sampling.load_coverage(args.coverage.resolve(), f"{mutant_build.MODULE}@{mutant_build.source_version()}")
               if args.coverage else None)
    scenario_map = attribution.ScenarioMap.load(args.coverage.resolve()) if args.coverage else None
    candidates = generate.generate(source, args.packages)
    classes = sampling.load_classes(args.classes, known={c.mutant.name for c in candidates})
    equivalent = frozenset(name for name, known in classes.items() if known.kind == "equivalent")
    drawn = sampling.draw(candidates, args.seed, args.count, equivalent)
    # Not run: what coverage shows no scenario executes, and what a person showed none reaches (a line a coverage
    # block shares with code that ran: a short-circuited operand, a feature gate that is off).
    not_executed = {c.mutant.name: f"the coverage run in {args.coverage} executed no statement of {c.where}"
                    for c in drawn if profile and c.mutant.name not in equivalent
                    and sampling.unexecuted(c, profile, source)}
    not_executed |= {name: f"by hand: {classes[name].why}" for c in drawn
                     if (name := c.mutant.name) in classes and classes[name].kind == "not-executed"}
    collected = runner.collect(None)
    owners: dict[str, list[str]] = {}  # name -> the scenarios it runs against; absent: the whole catalogue
    if scenario_map is not None:
        for index, candidate in enumerate(drawn):
            if candidate.mutant.name not in not_executed.keys() | equivalent:
                drawn[index], found = sampling.owned(candidate, scenario_map, set(collected), source)
                if found:
                    owners[candidate.mutant.name] = found
    # A mutant's `certchaos run` gets no --provider: the default's measured durations.
    seconds = order.measured_seconds(providers.DEFAULT)
    whole = sampling.estimate(collected, seconds, args.workers)
    print(f"certchaos mutants sample: seed {args.seed}, {len(drawn)} of {len(candidates)} generated mutants "
          f"({', '.join(args.packages or generate.PACKAGES)})"
          + ("" if scenario_map or not args.coverage else f"; {args.coverage} has no {attribution.SCENARIOS_JSON} "
             f"(an older coverage run): each executed mutant runs against the whole catalogue"))
    failures, planned = 0, 0.0
    for candidate in drawn:
        name = candidate.mutant.name
        problem = sampling.check_applies(candidate, source) if args.dry_run else None
        failures += problem is not None
        if name in equivalent:
            runs = f"equivalent: not run, not scored ({classes[name].why})"
        elif name in not_executed:
            runs = "not executed by the catalogue: not run"
        else:
            scenarios = owners.get(name, collected)
            planned += (seconds_each := sampling.estimate(scenarios, seconds, args.workers))
            runs = (f"runs {len(scenarios)} of {len(collected)} scenarios" if name in owners else
                    "runs the whole catalogue" + (" (no scenario of the catalogue is attributed its lines)"
                                                  if scenario_map else ""))
            runs += f", ~{seconds_each / 60:.0f} min" if seconds else ""
        print(f"{name}  {candidate.where}  {candidate.operator}  {runs}"
              f"{'  DOES NOT APPLY: ' + problem if problem else ''}")
        print("\n".join(f"    - {line}" for line in candidate.original.strip("\n").splitlines()))
        print("\n".join(f"    + {line}" for line in candidate.mutated.strip("\n").splitlines()))
    if seconds:
        print(f"certchaos mutants sample: estimated {planned / 3600:.1f} h of scenario runs with --workers "
              f"{args.workers} ({len(not_executed)} not run, {len(owners)} against the scenarios their lines ran "
              f"beside), against {len(drawn) * whole / 3600:.1f} h for the whole catalogue each (~{whole / 60:.0f} "
              f"min); from {order.DURATIONS.name} [{providers.DEFAULT}], builds and lab starts not included")
    if args.dry_run:
        print(f"certchaos mutants sample: {len(drawn) - failures} of {len(drawn)} apply exactly once (dry run: "
              f"nothing built)")
        return 1 if failures else 0
    owned = (f"the scenarios the coverage run attributed each mutant's lines to ({len(owners)}; the others the whole "
             f"catalogue)" if scenario_map else "the whole catalogue")
    shown = [c.mutant.name for c in drawn if c.mutant.name in equivalent]
    header = {"seed": args.seed, "count": len(drawn) - len(shown), "equivalent drawn": len(shown),
              "generated": len(candidates),
              "packages": list(args.packages or generate.PACKAGES),
              "owners": (f"{owned}; not run: the {len(not_executed)} whose lines the coverage run in {args.coverage} "
                         f"never executed" if profile else "the whole catalogue (no coverage data)")}
    settled = {name: runner.Outcome(c.mutant, runner.SURVIVED, detail=f"not built or run: {not_executed[name]}")
               for c in drawn if (name := c.mutant.name) in not_executed}
    settled |= {name: runner.Outcome(c.mutant, runner.EQUIVALENT, detail=f"not built or run: {classes[name]}")
                for c in drawn if (name := c.mutant.name) in equivalent}
    if args.resume:
        runs_against = {c.mutant.name: runner.collect(c.mutant.owner) if c.mutant.owner else collected
                        for c in drawn if c.mutant.name not in settled}
        for name, outcome in sampling.resumed(args.resume.resolve(), drawn, runs_against, set(collected)).items():
            settled.setdefault(name, outcome)
        header["resumed from"] = str(args.resume.resolve())
    return _run_mutants([c.mutant for c in drawn], args, command="sample", sample=header, settled=settled,
                        survivor_notes=lambda names: sampling.survivor_notes(names, classes, args.classes,
                                                                             not_executed))


def _run_mutants(mutants: list[catalogue.Mutant], args: argparse.Namespace, *, command: str,
                 sample: dict | None = None, settled: dict[str, runner.Outcome] | None = None,
                 survivor_notes: Callable[[list[str]], dict[str, str]] | None = None) -> int:
    """Build and run each mutant, write the report (also after Ctrl-C); 1 when the score is below --min-score.
    `settled`: outcomes decided without a run, by mutant name."""
    now = datetime.datetime.now(datetime.timezone.utc)
    folder = Path(args.report_dir or Path("reports") / f"mutants-{now.strftime('%Y%m%dT%H%M%SZ')}").resolve()
    source = f"cert-manager {mutant_build.source_version()}"
    started = time.monotonic()
    finished: dict[int, runner.Outcome] = {}
    stop = threading.Event()  # Ctrl-C: the runs under way stop (their labs torn down), the others never start

    def one(mutant: catalogue.Mutant) -> runner.Outcome | None:
        if stop.is_set():
            return None
        return runner.run_mutant(mutant, folder, all_scenarios=getattr(args, "all_scenarios", False),
                                 workers=args.workers, timeout=args.timeout, stop=stop)

    def done(index: int, outcome: runner.Outcome) -> None:
        finished[index] = outcome
        print(f"mutant {outcome.mutant.name}: {outcome.status}"
              f"{' by ' + ', '.join(outcome.killed_by) if outcome.killed_by else ''}", flush=True)

    # --parallel 1 (the default): one at a time, as builds and labs share two cores with everyone else.
    pool = ThreadPoolExecutor(args.parallel, thread_name_prefix="mutant")
    try:
        for index, mutant in enumerate(mutants):  # decided without a run: in the report even if the runs are cut
            if mutant.name in (settled or {}):
                done(index, settled[mutant.name])
        futures = {pool.submit(one, mutant): index for index, mutant in enumerate(mutants) if index not in finished}
        for future in as_completed(futures):
            if (outcome := future.result()) is not None:
                done(futures[future], outcome)
    finally:  # also after Ctrl-C: the report of what finished
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        outcomes = [finished[index] for index in sorted(finished)]
        # A timed-out mutant survived as long as it ran: a person's classification says what it is.
        survivors = [o.mutant.name for o in outcomes if o.status in (runner.SURVIVED, runner.TIMED_OUT)]
        notes = survivor_notes(survivors) if survivor_notes else None
        markdown = report.write(folder, outcomes, started_at=now.isoformat(timespec="seconds"),
                                seconds=time.monotonic() - started, source=source, sample=sample, notes=notes)
        print(markdown)
        print(f"certchaos mutants {command}: report in {folder} (report.md, report.json, one run per mutant)")
    result = report.score(outcomes)
    if below(result, args.min_score):
        print(f"certchaos mutants {command}: score {result} is below --min-score {args.min_score:g} %")
        return 1
    return 0
