"""`certchaos gameday`: a game day against the lab: a fault the team did not choose, their marks, the
system's own recovery; or `--runbook FILE.md --auto`: the runbook's steps for the fault, checked.

Exit code: 0 when the system recovered (and, with a runbook, every step succeeded), 1 when it did not or
a step failed, 130 after Ctrl-C and 143 after SIGTERM (the fault reverted, the report written, the game
marked interrupted), 2 for bad input, a broken harness or a report that holds a secret.
"""

from __future__ import annotations

import argparse
import datetime
import queue
import random
import secrets
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from harness.chaos.scenario import Scenario, resolve_time_scale, status_for
from harness.errors import HarnessError
from harness.cli import kubernetes
from harness.cli.labctl import add_lab_arguments, attached_lab
from harness.cli.main import TERMINATED, Terminated, raise_terminated
from harness.gameday import runbook as runbooks
from harness.gameday.access import access_text, make_tools, operator_env
from harness.gameday.catalogue import CATALOGUE, choose
from harness.gameday.game import GameDay
from harness.gameday.status import PlainBoard, make_board
from harness.gameday.workload import create_workload, delete_workload
from harness.lab import providers
from harness.lab.lab import Lab, LabClient
from harness.report.html import write_report_html
from harness.report.journal import Journal, ScenarioInfo, Status, environment_facts
from harness.report.secrets import scan_for_secrets
from harness.report.summary import write_summary
from harness.stack import binaries
from harness.stack.service import sigint_ignored

DEFAULT_DEADLINE_MIN = 15.0  # from the injection: a DNS-01 renewal after a repair takes 2-3 min; room to find it
STEP_TIMEOUT = 180.0  # one runbook step; `cmctl renew` and kubectl answer in seconds, a `kubectl wait` may take minutes
EXIT = {Status.PASSED: 0, Status.DEVIATED: 1, Status.INTERRUPTED: 130, Status.HARNESS_ERROR: 2}


def register(subparsers: argparse._SubParsersAction) -> None:
    game = subparsers.add_parser("gameday", help="a game day: an unannounced fault, the team's marks, recovery timed",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    game.add_argument("--scenario", default="random", metavar="NAME",
                      help=f"the fault: {', '.join(sorted(CATALOGUE))}, or random (default)")
    game.add_argument("--seed", type=int, help="seed of the random choice (default: a fresh one)")
    game.add_argument("--reveal", action="store_true", help="say which fault was injected when it is")
    game.add_argument("--report-dir", help="where the report goes (default: reports/gameday-<UTC timestamp>/)")
    game.add_argument("--runbook", metavar="FILE.md",
                      help="a Markdown runbook (sections tagged <!-- certchaos: NAME -->)")
    game.add_argument("--auto", action="store_true",
                      help="run the runbook's shell steps for the fault instead of a team")
    game.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE_MIN, metavar="MIN",
                      help=f"minutes from the injection to recover (default {DEFAULT_DEADLINE_MIN:g})")
    game.add_argument("--step-timeout", type=float, default=STEP_TIMEOUT, metavar="SECONDS",
                      help=f"per runbook step (default {STEP_TIMEOUT:g})")
    add_lab_arguments(game, "every game fault")
    game.set_defaults(handler=_gameday)


def _read_commands(stream, commands: "queue.Queue[str | None]") -> None:
    for line in stream:
        commands.put(line)
    commands.put(None)


def _gameday(args: argparse.Namespace) -> int:
    began = time.monotonic()
    if args.auto != bool(args.runbook):
        raise HarnessError("--runbook and --auto go together: `--runbook FILE.md --auto` runs the runbook's steps")
    if args.deadline <= 0 or args.step_timeout <= 0:
        raise HarnessError("--deadline and --step-timeout must be positive")
    time_scale = resolve_time_scale(args.time_scale)  # a bad factor is refused before anything starts
    binaries.user_bin_dir(args.bin_dir)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    attach, attached = attached_lab(args, "every game fault")
    aws_api = attached.aws is not None if attached else providers.provider(args.provider).CAPABILITIES.aws_api
    fault = choose(args.scenario, random.Random(seed), aws_api=aws_api)
    # Checked before anything starts: a runbook with nothing for this fault is refused before the injection.
    steps = runbooks.steps_for(runbooks.load(args.runbook), fault.name, args.runbook) if args.runbook else None
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report_dir = Path(args.report_dir or Path("reports") / f"gameday-{stamp}").resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    say = PlainBoard().say
    say(f"certchaos gameday: seed {seed}" + (" (fault named)" if args.scenario != "random" else ""))
    previous_term = signal.signal(signal.SIGTERM, raise_terminated)  # a `kill` cleans up like Ctrl-C
    lab = client = journal = game = workload = None
    terminated = False
    tools = report_dir / "tools"
    status, error = Status.HARNESS_ERROR, None
    try:
        if attach:
            lab_json, info = Path(attach).resolve(), attached
        else:
            say(f"starting the lab (logs copied to {report_dir / 'lab'} when it stops) ...")
            # Its run dir (keys, credentials) is a temp dir of its own, never under the report.
            lab = Lab(bin_dir=args.bin_dir, provider=args.provider, logs_to=report_dir / "lab",
                      kubernetes=kubernetes.requested(args))
            lab.start()
            info, lab_json = lab.info, lab.info_path
        lab_started = time.monotonic()
        client = LabClient(info)
        journal = Journal(report_dir / "gameday" / "journal.json",
                          ScenarioInfo(f"gameday::{fault.name}", fault.summary, f"Repair: {fault.repair}"),
                          environment=environment_facts(info.provider, info.components))
        scenario = Scenario(journal, time_scale=time_scale)
        game = GameDay(client, fault, scenario, deadline=args.deadline * 60 * scenario.time_scale,
                       reveal=args.reveal, say=say)
        workload = create_workload(client, route53=fault.route53)
        game.prepare(workload)
        steady = time.monotonic()
        found = make_tools(tools, args.bin_dir)
        env = operator_env(info, lab_json, workload.namespace, tools)
        say(access_text(info, lab_json, workload.namespace, tools, found))
        if steps is not None:
            game.play(lambda g: g.run_runbook(steps, env, args.step_timeout, report_dir))
        else:
            commands: "queue.Queue[str | None]" = queue.Queue()
            threading.Thread(target=_read_commands, args=(sys.stdin, commands), daemon=True).start()
            with make_board() as board:
                game.say = board.say
                game.play(lambda g: g.play_interactively(commands, board.show))
            game.say = say
        status = game.status()
        if status is not Status.PASSED:
            error = AssertionError(_failure(game))
        scenario.conclude(status, error)
        timings = (f"lab {lab_started - began:.0f}s, steady state {steady - lab_started:.0f}s, "
                   f"game {time.monotonic() - steady:.0f}s")
    except KeyboardInterrupt as interrupt:  # also SIGTERM (main.Terminated)
        status, timings = Status.INTERRUPTED, "interrupted"
        terminated = isinstance(interrupt, Terminated)
        if journal is not None:
            scenario.conclude(status, interrupt)
        say("certchaos gameday: interrupted; reverting and cleaning up")
    except Exception as failure:  # noqa: BLE001 - recorded, reported, exit 2
        # Before the injection nothing the team or the system did is judged: a lab that failed is the harness's.
        injected = game is not None and game.injected_at is not None
        status, error, timings = status_for(failure) if injected else Status.HARNESS_ERROR, failure, "failed"
        if journal is not None:
            scenario.conclude(status, failure)
        say(f"certchaos gameday: {type(failure).__name__}: {failure}")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # cleanup runs to its end, like a second Ctrl-C
        with sigint_ignored():
            _clean_up(journal, scenario if journal else None, client, workload, lab, attach, tools)
            signal.signal(signal.SIGTERM, previous_term)
    if journal is not None:
        say(_report(game, journal, report_dir, time.monotonic() - began, timings))
    code = TERMINATED if terminated else EXIT.get(status, 2)
    leaked = scan_for_secrets(report_dir, _secrets(lab, client, workload))
    if leaked:
        print(f"certchaos gameday: NOT SAFE TO PUBLISH: {report_dir} holds secrets:\n  " + "\n  ".join(leaked)
              + "\nFix: delete them before publishing the report (a runbook step that prints a Secret puts it in "
                "the journal)", file=sys.stderr)
        return code if status is Status.INTERRUPTED else 2
    return code


def _secrets(lab: Lab | None, client: LabClient | None, workload) -> dict[str, str]:
    """What the report must not hold: the lab's TSIG secrets when the game started it, the AWS account
    administrator's key (the team's `aws` signs with it), and the game's own key (its TSIG key's secret, or its
    IAM user's secret access key)."""
    found = lab.tsig_secrets() if lab is not None else {}
    if client is not None and client.info.aws is not None:
        found["AWS administrator's secret access key"] = client.info.aws.admin_secret_access_key
    if workload is not None:
        found.update(workload.acme.report_secrets())
    return found


def _clean_up(journal, scenario, client, workload, lab, attached, tools: Path) -> None:
    """Save the journal and reports, then remove what the game made (the workload in an attached lab; the
    whole lab when the game started it); every part runs even if one before it raised."""
    steps = []
    if scenario is not None:
        steps += [scenario.finish, lambda: write_summary(journal.path.parent.parent),
                  lambda: write_report_html(journal.path.parent.parent)]
    if attached and workload is not None:
        steps.append(lambda: delete_workload(client, workload))
    if client is not None:
        steps.append(client.close)
    if lab is not None:
        steps.append(lab.stop)
    steps.append(lambda: shutil.rmtree(tools, ignore_errors=True))
    for step in steps:
        try:
            step()
        except Exception as error:  # noqa: BLE001 - the rest still runs; said once
            print(f"certchaos gameday: cleanup: {type(error).__name__}: {error}", file=sys.stderr)


def _failure(game: GameDay) -> str:
    outcome = game.outcome
    if outcome.failed_step is not None:
        result = outcome.failed_step
        code = "timed out" if result.exit_code is None else f"exited {result.exit_code}"
        return f"runbook {result.step.title} {code}:\n{result.output.strip()[-2000:]}"
    return f"the system had not recovered when the game ended ({outcome.ended or 'deadline'})"


def _seconds(value) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _report(game: GameDay | None, journal: Journal, report_dir: Path, took: float, timings: str) -> str:
    lines = [f"certchaos gameday: {journal.status}",
             f"  fault: {game.fault.name}: {game.fault.summary}" if game else "",
             f"  repair: {game.fault.repair}" if game else ""]
    if game is not None:
        outcome = game.outcome
        lines += [f"  time to acknowledge (team): {_seconds(outcome.acknowledged_after)}",
                  f"  time to detect (harness):   {_seconds(outcome.detected_after)}",
                  f"  time to recover (harness):  {_seconds(outcome.recovered_after)}"]
        for mark in outcome.fixed_marks:
            verdict = "true" if mark["true_at_the_time"] else "NOT true"
            became = mark.get("recovered_after")
            lines.append(f"  `fixed` at +{mark['after']}s was {verdict} at the time"
                         + ("" if mark["true_at_the_time"] else
                            f"; it became true at +{became}s" if became is not None else "; it never became true"))
        for result in outcome.steps:
            lines.append(f"  runbook {result.step.title}: exit {result.exit_code} ({result.seconds:.1f}s)")
        if outcome.failed_step is not None:
            lines.append(f"  FAILED at {outcome.failed_step.step.title}; its output:")
            lines += ["    " + line for line in outcome.failed_step.output.rstrip().splitlines()[-40:]]
        elif outcome.steps:
            lines.append(f"  the runbook's steps alone {'recovered' if outcome.recovered else 'did NOT recover'} "
                         "the system")
    lines += [f"  game day took {took:.0f}s ({timings})",
              f"  report: {report_dir} (summary.md, report.html, gameday/journal.json)"]
    return "\n".join(line for line in lines if line)
