"""A failing schedule as a replayable scenario: a normal pytest module in the catalogue's style (docstring with the
failure and its Spec, the seed, the journal of the run that found it) that replays the steps through the same
ExploreSession, so the same invariants and liveness judge it. Commit it to scenarios/ as a regression scenario.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path
from typing import Iterable

from harness.chaos.invariants import LifecycleCheck
from harness.explore.faults import EXPLORABLE, Target
from harness.explore.schedule import Ran, Step, story
from harness.explore.session import ExploreSession
from harness.explore.world import LiveWorld

TEST_NAME = "test_the_explored_schedule_keeps_the_invariants_and_recovers"


def replay_schedule(scenario, lab, namespace: str, acme_issuer, isolated_webhook, schedule: Iterable[Step],
                    faults: Iterable[str] | None = None) -> ExploreSession:
    """Run `schedule` as `certchaos explore` ran it: each step, then the invariants of every moment; at the end
    liveness. The lifecycle invariants of the end state are the plugin's end checks, as for every scenario."""
    steps = list(schedule)
    names = tuple(faults) if faults is not None else tuple(dict.fromkeys(s.fault for s in steps if s.fault))
    target = Target(lab, namespace, acme_issuer, isolated_webhook)
    session = ExploreSession(scenario, LiveWorld(target, LifecycleCheck(scenario, lab, namespace)), names)
    session.check_step()
    for step in steps:
        session.run(step)
        session.check_step()
    session.finish(end_checks=False)
    return session


def module_name(ran: list[Ran]) -> str:
    """test_explored_<8 hex of the schedule>.py: the same schedule always gets the same name."""
    digest = hashlib.sha256(repr([r.step for r in ran]).encode()).hexdigest()[:8]
    return f"test_explored_{digest}.py"


def scenario_module(ran: list[Ran], *, seed: int, error: str, journal: Path, command: str) -> str:
    """The module's text: `ran` is the failing example's schedule as it ran (with its offsets)."""
    first = (error.strip().splitlines() or ["a failure"])[0].replace("\\", "/").replace('"' * 3, "'" * 3)
    exclusive = any(r.step.fault and EXPLORABLE[r.step.fault].lab_wide for r in ran)
    schedule = "\n".join(f"    {r.step!r}," for r in ran)
    found = textwrap.indent(story(ran), "    ")
    said = textwrap.indent(textwrap.fill(first, 100), "    ")
    pytest = "import pytest\n\n" if exclusive else ""
    marks = "@pytest.mark.exclusive  # a fault of the schedule touches what every namespace shares\n" if exclusive else ""
    return f'''"""Found by `{command}`: a fault schedule after which cert-manager broke a promise:
{said}

Spec: the lifecycle invariants that hold at every moment hold after every step (docs/invariants.md); once every
fault is reverted every Certificate is Ready with a valid certificate within the liveness bound derived from
cert-manager's documented waits and backoffs (docs/explore.md), and the end state keeps every lifecycle invariant.
Evidence: the journal of each step, the end state, the liveness wait. Seed {seed}; the run that found it:
{found}
    (journal: {journal})
"""

from __future__ import annotations

{pytest}from harness.scenario_api import Step, replay_schedule

SEED = {seed}  # `certchaos explore --seed {seed}` drew it (Hypothesis's database replays it first)
SCHEDULE = (
{schedule}
)


{marks}def {TEST_NAME}(scenario, lab, namespace, acme_issuer, isolated_webhook):
    replay_schedule(scenario, lab, namespace, acme_issuer, isolated_webhook, SCHEDULE)
'''


def write_scenario(directory: Path, ran: list[Ran], **details) -> Path:
    path = Path(directory) / module_name(ran)
    path.write_text(scenario_module(ran, **details))
    return path
