"""`certchaos` command line: binaries, doctor, up, dns serve, run, report.

Each module of harness.cli registers its subcommands through `register(subparsers)`; this one only
assembles them, and gives every command the same exit codes (EXIT_CODES): a HarnessError is one clear line
and exit 2, Ctrl-C is 130, and SIGTERM takes Ctrl-C's path (every `with Lab(...)` and `finally` cleans up)
and exits 143, so a CI job that is cancelled leaves nothing running.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import tomllib
import traceback
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Iterator

# Terminated lives in harness.errors: `python -m harness.cli.main` runs this file as __main__, and a class
# defined here would be another class than the one harness.cli.run and gameday import.
from harness.errors import HarnessError, Terminated

# Modules that contribute subcommands (register(subparsers)), with the commands each registers: a command line
# naming one imports only its module, so bad input is refused before the rest of certchaos loads.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "harness.cli.stack": ("binaries", "doctor", "up"),
    "harness.cli.dns": ("dns",),
    "harness.cli.run": ("run",),
    "harness.cli.report": ("report",),
    "harness.cli.mutants": ("mutants",),
    "harness.cli.alerts": ("alerts",),
    "harness.cli.images": ("images",),
    "harness.cli.mirror": ("mirror",),
    "harness.cli.gameday": ("gameday",),
    "harness.cli.explore": ("explore",),
    "harness.cli.labctl": ("lab",),
    "harness.cli.upgrade": ("upgrade-check",),
    "harness.cli.coverage": ("coverage",),
    "harness.cli.clean": ("clean",),
}
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"  # a source checkout's, when not installed

PASSED, FAILED, ERROR = 0, 1, 2
INTERRUPTED = 128 + signal.SIGINT  # 130: the shell's code for a process ended by SIGINT
TERMINATED = 128 + signal.SIGTERM  # 143: ... and by SIGTERM
EXIT_CODES = f"""\
exit codes (every command):
  {PASSED:<4} passed: every scenario passed (or is not applicable), the check succeeded
  {FAILED:<4} a scenario deviated or did not pass, a check failed, a score is below its threshold
  {ERROR:<4} bad input (the message says what and the fix) or a harness error
  {INTERRUPTED:<4} interrupted by SIGINT (Ctrl-C): faults reverted, what started stopped, report written
  {TERMINATED:<4} interrupted by SIGTERM: the same clean-up as Ctrl-C
`certchaos report DIR` exits with the run's verdict (0, 1; 2 when a journal is unreadable). `up` and
`dns serve` run until stopped: Ctrl-C or SIGTERM once they are ready is their normal end (0)."""


def raise_terminated(signum: int, frame) -> None:
    """SIGTERM handler. Later SIGTERMs are ignored: a CI runner or systemd may send another while the lab stops
    (SIGKILL remains for one that must not wait)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises Terminated inside (main thread only; signals are delivered there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def version() -> str:
    """The installed package's version; in a source checkout that was never installed, pyproject.toml's."""
    try:
        return metadata.version("certchaos")
    except metadata.PackageNotFoundError:
        try:
            return tomllib.loads(PYPROJECT.read_text())["project"]["version"]
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown (not installed, no pyproject.toml). Fix: pip install -e ."


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """certchaos's parser: with `command` (one COMMAND_MODULES names), that command's alone; else every command."""
    top = argparse.ArgumentParser(
        prog="certchaos",
        description="Chaos and conformance harness for cert-manager certificate automation.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"certchaos {version()}")
    subparsers = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = [name for name, commands in COMMAND_MODULES.items() if command in commands] or COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((word for word in argv if not word.startswith("-")), None)
    args = parser(command).parse_args(argv)  # bad usage: argparse prints it and exits 2
    with sigterm_raises():
        try:
            return int(args.handler(args) or 0)
        except HarnessError as error:
            print(f"certchaos {args.command}: {error}", file=sys.stderr)
            return ERROR
        except Terminated:
            print(f"certchaos {args.command}: terminated (SIGTERM)", file=sys.stderr)
            return TERMINATED
        except KeyboardInterrupt:
            return INTERRUPTED
        except Exception:  # noqa: BLE001 - a bug is a harness error (2), never a verdict (1)
            traceback.print_exc()
            print(f"certchaos {args.command}: internal error (the traceback above): a bug in certchaos. Please "
                  "report it with the traceback", file=sys.stderr)
            return ERROR


if __name__ == "__main__":
    sys.exit(main())
