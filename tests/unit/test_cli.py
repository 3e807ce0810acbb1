"""The `certchaos` command line: every subcommand module registers, and `run` finds the catalogue."""

from __future__ import annotations

import subprocess
import sys

from harness.cli import main, run


def test_every_command_module_registers_its_subcommands():
    parser = main.parser()
    subcommands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    for expected in ("binaries", "doctor", "up", "dns", "run", "report"):
        assert expected in subcommands, f"`certchaos {expected}` is missing; registered: {sorted(subcommands)}"


def test_run_defaults_to_the_repository_catalogue():
    modules = sorted(path.name for path in run.SCENARIOS.glob("test_*.py"))
    assert run.SCENARIOS.name == "scenarios" and modules, f"{run.SCENARIOS} holds no scenario modules"


def test_python_dash_m_harness_cli_is_certchaos():
    result = subprocess.run([sys.executable, "-m", "harness.cli", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "certchaos" in result.stdout, result.stderr
