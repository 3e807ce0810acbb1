"""`certchaos run`: the scenario catalogue on one lab, several scenarios at once, with a report.

The input is checked before anything starts or any report dir is made (a bad option is exit 2 at once, not
after the lab's minute of start-up). The lab (stack, fake DNS, Pebble, Toxiproxy) starts once in this
process, in a temp run dir of its own (it holds private keys and credentials); pytest runs the scenarios in
parallel xdist workers that attach to it through lab.json ($CERTCHAOS_LAB), each scenario in its own
namespace, DNS zone and TSIG key, the longest first (harness/cli/order.py). Scenarios marked exclusive
run one at a time beside them, on a second lab of their own, which then takes some of the batch.
Writes to --report-dir: junit.xml (junit-exclusive.xml), one journal per scenario, summary.md, report.html,
and lab/ (lab-exclusive/; the component logs, copied when a lab stops), then checks that nothing there holds a private key
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
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from harness import collection
from harness.chaos.scenario import TIME_SCALE_ENV, resolve_time_scale
from harness.cli import artifacts, kubernetes, order
from harness.errors import HarnessError, Terminated
from harness.lab import providers
from harness.lab.providers.seam import ProviderOptions
from harness.stack import binaries
from harness.stack.service import sigint_ignored

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"  # the repository's catalogue
# Scenarios spend their time waiting on cert-manager, not on the CPU, so more workers than cores pay off (each
# ~100 MiB); but they share one controller, and v1.11.5 runs 5 workers per controller
# (cmd/controller/app/controller.go: `workers := 5`) while each DNS-01 check sleeps 60 s in one
# (pkg/issuer/acme/dns/dns.go): past 5 challenges in their wait at once, the rest queue in 60 s steps and miss
# deadlines written for one wait (three scenarios of the 31-scenario local catalogue at 8 workers, 2026-12-06).
DEFAULT_WORKERS = 4
PYTEST_EXIT = {0: 0, 1: 1}  # passed, a scenario did not pass; any other pytest code is a harness error (2)
# After an interrupt, pytest reverts each scenario's faults and saves its journal (an API call or two per
# fault; a loaded API server can take tens of seconds); then it is killed so the lab can stop.
CHILD_GRACE = 120.0
# `python -c DIES_WITH_PARENT PID MODULE ARGS...` is `python -m MODULE ARGS...` that gets SIGINT (pytest's clean
# stop) when certchaos (PID) ends in any way, SIGKILL included, so pytest, in a session of its own, never runs
# on against a lab that is gone: Linux's parent-death signal (prctl option 1, PR_SET_PDEATHSIG), set in the
# child itself (a preexec_fn is unsafe beside the lab's threads). SIGINT is pytest's one stop signal, so it is
# taken (KeyboardInterrupt) even when certchaos was started with it ignored, as a background job or nohup is:
# Python keeps an inherited SIG_IGN, and pytest would run on until killed, its faults never reverted.
DIES_WITH_PARENT = """
import ctypes, os, runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)
if os.getppid() != int(sys.argv.pop(1)):
    sys.exit("certchaos ended before its pytest started")
runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help=f"run the scenario catalogue on a lab ({', '.join(providers.NAMES)}) and "
                                            "write a report")
    run.add_argument("--report-dir", help="where the report goes (default: reports/<UTC timestamp>/)")
    run.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help=f"parallel scenarios (default {DEFAULT_WORKERS})")
    run.add_argument("--bin-dir", help="directory of user-built binaries that take precedence")
    run.add_argument("-k", dest="keyword", help="only scenarios matching this pytest -k expression")
    run.add_argument("--shortest-first", action="store_true",
                     help="start the shortest scenarios first (default: the longest, so the run ends soonest); for "
                          "a run that is stopped at its first deviation, as a mutant's")
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
    run.add_argument("--provider", choices=providers.NAMES, default=providers.DEFAULT,
                     help=f"the lab's stack (default {providers.DEFAULT}): {providers.help_text()}")
    run.add_argument("--kubeconfig", metavar="PATH",
                     help="kubeconfig: the existing cluster's kubeconfig (scenarios it cannot run are not applicable)")
    run.add_argument("--worker-nodes", type=int, default=0, metavar="N",
                     help="kind: worker nodes beside the control plane; the node-failure scenarios need 2 (default 0)")
    run.add_argument("--values", metavar="FILE", help="kind: your Helm values for cert-manager's chart, after ours")
    run.add_argument("--reloader-image", metavar="IMAGE",
                     help="kind: another Stakater Reloader image (in Docker) for the reload scenarios "
                          "(default: our build of v1.4.22, certchaos.local/reloader:v1.4.22)")
    run.add_argument("--cert-manager", metavar="VERSION",
                     help="run cert-manager VERSION as its users do: its official chart and images (kind), or the "
                          "binaries taken out of those images (local); see --chart-repo, --image-registry "
                          "(default: the lab's v1.11.5, built from source)")
    artifacts.add_sources(run)
    kubernetes.add_options(run)
    run.set_defaults(handler=_run)


def provider_options(args: argparse.Namespace) -> ProviderOptions:
    return ProviderOptions(bin_dir=args.bin_dir, values=args.values, workers=args.worker_nodes,
                           reloader_image=args.reloader_image, kubeconfig=args.kubeconfig,
                           alert_rules=args.alert_rules, kubernetes=kubernetes.requested(args))


def _existing_file(option: str, value: str | None, what: str) -> None:
    if value is not None and not Path(value).expanduser().is_file():
        problem = "is a directory" if Path(value).expanduser().is_dir() else "no such file"
        raise HarnessError(f"{option} {value}: {problem}. Fix: give the path of {what}")


def validate(args: argparse.Namespace) -> float:
    """Everything about the input that can be wrong, checked before a lab starts or a report dir is made,
    each a HarnessError that says what and the fix; returns the time scale."""
    if args.workers < 1:
        raise HarnessError(f"--workers {args.workers}: give at least 1")
    if not Path(args.scenarios).exists():
        raise HarnessError(f"--scenarios {args.scenarios}: no such file or directory. Fix: give a scenario "
                           f"module or directory (default {SCENARIOS})")
    if providers.provider(args.provider).CAPABILITIES.installs_cert_manager:  # not an existing cluster's to choose
        kubernetes.check_pairings(args, args.cert_manager or kubernetes.cert_manager_version(args.bin_dir))
    providers.validate(args.provider, provider_options(args))
    _existing_file("--alert-rules", args.alert_rules, "your rule file or PrometheusRule YAML")
    if args.alert_rules_mode == "replace" and not args.alert_rules:
        raise HarnessError("--alert-rules-mode replace replaces the default rules with yours. Fix: add "
                           "--alert-rules FILE, or drop --alert-rules-mode")
    binaries.user_bin_dir(args.bin_dir)  # a bin dir that does not exist or holds no binary
    scale = resolve_time_scale(args.time_scale)
    if args.keyword is not None:
        check_selection(args.scenarios, args.keyword, scale)
    args.official_plan = _official_plan(args)
    return scale


def _official_plan(args: argparse.Namespace):
    """--cert-manager VERSION checked against its chart repository and registry (None without it)."""
    if not args.cert_manager:
        artifacts.refuse_without_version(args, "--cert-manager VERSION")
        return None
    if args.bin_dir:
        raise HarnessError(f"--cert-manager {args.cert_manager} takes cert-manager from its official artifacts, "
                           f"--bin-dir {args.bin_dir} from your binaries. Fix: drop one of them")
    if not providers.provider(args.provider).CAPABILITIES.installs_cert_manager:
        raise HarnessError(f"--cert-manager {args.cert_manager}: the {args.provider} provider runs the cert-manager "
                           f"already in the cluster. Fix: drop --cert-manager, or use --provider local or kind")
    return artifacts.plan(args.cert_manager, args)


def _catalogue(scenarios: str, scale: float) -> list[collection.Item]:
    """pytest's collection of the catalogue (cached; its fixtures start the lab, collecting runs none of them),
    with the checked scale in the environment, whatever the environment says."""
    return collection.items(scenarios, dict(os.environ, **{TIME_SCALE_ENV: str(scale)}))


def check_selection(scenarios: str, keyword: str, scale: float) -> None:
    """-k must select at least one scenario of pytest's own collection."""
    if collection.select(_catalogue(scenarios, scale), keyword):
        return
    modules = sorted(path.stem for path in Path(scenarios).glob("test_*.py")) or [Path(scenarios).stem]
    raise HarnessError(f"-k {keyword!r} matches no scenario in {scenarios}. Fix: use words of the scenarios' "
                       f"names, e.g. -k 'webhook or ca_outage' (modules: {', '.join(modules)})")


def selected(args: argparse.Namespace, scale: float, marker: str) -> list[str]:
    """The node ids of the scenarios marked `marker` that the selection takes, as pytest arguments."""
    return [item.node_id for item in collection.select(_catalogue(args.scenarios, scale), args.keyword, marker)]


def _with_absolute_path(node: str, scenarios: Path) -> str:
    """A node id is relative to pytest's rootdir, some ancestor of the scenarios; the child may run elsewhere."""
    path, _, rest = node.partition("::")
    base = next((base for base in (scenarios, *scenarios.parents) if (base / path).is_file()), Path.cwd())
    return f"{base / path}::{rest}"


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


def _group_members(pgid: int) -> list[int]:
    """The live processes of process group `pgid` (from /proc/<pid>/stat: its fields after the command's ")")."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue  # gone meanwhile
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def _interrupt(child: subprocess.Popen) -> None:
    """SIGINT to the processes that run the scenarios: pytest itself, or with xdist (-n N) its workers and what
    they run, never the controller. A controller interrupted gives its workers 5 s to finish (then execnet
    interrupts them again, cutting their reverts short) and kills them at 10 s; not interrupted, it waits for
    each worker to end its session, however long its reverts take (CHILD_GRACE)."""
    workers = [pid for pid in _group_members(child.pid) if pid != child.pid] if _xdist(child) else []
    for pid in workers:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    if not workers:  # pytest runs the scenarios itself, or has not started its workers yet
        _signal_group(child, signal.SIGINT)


def _xdist(child: subprocess.Popen) -> bool:
    args = list(child.args)
    return "-n" in args and args[args.index("-n") + 1] != "0"


def start_pytest(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    """pytest in a process group of its own, so an interrupt reaches it once, from here (stop_pytest). Should
    certchaos itself be killed, DIES_WITH_PARENT stops it."""
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, start_new_session=True)


def stop_pytest(children: list[subprocess.Popen]) -> None:
    """Ctrl-C at a terminal (sent to the foreground group) and SIGTERM (sent to certchaos alone) both become one
    SIGINT to each pytest and its workers, which revert their faults and save their journals; the lab stops
    only after (or once CHILD_GRACE is over: then they are killed)."""
    with _interrupts_ignored():
        if any(child.poll() is None for child in children):
            print(f"certchaos run: interrupted; each running scenario reverts its faults and saves its journal "
                  f"(up to {CHILD_GRACE:g}s; pytest-xdist reports a worker so interrupted as crashed)", file=sys.stderr)
        for child in children:
            if child.poll() is None:
                _interrupt(child)
        deadline = time.monotonic() + CHILD_GRACE
        for child in children:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"certchaos run: pytest still running {CHILD_GRACE:g}s after the interrupt; killed",
                      file=sys.stderr)
                _signal_group(child, signal.SIGKILL)
                child.wait()


def run_pytest(command: list[str], env: dict[str, str]) -> int:
    """One pytest run to its end; an interrupt stops it cleanly (stop_pytest), then goes on."""
    child = start_pytest(command, env)
    try:
        return child.wait()
    except KeyboardInterrupt:  # also main.Terminated (SIGTERM)
        stop_pytest([child])
        raise


def _pytest_command(args: argparse.Namespace, report_dir: Path, scale: float, marker: str, workers: int,
                    junit: str, targets: list[str]) -> list[str]:
    nodes = [_with_absolute_path(node, Path(args.scenarios).resolve()) for node in targets]
    # -p certchaos: the plugin acts on a scenario dir of the user's too, whatever its pytest config says.
    command = [sys.executable, "-c", DIES_WITH_PARENT, str(os.getpid()), "pytest", *nodes,
               "-p", "certchaos", "-p", "no:cacheprovider", "-n", str(workers),
               "-m", marker, "--certchaos-report-dir", str(report_dir), f"--junitxml={report_dir / junit}",
               "-o", "junit_family=xunit2", "--certchaos-provider", args.provider,
               "--certchaos-worker-nodes", str(args.worker_nodes), "--certchaos-time-scale", str(scale)]
    if args.bin_dir:
        command += ["--certchaos-bin-dir", args.bin_dir]
    if args.keyword:
        command += ["-k", args.keyword]
    if args.allow_skips:
        command.append("--certchaos-allow-skips")
    if args.reloader_image:
        command += ["--certchaos-reloader-image", args.reloader_image]
    return command


def _finish_report(report_dir: Path, secrets: dict[str, str]) -> list[str]:
    """summary.md and report.html for the whole run (each pytest run wrote them as it ended; these cover both,
    also after an interrupt), then the publishing check; what it found is said on stderr at once."""
    from harness.report.html import write_report_html
    from harness.report.interrupted import mark_interrupted_in_junit
    from harness.report.secrets import scan_for_secrets
    from harness.report.summary import write_summary

    write_summary(report_dir)
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
    # Here, after the input is checked: bad input is refused without loading the lab (and the Kubernetes client).
    from harness.lab.lab import LAB_ENV, Lab
    from harness.report.interrupted import record_interrupted_start
    from harness.report.summary import find_rows
    if args.official_plan is not None:  # pulled once (blobs cached by digest), then a bin dir like a user's
        args.bin_dir = str(artifacts.fetch(args.official_plan))
    batch, exclusive = selected(args, scale, "not exclusive"), selected(args, scale, "exclusive")
    seconds = order.measured_seconds(args.provider)
    if not batch and not exclusive:
        raise HarnessError(f"no scenario in {args.scenarios}: check --scenarios and -k")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report_dir = Path(args.report_dir or Path("reports") / stamp).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    print(f"certchaos run: starting the lab (logs copied to {report_dir / 'lab'} when it stops)", flush=True)

    def new_lab(logs: str) -> Lab:
        return Lab(bin_dir=args.bin_dir, alert_rules=args.alert_rules, alert_rules_mode=args.alert_rules_mode,
                   provider=args.provider, values=args.values, workers=args.worker_nodes, logs_to=report_dir / logs,
                   kubeconfig=args.kubeconfig, kubernetes=kubernetes.requested(args))

    def pytest_on(lab: Lab, marker: str, workers: int, junit: str, targets: list[str]) -> subprocess.Popen:
        # The checked time scale in the environment too, for anything that reads it there.
        env = dict(os.environ, **{LAB_ENV: str(lab.info_path), TIME_SCALE_ENV: str(scale)})
        return start_pytest(_pytest_command(args, report_dir, scale, marker, workers, junit, targets), env)

    labs, children = [], []
    interrupted: KeyboardInterrupt | None = None
    try:
        with ExitStack() as running:
            try:
                began = time.monotonic()
                labs.append(running.enter_context(new_lab("lab")))
                # Scenarios that disturb their lab (marked exclusive) run one at a time on a lab of their own,
                # started while the batch runs: the catalogue ends with its longest scenario, not after the sum.
                # That lab then takes the batch's last scenarios (started as long as the first lab took).
                # On a cluster certchaos does not own (the user's) a second lab would share it: they run after.
                second_lab = bool(exclusive and batch and providers.provider(args.provider).CAPABILITIES.owns_cluster)
                share = (order.exclusive_lab_share(batch, exclusive, seconds, args.workers, time.monotonic() - began)
                         if second_lab and not args.shortest_first else [])
                batch = (order.shortest_first(batch, seconds) if args.shortest_first else
                         order.longest_first([node for node in batch if node not in share], seconds, args.workers))
                print(f"certchaos run: lab ready ({LAB_ENV}={labs[0].info_path} attaches to it); running "
                      f"{len(batch)} scenarios with {args.workers} workers", flush=True)
                if batch:
                    children.append(pytest_on(labs[0], "not exclusive", args.workers, "junit.xml", batch))
                if exclusive and batch and not second_lab:
                    children[0].wait()
                elif second_lab:
                    print(f"certchaos run: starting a second lab for the {len(exclusive)} exclusive scenarios, then "
                          f"{len(share)} of the batch (logs copied to {report_dir / 'lab-exclusive'})", flush=True)
                    labs.append(running.enter_context(new_lab("lab-exclusive")))
                    print(f"certchaos run: second lab ready ({LAB_ENV}={labs[-1].info_path} attaches to it)",
                          flush=True)
                if exclusive:  # in the order given: the exclusive ones, then the share, longest first
                    children.append(pytest_on(labs[-1], "certchaos" if share else "exclusive", 0,
                                              "junit-exclusive.xml", exclusive + share))
                returncodes = [child.wait() for child in children]
            except BaseException:  # Ctrl-C, SIGTERM, a lab that failed to start: each pytest stops cleanly first
                stop_pytest(children)
                raise
    except KeyboardInterrupt as error:  # also SIGTERM (Terminated)
        interrupted = error
        raise
    finally:  # the labs have stopped: their logs are in the report, their keys gone with their run dirs
        if interrupted is not None and not find_rows(report_dir):  # before any scenario ran: say so
            how = "SIGTERM" if isinstance(interrupted, Terminated) else "SIGINT (Ctrl-C)"
            record_interrupted_start(report_dir, f"interrupted by {how} while the {args.provider} lab was starting: "
                                                 "no scenario ran")
        leaked = _finish_report(report_dir, {name: secret for lab in labs for name, secret in
                                             lab.tsig_secrets().items()})
    print(f"certchaos run: report in {report_dir} (summary.md, report.html, junit.xml, journals)")
    summary = report_dir / "summary.md"
    if summary.exists():
        print(summary.read_text())
    if leaked:
        raise HarnessError(f"the report holds secrets ({len(leaked)} files, listed above). Fix: delete them "
                           f"before publishing {report_dir}, and report the bug: certchaos must not write them")
    return max(PYTEST_EXIT.get(code, 2) for code in returncodes)
