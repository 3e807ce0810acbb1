"""Per-pytest-session state on config.stash, shared by the plugin's hooks and the lab fixtures (so neither
imports the other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.chaos.scenario import Scenario


@dataclass
class RunState:
    """Per-session state on config.stash."""

    report_dir: Path
    time_scale: float
    provider: str
    components: dict[str, dict] = field(default_factory=dict)  # name -> {version, source, path}; the lab fixture fills it
    running: dict[str, Scenario] = field(default_factory=dict)  # node id -> run not yet saved


STATE = pytest.StashKey[RunState]()
RUN = pytest.StashKey[Scenario]()


def run_state(config: pytest.Config) -> RunState:
    return config.stash[STATE]
