"""Layers point down (docs/ARCHITECTURE.md, "Dependencies point one way"): every import in harness/ and
fakes/, at module level or inside a function, names a module of its own layer or of one below.

    cli, run_state, pytest_plugin, fixtures, scenario_api      (the top: commands and the pytest plugin)
    gameday, upgrade, mutants, explore                        (what the commands run)
    lab
    chaos
    observe, alerts, workloads
    stack, report, fakes, collection
    wait, errors

fakes/ stand alone: they import nothing of the harness. A module of harness/ in no layer fails too, so a
new package is placed on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = [  # top first
    {"cli", "run_state", "pytest_plugin", "fixtures", "scenario_api"},
    {"gameday", "upgrade", "mutants", "explore"},
    {"lab"},
    {"chaos"},
    {"observe", "alerts", "workloads"},
    {"stack", "report", "fakes", "collection"},
    {"wait", "errors", "harness"},  # "harness": the package itself (a docstring)
]
RANK = {name: len(LAYERS) - index for index, layer in enumerate(LAYERS) for name in layer}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str | None:
    """The layer name of a harness or fakes module (its first package below harness/), else None."""
    parts = module.split(".")
    if parts[0] == "fakes":
        return "fakes"
    if parts[0] != "harness":
        return None
    return parts[1] if len(parts) > 1 else "harness"


def imports(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, wherever it sits; relative ones resolved."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = package[:len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            # `from harness import lab` imports harness.lab: judge each imported name as a module too
            found.append((node.lineno, name))
            if name in ("harness", "fakes"):
                found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return found


def violations(path: Path, source: str) -> list[str]:
    module = module_name(path)
    own = layer(module)
    where = path.relative_to(ROOT)
    problems = []
    if own not in RANK:
        return [f"{where}: layer {own!r} is in no layer of the order; place it in tests/unit/test_layers.py"]
    for line, name in imports(source, module, path.name == "__init__.py"):
        target = layer(name)
        if target is None or target == own:
            continue
        if own == "fakes":
            problems.append(f"{where}:{line}: fakes -> {target} ({name}): fakes/ import nothing of the harness")
        elif target not in RANK:
            problems.append(f"{where}:{line}: {own} -> {target} ({name}): {target!r} is in no layer")
        elif RANK[target] > RANK[own]:
            problems.append(f"{where}:{line}: {own} -> {target} ({name}) points up")
    return problems


def sources() -> list[Path]:
    return sorted([*ROOT.glob("harness/**/*.py"), *ROOT.glob("fakes/**/*.py")])


def test_every_import_in_harness_and_fakes_points_down():
    assert len(sources()) > 100  # the globs found the tree
    problems = [problem for path in sources() for problem in violations(path, path.read_text())]
    assert not problems, "imports that point up the layers:\n" + "\n".join(problems)


@pytest.mark.parametrize("path, source, expected", [
    ("harness/observe/x.py", "def f():\n    from harness.lab.lab import Lab\n",
     "harness/observe/x.py:2: observe -> lab (harness.lab.lab) points up"),
    ("harness/alerts/x.py", "from harness.chaos import timings\n",
     "harness/alerts/x.py:1: alerts -> chaos (harness.chaos) points up"),
    ("harness/stack/x.py", "from harness import lab\n", "harness/stack/x.py:1: stack -> lab (harness.lab) points up"),
    ("harness/stack/kind/x.py", "from ...lab import lab\n",
     "harness/stack/kind/x.py:1: stack -> lab (harness.lab) points up"),
    ("fakes/dns/x.py", "import harness.errors\n",
     "fakes/dns/x.py:1: fakes -> errors (harness.errors): fakes/ import nothing of the harness"),
    ("harness/newthing/x.py", "", "harness/newthing/x.py: layer 'newthing' is in no layer of the order; "
     "place it in tests/unit/test_layers.py"),
])
def test_the_check_names_file_line_and_both_layers(path, source, expected):
    assert violations(ROOT / path, source) == [expected]


@pytest.mark.parametrize("path, source", [
    ("harness/observe/x.py", "from harness.observe import metrics\nfrom harness.alerts import rules\n"),
    ("harness/lab/x.py", "from harness.chaos import fault\nfrom harness.stack.timings import ISSUANCE\n"),
    ("harness/cli/x.py", "import harness.lab.lab\nfrom harness import run_state\n"),
    ("fakes/dns/x.py", "from fakes.dns.errors import FakeDnsError\nimport dns.name\n"),
])
def test_same_layer_and_downward_imports_pass(path, source):
    assert violations(ROOT / path, source) == []
