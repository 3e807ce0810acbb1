"""Scenario authors import from one module (harness.scenario_api), as pytest's users import from `pytest`:
every scenario module imports nothing else of the harness, and the surface holds only what they use."""

from __future__ import annotations

import ast
from pathlib import Path

import harness.scenario_api

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.py"))


def harness_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import of a harness module in `path`, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names if alias.name.split(".")[0] == "harness"]
        elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "harness"):
            found.append((node.lineno, "." * node.level + (node.module or ""), [a.name for a in node.names]))
    return found


def test_scenarios_import_nothing_of_the_harness_but_scenario_api():
    assert len(SCENARIOS) > 5
    others = [f"{path.relative_to(ROOT)}:{line}: {module}" for path in SCENARIOS
              for line, module, _ in harness_imports(path) if module != "harness.scenario_api"]
    assert not others, "scenarios import from harness.scenario_api only; these do not:\n" + "\n".join(others)


def written_by_explore(tmp: Path) -> Path:
    """A scenario as `certchaos explore` writes it (harness.explore.replay): a scenario too, its names are used."""
    from harness.explore.replay import write_scenario
    from harness.explore.schedule import Ran, Step

    return write_scenario(tmp, [Ran(Step("inject", fault="controller-restart"), 0.0, 1.0)], seed=1, error="x",
                          journal="examples/001/journal.json", command="certchaos explore --seed 1")


def test_the_surface_is_what_scenarios_use(tmp_path):
    written = written_by_explore(tmp_path)
    assert not [module for _, module, _ in harness_imports(written) if module != "harness.scenario_api"]
    used = {name for path in [*SCENARIOS, written] for _, module, names in harness_imports(path)
            if module == "harness.scenario_api" for name in names}
    exported = set(harness.scenario_api.__all__)
    assert len(exported) == len(harness.scenario_api.__all__), "a name is twice in __all__"
    assert used <= exported, f"scenarios import names scenario_api does not export: {sorted(used - exported)}"
    assert exported <= used, f"scenario_api exports names no scenario uses: {sorted(exported - used)}"
    # "@...": the helpers pytest's assertion rewriting adds to a plugin's modules
    public = {name for name in vars(harness.scenario_api) if name[0] not in "_@" and name != "annotations"}
    assert public == exported, f"names in scenario_api but not in __all__: {sorted(public - exported)}"
