"""`certchaos coverage build|run|report`: which statements of cert-manager the scenario catalogue executes."""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
from pathlib import Path

from harness.cli.run import DEFAULT_WORKERS
from harness.errors import HarnessError
from harness.mutants import attribution, coverage
from harness.mutants.runner import collect

COUNTERS = "counters"  # the report dir's GOCOVERDIR: each process's snapshots, kept for the attribution
MERGED = "merged"  # the counters merged, one file per binary
RUN = "run"  # the catalogue run's own report (summary.md, journals, lab/ logs, run.log)


def register(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser("coverage", help="statement coverage of cert-manager by the scenario catalogue")
    actions = top.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="build the controller, webhook and cainjector with coverage "
                                             "instrumentation into the cache (a --bin-dir)")
    build.add_argument("--force", action="store_true", help="rebuild even if cached")
    build.set_defaults(handler=_build)
    run = actions.add_parser("run", help="run the catalogue on the instrumented build; write coverage.md and "
                                         "coverage.json")
    run.add_argument("-k", dest="keyword", help="only scenarios matching this pytest -k expression")
    run.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                     help=f"parallel scenarios (default {DEFAULT_WORKERS}, as `certchaos run`)")
    run.add_argument("--report-dir", help="where the report goes (default: reports/coverage-<UTC timestamp>/)")
    run.add_argument("--timeout", type=float, default=coverage.RUN_TIMEOUT,
                     help=f"seconds the catalogue may take before it is stopped (default {coverage.RUN_TIMEOUT})")
    run.set_defaults(handler=_run)
    report = actions.add_parser("report", help="read a coverage run's counters again and rewrite its report")
    report.add_argument("report_dir", metavar="DIR", help="a `certchaos coverage run` report dir")
    report.set_defaults(handler=_report)
    merge = actions.add_parser("merge", help="one report of several coverage runs (the catalogue, then scenarios "
                                             "added or changed since), as if they were one run")
    merge.add_argument("report_dirs", nargs="+", metavar="DIR", help="`certchaos coverage run` report dirs")
    merge.add_argument("--into", required=True, metavar="DIR", help="the merged report's dir (new or empty)")
    merge.set_defaults(handler=_merge)


def _build(args: argparse.Namespace) -> int:
    built = coverage.build(force=args.force)  # says cached or built, and where
    print(f"  use: GOCOVERDIR=<dir> certchaos run --bin-dir {built.bin_dir}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.workers < 1 or args.timeout <= 0:
        raise HarnessError(f"--workers {args.workers} / --timeout {args.timeout}: give at least 1 and a positive time")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(args.report_dir or Path("reports") / f"coverage-{stamp}").resolve()
    selected = collect(args.keyword)  # before a build or a lab: a -k that selects nothing is bad input
    if not selected:
        raise HarnessError(f"-k {args.keyword!r} selects no scenario. Fix: words of the scenarios' names, as for "
                           f"`certchaos run -k`")
    built = coverage.build()
    print(f"certchaos coverage run: {len(selected)} scenarios on {built.bin_dir}; the run's report and run.log in "
          f"{folder / RUN}", flush=True)
    returncode, seconds = coverage.run_catalogue(built.bin_dir, folder / COUNTERS, folder / RUN,
                                                 keyword=args.keyword, workers=args.workers, timeout=args.timeout)
    counters = folder / COUNTERS
    run = {"keyword": args.keyword, "scenarios": len(selected), "exit": returncode, "seconds": round(seconds, 1),
           "build_seconds": round(built.seconds, 1), "build_cached": built.cached, "bin_dir": str(built.bin_dir),
           "processes": coverage.processes(counters), "snapshots": len(coverage.counter_files(counters))}
    (folder / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    _write(folder, run)
    if returncode is None:
        raise HarnessError(f"the catalogue did not finish within {args.timeout:g} s and was stopped; coverage above "
                           f"is of what ran. Fix: a longer --timeout, or -k a subset")
    return 0 if returncode == 0 else 1 if returncode == 1 else 2


def _write(folder: Path, run: dict) -> None:
    """coverage.md/json and cov.txt from the merged counters (merged now unless done), scenarios.json from the
    snapshots and the run's journals."""
    go = coverage.require_go()
    counters, merged = folder / COUNTERS, folder / MERGED
    if not merged.is_dir() and coverage.counter_files(counters):
        coverage.merge(go, counters, merged)
    print(coverage.write(coverage.analyse(go, merged if merged.is_dir() else counters, folder, run), folder))
    if coverage.process_dirs(counters):
        measured = attribution.measure(go, counters, folder / RUN, folder)
        attribution.write(measured, folder)
        print(attribution.summary(measured))
    else:
        print(f"certchaos coverage: no per-process snapshots in {counters} (a run from before them): no "
              f"{attribution.SCENARIOS_JSON}, so `mutants sample --coverage` runs each executed mutant against the "
              f"whole catalogue. Fix: `certchaos coverage run` again")
    print(f"certchaos coverage: report in {folder} (coverage.md, coverage.json, cov.txt: the textfmt profile, "
          f"{attribution.SCENARIOS_JSON}: the scenarios each block ran beside)")


def _report(args: argparse.Namespace) -> int:
    folder = Path(args.report_dir).resolve()
    saved = folder / "run.json"
    if not saved.is_file():
        raise HarnessError(f"{folder} is not a coverage run's report dir (no run.json). Fix: give the --report-dir of "
                           f"`certchaos coverage run`")
    _write(folder, json.loads(saved.read_text()))
    return 0


def _merge(args: argparse.Namespace) -> int:
    """Counters and journals of each run copied side by side: processes and snapshots are named by start, pid
    and time, so none collide; a scenario in two runs keeps both journals (its spans in either attribute)."""
    into = Path(args.into).resolve()
    if into.exists() and any(into.iterdir()):
        raise HarnessError(f"--into {into}: not empty. Fix: give a new directory")
    runs = []
    for index, given in enumerate(args.report_dirs):
        folder = Path(given).resolve()
        if not (folder / "run.json").is_file() or not (folder / COUNTERS).is_dir():
            raise HarnessError(f"{folder} is not a coverage run's report dir (no run.json or {COUNTERS}/). Fix: give "
                               f"--report-dir values of `certchaos coverage run`")
        runs.append({**json.loads((folder / "run.json").read_text()), "report_dir": str(folder)})
        shutil.copytree(folder / COUNTERS, into / COUNTERS, dirs_exist_ok=True)
        for journal in sorted((folder / RUN).glob("*/journal.json")):
            target = into / RUN / f"{journal.parent.name}.{index}"
            target.mkdir(parents=True)
            shutil.copy2(journal, target / "journal.json")
    run = {"merged": runs, "keyword": None, "scenarios": sum(r["scenarios"] for r in runs),
           "exit": max(r["exit"] for r in runs), "seconds": sum(r["seconds"] for r in runs),
           "build_seconds": runs[0]["build_seconds"], "build_cached": all(r["build_cached"] for r in runs),
           "processes": sum(r["processes"] for r in runs), "snapshots": sum(r["snapshots"] for r in runs)}
    (into / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    _write(into, run)
    return 0

