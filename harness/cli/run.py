"""`certchaos run`: the scenario catalogue on one lab, several scenarios at once, with a report.

The input is checked before anything starts or any report dir is made (a bad option is exit 2 at once, not
after the lab's minute of start-up). The lab (stack, fake DNS, Pebble, Toxiproxy) starts once in this
process, in a temp run dir of its own (it holds private keys and credentials); pytest runs the scenarios in
parallel xdist workers that attach to it through lab.json ($CERTCHAOS_LAB), each scenario in its own
namespace, DNS zone and TSIG key. Scenarios marked exclusive run afterwards, alone.
Writes to --report-dir: junit.xml (junit-exclusive.xml), one journal per scenario, summary.md, report.html,
and lab/ (the component logs, copied when the lab stops), then checks that nothing there holds a private key
or the lab's TSIG secrets. Exit code 0 only when every scenario passed or is not applicable on the provider
(listed); a skipped scenario fails the run unless --allow-skips (deselecting with -k is not skipping); 2 for
bad input, a harness error or a report that is not safe to publish.
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from harness.chaos.scenario import TIME_SCALE_ENV, resolve_time_scale
from harness.errors import HarnessError, Terminated
from harness.lab.lab import LAB_ENV, Lab
from harness.report.html import write_report_html
from harness.report.interrupted import mark_interrupted_in_junit, record_interrupted_start
from harness.report.secrets import scan_for_secrets
from harness.report.summary import find_rows
from harness.stack import binaries
from harness.stack.service import sigint_ignored

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"  # the repository's catalogue
# Scenarios spend their time waiting on cert-manager (its fixed 60 s DNS-01 sleep), not on the CPU, so
# more workers than cores pay off; each worker costs ~100 MiB.
DEFAULT_WORKERS = 8
INTERRUPTED = 2  # pytest's exit code after Ctrl-C or a collection error: no further phase
NO_TESTS = 5  # pytest's exit code when nothing was selected: fine for one phase, not for the whole run
USAGE_ERROR = 4  # pytest's exit code for bad usage, e.g. a -k expression that does not parse
PYTEST_EXIT = {0: 0, 1: 1}  # passed, a scenario did not pass; any other pytest code is a harness error (2)
# pytest's own collection of the catalogue (imports only, no lab): ~1-3 s here; the margin is for a machine
# that is also compiling.
COLLECT_TIMEOUT = 120.0
# After an interrupt, pytest reverts each scenario's faults and saves its journal (an API call or two per
# fault; a loaded API server can take tens of seconds); then it is killed so the lab can stop.
CHILD_GRACE = 120.0
# `python -c DIES_WITH_PARENT PID MODULE ARGS...` is `python -m MODULE ARGS...` that gets SIGINT (pytest's clean
# stop) when certchaos (PID) ends in any way, SIGKILL included, so pytest, in a session of its own, never runs
# on against a lab that is gone: Linux's parent-death signal (prctl option 1, PR_SET_PDEATHSIG), set in the
# child itself (a preexec_fn is unsafe beside the lab's threads).
DIES_WITH_PARENT = """
import ctypes, os, runpy, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)
if os.getppid() != int(sys.argv.pop(1)):
    sys.exit("certchaos ended before its pytest started")
runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
"""
# Plugins a collection does without: the cache (it would write .pytest_cache), and hypothesis's, whose
# import is ~1 s of the collection's ~2 s here.
COLLECT_PLUGINS_OFF = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="run the scenario catalogue on a lab (local or kind) and write a report")
    run.add_argument("--report-dir", help="where the report goes (default: reports/<UTC timestamp>/)")
    run.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help=f"parallel scenarios (default {DEFAULT_WORKERS})")
    run.add_argument("--bin-dir", help="directory of user-built binaries that take precedence")
    run.add_argument("-k", dest="keyword", help="only scenarios matching this pytest -k expression")
    run.add_argument("--scenarios", default=str(SCENARIOS), help="scenario directory or file (default: the catalogue)")
    run.add_argument("--time-scale", metavar="FACTOR",
                     help="multiply every scenario deadline by FACTOR on a slow machine, e.g. 2 (default: "
                          "$CERTCHAOS_TIME_SCALE or 1)")
    run.add_argument("--allow-skips", action="store_true",
                     help="skipped scenarios do not make the exit code non-zero (default: they do; not-applicable "
                          "ones, which the provider cannot run, are listed and never do)")
    run.add_argument("--alert-rules", metavar="FILE", help="the user's alert rules (rule file or PrometheusRule)")
    run.add_argument("--alert-rules-mode", choices=("add", "replace"), default="add",
                     help="add: beside the default rules; replace: instead of them (default: add)")
    run.add_argument("--provider", choices=("local", "kind"), default="local",
                     help="the lab's stack: local processes on loopback (default), or a kind cluster")
    run.add_argument("--worker-nodes", type=int, default=0, metavar="N",
                     help="kind: worker nodes beside the control plane; the node-failure scenarios need 2 (default 0)")
    run.add_argument("--values", metavar="FILE", help="kind: your Helm values for cert-manager's chart, after ours")
    run.add_argument("--reloader-image", metavar="IMAGE",
                     help="kind: Stakater Reloader's image (in Docker) for the reload scenarios (default: our stand-in)")
    run.set_defaults(handler=_run)


def _kind_only(args: argparse.Namespace) -> None:
    if args.provider == "kind":
        return
    for given, option, why in ((args.worker_nodes, f"--worker-nodes {args.worker_nodes}", "has no nodes"),
                               (args.values, f"--values {args.values}", "runs cert-manager's binaries, no chart"),
                               (args.reloader_image, f"--reloader-image {args.reloader_image}", "has no pods")):
        if given:
            raise HarnessError(f"{option} is for --provider kind: the local provider {why}. Fix: add --provider "
                               f"kind, or drop {option.split()[0]}")


def _existing_file(option: str, value: str | None, what: str) -> None:
    if value is not None and not Path(value).expanduser().is_file():
        problem = "is a directory" if Path(value).expanduser().is_dir() else "no such file"
        raise HarnessError(f"{option} {value}: {problem}. Fix: give the path of {what}")


def validate(args: argparse.Namespace) -> float:
    """Everything about the input that can be wrong, checked before a lab starts or a report dir is made,
    each a HarnessError that says what and the fix; returns the time scale."""
    if args.workers < 1:
        raise HarnessError(f"--workers {args.workers}: give at least 1")
    if args.worker_nodes < 0:
        raise HarnessError(f"--worker-nodes {args.worker_nodes}: give 0 or more (the node-failure scenarios need 2)")
    if not Path(args.scenarios).exists():
        raise HarnessError(f"--scenarios {args.scenarios}: no such file or directory. Fix: give a scenario "
                           f"module or directory (default {SCENARIOS})")
    _kind_only(args)
    _existing_file("--values", args.values, "your Helm values YAML file")
    _existing_file("--alert-rules", args.alert_rules, "your rule file or PrometheusRule YAML")
    if args.alert_rules_mode == "replace" and not args.alert_rules:
        raise HarnessError("--alert-rules-mode replace replaces the default rules with yours. Fix: add "
                           "--alert-rules FILE, or drop --alert-rules-mode")
    binaries.user_bin_dir(args.bin_dir)  # a bin dir that does not exist or holds no binary
    scale = resolve_time_scale(args.time_scale)
    if args.keyword is not None:
        check_selection(args.scenarios, args.keyword, scale)
    return scale


def check_selection(scenarios: str, keyword: str, scale: float) -> None:
    """-k must select at least one scenario: pytest's own collection says so, in a subprocess (the catalogue's
    fixtures start the lab; collection runs none of them)."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", *COLLECT_PLUGINS_OFF, "-k", keyword,
               scenarios]
    env = dict(os.environ, **{TIME_SCALE_ENV: str(scale)})  # the checked scale, whatever the environment says
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=COLLECT_TIMEOUT,
                                stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"-k {keyword!r}: collecting {scenarios} took over {COLLECT_TIMEOUT:g}s. Fix: see "
                           f"`python -m pytest --collect-only -q -k {keyword!r} {scenarios}`") from None
    if result.returncode == 0:
        return
    said = (result.stdout + result.stderr).strip().splitlines()
    if result.returncode == NO_TESTS:
        modules = sorted(path.stem for path in Path(scenarios).glob("test_*.py")) or [Path(scenarios).stem]
        raise HarnessError(f"-k {keyword!r} matches no scenario in {scenarios}. Fix: use words of the scenarios' "
                           f"names, e.g. -k 'webhook or ca_outage' (modules: {', '.join(modules)})")
    if result.returncode == USAGE_ERROR:
        error = next((line for line in said if line.startswith("ERROR")), said[-1] if said else "")
        raise HarnessError(f"-k {keyword!r}: {error.removeprefix('ERROR: ')}. Fix: a pytest -k expression, "
                           "e.g. -k 'webhook and not slow'")
    raise HarnessError(f"collecting {scenarios} failed (pytest exit {result.returncode}):\n"
                       + "\n".join(said[-20:]))


@contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """Ctrl-C and SIGTERM ignored inside (main thread only): the scenarios' clean-up must not be cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with sigint_ignored():
        previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:
        pass  # it has exited meanwhile


def run_pytest(command: list[str], env: dict[str, str]) -> int:
    """pytest in a process group of its own, so an interrupt reaches it once, from here: Ctrl-C at a terminal
    (sent to the foreground group) and SIGTERM (sent to certchaos alone) both become one SIGINT to pytest and
    its workers, which revert their faults and save their journals; then the interrupt goes on, and the lab
    stops. Before, Ctrl-C killed pytest a quarter second later (subprocess.run) and SIGTERM never reached it.
    Should certchaos itself be killed, DIES_WITH_PARENT stops pytest."""
    child = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        return child.wait()
    except KeyboardInterrupt:  # also main.Terminated (SIGTERM)
        with _interrupts_ignored():
            _signal_group(child, signal.SIGINT)
            try:
                child.wait(timeout=CHILD_GRACE)
            except subprocess.TimeoutExpired:
                print(f"certchaos run: pytest still running {CHILD_GRACE:g}s after the interrupt; killed",
                      file=sys.stderr)
                _signal_group(child, signal.SIGKILL)
                child.wait()
        raise


def _pytest_command(args: argparse.Namespace, report_dir: Path, scale: float, marker: str, workers: int,
                    junit: str) -> list[str]:
    command = [sys.executable, "-c", DIES_WITH_PARENT, str(os.getpid()), "pytest", args.scenarios,
               "-p", "no:cacheprovider", "-n", str(workers),
               "-m", marker, "--report-dir", str(report_dir), f"--junitxml={report_dir / junit}",
               "-o", "junit_family=xunit2", "--provider", args.provider,
               "--worker-nodes", str(args.worker_nodes), "--time-scale", str(scale)]
    if args.bin_dir:
        command += ["--bin-dir", args.bin_dir]
    if args.keyword:
        command += ["-k", args.keyword]
    if args.allow_skips:
        command.append("--allow-skips")
    if args.reloader_image:
        command += ["--reloader-image", args.reloader_image]
    return command


def _finish_report(report_dir: Path, secrets: dict[str, str]) -> list[str]:
    """report.html for the whole run (each pytest run wrote one; this one covers both, also after an
    interrupt), then the publishing check; what it found is said on stderr at once, also after an interrupt."""
    write_report_html(report_dir)
    for junit in ("junit.xml", "junit-exclusive.xml"):
        mark_interrupted_in_junit(report_dir, junit)
    leaked = scan_for_secrets(report_dir, secrets)
    if leaked:
        print(f"certchaos run: NOT SAFE TO PUBLISH: {report_dir} holds secrets:\n  " + "\n  ".join(leaked),
              file=sys.stderr)
    return leaked


def _run(args: argparse.Namespace) -> int:
    scale = validate(args)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report_dir = Path(args.report_dir or Path("reports") / stamp).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    print(f"certchaos run: starting the lab (logs copied to {report_dir / 'lab'} when it stops)", flush=True)
    lab = Lab(bin_dir=args.bin_dir, alert_rules=args.alert_rules, alert_rules_mode=args.alert_rules_mode,
              provider=args.provider, values=args.values, workers=args.worker_nodes, logs_to=report_dir / "lab")
    returncodes = []
    interrupted: KeyboardInterrupt | None = None
    try:
        with lab:
            print(f"certchaos run: lab ready ({LAB_ENV}={lab.info_path} attaches to it); running scenarios with "
                  f"{args.workers} workers", flush=True)
            # Scenarios that disturb the shared lab (marked exclusive) run after the others, one at a time.
            for marker, workers, junit in (("not exclusive", args.workers, "junit.xml"),
                                           ("exclusive", 0, "junit-exclusive.xml")):
                command = _pytest_command(args, report_dir, scale, marker, workers, junit)
                # The checked time scale in the environment too, for anything that reads it there.
                env = dict(os.environ, **{LAB_ENV: str(lab.info_path), TIME_SCALE_ENV: str(scale)})
                returncodes.append(run_pytest(command, env))
                if returncodes[-1] == INTERRUPTED:
                    break
    except KeyboardInterrupt as error:  # also SIGTERM (main.Terminated)
        interrupted = error
        raise
    finally:  # the lab has stopped: its logs are in the report, its keys gone with its run dir
        if interrupted is not None and not find_rows(report_dir):  # before any scenario ran: say so
            how = "SIGTERM" if isinstance(interrupted, Terminated) else "SIGINT (Ctrl-C)"
            record_interrupted_start(report_dir, f"interrupted by {how} while the {args.provider} lab was starting: "
                                                 "no scenario ran")
        leaked = _finish_report(report_dir, lab.tsig_secrets())
    print(f"certchaos run: report in {report_dir} (summary.md, report.html, junit.xml, journals)")
    summary = report_dir / "summary.md"
    if summary.exists():
        print(summary.read_text())
    if leaked:
        raise HarnessError(f"the report holds secrets ({len(leaked)} files, listed above). Fix: delete them "
                           f"before publishing {report_dir}, and report the bug: certchaos must not write them")
    ran = [code for code in returncodes if code != NO_TESTS]
    if not ran:
        raise HarnessError("no scenario matched: check --scenarios and -k")
    return max(PYTEST_EXIT.get(code, 2) for code in ran)
