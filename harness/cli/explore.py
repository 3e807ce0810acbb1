"""`certchaos explore`: Hypothesis draws fault schedules (create, change and renew Certificates, inject and
revert the catalogue's faults, wait) against one live lab, checks the lifecycle invariants after every step and
liveness at the end, and shrinks a failure to the smallest schedule, written out as a replayable scenario.

Input is checked before the lab starts. Budget: --budget (wall clock, checked between steps) and --max-steps
per schedule; a failure's shrinking gets --shrink-budget more. Hypothesis's database of failing schedules is kept
in --database (default $CERTCHAOS_CACHE/explore-db, i.e. ~/.cache/certchaos/explore-db) and replayed first on
the next run. Writes to --report-dir: a journal per example (examples/NNN/journal.json), explore.json,
summary.md and report.html (schedules, fault pairs covered, the timelines), and test_explored_<hash>.py for the
smallest failing schedule. Exit code 0 when no schedule failed, 1 when one did, 2 for bad input or a harness
error, 130 / 143 after Ctrl-C / SIGTERM (faults reverted, namespaces and the lab removed, report written).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import secrets
import shlex
import sys
import time
from pathlib import Path

from harness.chaos.scenario import resolve_time_scale
from harness.cli import kubernetes
from harness.cli.labctl import add_lab_arguments, attached_lab
from harness.errors import HarnessError, Terminated
from harness.explore import report
from harness.explore.faults import EXPLORABLE, chosen
from harness.explore.replay import write_scenario
from harness.lab import providers
from harness.lab.lab import Lab, LabClient
from harness.lab.providers.seam import ProviderOptions
from harness.report.html import write_report_html
from harness.report.secrets import scan_for_secrets
from harness.report.summary import write_summary
from harness.stack import binaries
from harness.stack.service import sigint_ignored

DEFAULT_BUDGET = "20m"
DEFAULT_SHRINK_BUDGET = "15m"  # a few replays of a shrunk schedule, minutes each
DEFAULT_MAX_STEPS = 8  # a schedule of 8 steps lasts 3 to 8 minutes on the lab: several fit a 20 min budget
_UNITS = {"h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration(text: str) -> float:
    """'20m', '90s', '1h30m', '45' (seconds) -> seconds; one clear error otherwise."""
    match = _DURATION.match(text.strip()) if text else None
    if not match or not any(match.groups()):
        raise HarnessError(f"duration {text!r}: give e.g. 20m, 90s, 1h30m or seconds")
    seconds = sum(float(value) * unit for value, unit in zip(match.groups(), _UNITS.values()) if value)
    if seconds <= 0:
        raise HarnessError(f"duration {text!r} must be positive")
    return seconds


def register(subparsers: argparse._SubParsersAction) -> None:
    explore = subparsers.add_parser("explore", help="Hypothesis-drawn fault schedules on one lab, shrunk to a "
                                                    "replayable scenario", description=__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    explore.add_argument("--budget", default=DEFAULT_BUDGET, metavar="DURATION",
                         help=f"wall-clock budget, e.g. 20m, 90s (default {DEFAULT_BUDGET})")
    explore.add_argument("--shrink-budget", default=DEFAULT_SHRINK_BUDGET, metavar="DURATION",
                         help=f"more time to shrink a failure once found (default {DEFAULT_SHRINK_BUDGET})")
    explore.add_argument("--no-shrink", action="store_true", help="write out the first failing schedule as found")
    explore.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS, metavar="N",
                         help=f"steps per schedule (default {DEFAULT_MAX_STEPS})")
    explore.add_argument("--seed", type=int, help="Hypothesis's seed (default: a fresh one, printed)")
    explore.add_argument("--faults", metavar="A,B", help=f"explore only these faults (default all: "
                                                         f"{', '.join(EXPLORABLE)})")
    explore.add_argument("--database", metavar="DIR", help="Hypothesis's example database (default "
                                                            "$CERTCHAOS_CACHE/explore-db)")
    explore.add_argument("--report-dir", help="where the report goes (default: reports/explore-<UTC timestamp>/)")
    add_lab_arguments(explore, "every explored fault")
    explore.add_argument("--json", action="store_true", help="print explore.json (the schema certchaos.explore/v1) "
                                                             "instead of the text summary")
    explore.set_defaults(handler=_explore)


def _checked(args: argparse.Namespace) -> dict:
    """Every option, checked before anything starts."""
    if args.max_steps < 1:
        raise HarnessError(f"--max-steps {args.max_steps}: give at least 1")
    binaries.user_bin_dir(args.bin_dir)
    _, attached = attached_lab(args, "every explored fault")
    if attached is None:  # the provider's own checks, before its lab starts
        providers.validate(args.provider, ProviderOptions(bin_dir=args.bin_dir))
    return {"budget": parse_duration(args.budget), "shrink": parse_duration(args.shrink_budget),
            "time_scale": resolve_time_scale(args.time_scale), "faults": chosen(args.faults),
            "attached": attached}


def _explore(args: argparse.Namespace) -> int:
    # Hypothesis is imported here, not for every `certchaos` command (a bad option answers at once).
    from hypothesis.configuration import set_hypothesis_home_dir

    from harness.explore.machine import Budget
    from harness.explore.runner import Explorer

    checked = _checked(args)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report_dir = Path(args.report_dir or Path("reports") / f"explore-{stamp}").resolve()
    database = Path(args.database or binaries.cache_dir() / "explore-db").resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    set_hypothesis_home_dir(str(database.parent / "hypothesis"))  # its own caches there, not in the working dir
    out = sys.stderr if args.json else sys.stdout  # with --json, stdout is explore.json alone
    say = lambda text: print(text, file=out, flush=True)  # noqa: E731 - progress, as it happens
    command = "certchaos explore " + shlex.join(sys.argv[2:] if sys.argv[1:2] == ["explore"] else [])
    if "--seed" not in command:
        command += f" --seed {seed}"
    say(f"certchaos explore: seed {seed}, budget {checked['budget']:.0f}s, report {report_dir}")
    lab = client = explorer = None
    interrupted: BaseException | None = None
    began = time.monotonic()
    try:
        if checked["attached"] is not None:
            info = checked["attached"]
        else:
            say("starting the lab ...")
            # Assigned before it starts: an interrupt while it starts is cleaned up below, a second Ctrl-C ignored.
            lab = Lab(bin_dir=args.bin_dir, provider=args.provider, logs_to=report_dir / "lab",
                      kubernetes=kubernetes.requested(args))
            lab.start()
            info = lab.info
        client = LabClient(info)
        faults = chosen(",".join(checked["faults"]), info.capabilities, acme_layer=bool(info.acme_layer_url))
        explorer = Explorer(client, report_dir, faults, Budget(checked["budget"], checked["shrink"]), seed,
                            max_steps=args.max_steps, database=database, shrink=not args.no_shrink,
                            time_scale=checked["time_scale"], say=say)
        explorer.run()
    except KeyboardInterrupt as interrupt:  # also SIGTERM (harness.errors.Terminated)
        interrupted = interrupt
        if explorer is not None:
            explorer.ended = "interrupted (SIGTERM)" if isinstance(interrupt, Terminated) else "interrupted (Ctrl-C)"
        say("certchaos explore: interrupted; faults reverted, cleaning up")
    finally:
        with sigint_ignored():
            for part in (client, lab):
                if part is not None:
                    try:
                        (part.close if part is client else part.stop)()
                    except Exception as error:  # noqa: BLE001 - the other still stops; said once
                        print(f"certchaos explore: cleanup: {type(error).__name__}: {error}", file=sys.stderr)
    if explorer is None:
        if interrupted is not None:
            raise interrupted
        return 2
    facts = _write_report(explorer, report_dir, command)
    leaked = scan_for_secrets(report_dir, lab.tsig_secrets() if lab is not None else {})
    if args.json:
        print(json.dumps(facts, indent=1))
    else:
        say(_summary(facts, report_dir, time.monotonic() - began))
    if leaked:
        print(f"certchaos explore: NOT SAFE TO PUBLISH: {report_dir} holds secrets:\n  " + "\n  ".join(leaked),
              file=sys.stderr)
        return 2
    if interrupted is not None:
        raise interrupted
    if explorer.failures:
        return 1
    return 2 if explorer.error is not None else 0


def _write_report(explorer, report_dir: Path, command: str) -> dict:
    smallest = explorer.smallest_failure()
    replay = None
    if smallest is not None:
        replay = write_scenario(report_dir, smallest.ran, seed=explorer.seed, error=smallest.error or "",
                                journal=smallest.journal.relative_to(report_dir), command=command)
    facts = report.explore_facts(explorer, replay, command)
    (report_dir / "explore.json").write_text(json.dumps(facts, indent=1) + "\n")
    write_summary(report_dir, preface=report.markdown(facts))
    write_report_html(report_dir, preface=report.html(facts))
    return facts


def _summary(facts: dict, report_dir: Path, took: float) -> str:
    cover = facts["coverage"]
    lines = [f"certchaos explore: {len(facts['examples'])} schedules, {facts['failures']} failing; ended: "
             f"{facts['ended']} ({took:.0f}s)",
             f"  fault pairs applied together: {len(cover['pairs_covered'])} of {cover['pairs_possible']}"]
    for example in facts["examples"]:
        lines.append(f"  example {example['index']}: {example['status']}, {len(example['steps'])} steps, "
                     f"{example['seconds']}s" + (f": {example['error'].splitlines()[0][:150]}" if example["error"]
                                                 else ""))
    if facts["error"] and not facts["failures"]:
        lines.append(f"  ended by: {facts['error'].splitlines()[0]}")
    if facts["replay"]:
        lines.append(f"  smallest failing schedule: example {facts['smallest_failure']} -> {facts['replay']} "
                     "(copy it into scenarios/ to keep it)")
    lines.append(f"  report: {report_dir} (summary.md, report.html, explore.json)")
    return "\n".join(lines)
