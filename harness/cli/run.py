"""`certchaos run`: the scenario catalogue on one lab, several scenarios at once, with a report.

The lab (stack, fake DNS, Pebble, Toxiproxy) starts once in this process; pytest runs the scenarios in
parallel xdist workers that attach to it through lab.json ($CERTCHAOS_LAB), each scenario in its own
namespace, DNS zone and TSIG key. Scenarios marked exclusive run afterwards, alone.
Writes to --report-dir: junit.xml (junit-exclusive.xml), one journal per scenario,
summary.md, report.html, and lab/ (component logs). Exit code 0 only when every scenario passed or is not
applicable on the provider (listed); a skipped scenario fails the run unless --allow-skips (deselecting with -k
is not skipping).
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

from harness.errors import HarnessError
from harness.lab.lab import LAB_ENV, Lab
from harness.report.html import write_report_html
from harness.stack.service import sigint_ignored

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"  # the repository's catalogue
# Scenarios spend their time waiting on cert-manager (its fixed 60 s DNS-01 sleep), not on the CPU, so
# more workers than cores pay off; each worker costs ~100 MiB.
DEFAULT_WORKERS = 8
INTERRUPTED = 2  # pytest's exit code after Ctrl-C or a collection error: no further phase
NO_TESTS = 5  # pytest's exit code when nothing was selected: fine for one phase, not for the whole run
PYTEST_EXIT = {0: 0, 1: 1}  # passed, a scenario did not pass; any other pytest code is a harness error (2)
# After an interrupt, pytest reverts each scenario's faults and saves its journal (an API call or two per
# fault; a loaded API server can take tens of seconds); then it is killed so the lab can stop.
CHILD_GRACE = 120.0


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="run the scenario catalogue on a lab (local or kind) and write a report")
    run.add_argument("--report-dir", help="where the report goes (default: reports/<UTC timestamp>/)")
    run.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help=f"parallel scenarios (default {DEFAULT_WORKERS})")
    run.add_argument("--bin-dir", help="directory of user-built binaries that take precedence")
    run.add_argument("-k", dest="keyword", help="only scenarios matching this pytest -k expression")
    run.add_argument("--scenarios", default=str(SCENARIOS), help="scenario directory or file (default: the catalogue)")
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
    stops. Before, Ctrl-C killed pytest a quarter second later (subprocess.run) and SIGTERM never reached it."""
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


def _run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise HarnessError(f"--workers {args.workers}: give at least 1")
    if not Path(args.scenarios).exists():
        raise HarnessError(f"--scenarios {args.scenarios}: no such file or directory")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report_dir = Path(args.report_dir or Path("reports") / stamp).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    print(f"certchaos run: starting the lab (logs in {report_dir / 'lab'})", flush=True)
    with Lab(bin_dir=args.bin_dir, run_dir=report_dir / "lab", alert_rules=args.alert_rules,
             alert_rules_mode=args.alert_rules_mode, provider=args.provider, values=args.values,
             workers=args.worker_nodes) as lab:
        print(f"certchaos run: lab ready; running scenarios with {args.workers} workers", flush=True)
        # Scenarios that disturb the shared lab (marked exclusive) run after the others, one at a time.
        returncodes = []
        for marker, workers, junit in (("not exclusive", args.workers, "junit.xml"), ("exclusive", 0, "junit-exclusive.xml")):
            command = [sys.executable, "-m", "pytest", args.scenarios, "-p", "no:cacheprovider", "-n", str(workers),
                       "-m", marker, "--report-dir", str(report_dir), f"--junitxml={report_dir / junit}",
                       "-o", "junit_family=xunit2", "--provider", args.provider,
                       "--worker-nodes", str(args.worker_nodes)]
            if args.bin_dir:
                command += ["--bin-dir", args.bin_dir]
            if args.keyword:
                command += ["-k", args.keyword]
            if args.allow_skips:
                command.append("--allow-skips")
            if args.reloader_image:
                command += ["--reloader-image", args.reloader_image]
            returncodes.append(run_pytest(command, dict(os.environ, **{LAB_ENV: str(lab.info_path)})))
            if returncodes[-1] == INTERRUPTED:
                break
    write_report_html(report_dir)  # each pytest run wrote one; this one covers both even after a Ctrl-C
    print(f"certchaos run: report in {report_dir} (summary.md, report.html, junit.xml, journals)")
    summary = report_dir / "summary.md"
    if summary.exists():
        print(summary.read_text())
    ran = [code for code in returncodes if code != NO_TESTS]
    if not ran:
        raise HarnessError("no scenario matched: check --scenarios and -k")
    return max(PYTEST_EXIT.get(code, 2) for code in ran)
