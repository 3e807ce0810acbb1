"""Runbooks: the sections tagged per failure and their shell blocks parse back as written (Hypothesis), a fault
without steps is refused naming fault and runbook, and a step runs with bash -e in its own process group:
its exit code and output are kept, a timeout kills everything it started."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.gameday.catalogue import CATALOGUE
from harness.gameday.runbook import RunbookError, Step, load, parse, run_step, steps_for
from harness.wait import Seen, wait_for

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "runbooks")

names = st.sampled_from(["dns-permission-drift", "ca-outage", "webhook-down", "x-y"])
lines = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters=" $-_'\"|"), min_size=1,
                max_size=30).filter(lambda s: s.strip() and not s.strip().startswith(("`", "~")))
block = st.tuples(st.sampled_from(["sh", "bash", "shell", "yaml", "text", ""]), st.lists(lines, min_size=1, max_size=4))
section = st.tuples(st.lists(names, min_size=1, max_size=2, unique=True), st.lists(block, max_size=3))


@settings(max_examples=60, deadline=None)
@given(st.lists(section, max_size=4))
def test_sections_parse_back_to_their_shell_blocks_in_order(sections):
    text, expected = ["# runbook", "prose before any tag is not a section", "```sh", "echo untagged", "```"], {}
    for tagged, blocks in sections:
        text += ["", "## heading", f"<!-- certchaos: {', '.join(tagged)} -->", "some prose"]
        for language, body in blocks:
            text += [f"```{language}", *body, "```", "between"]
            if language in ("sh", "bash", "shell"):
                for name in tagged:
                    expected.setdefault(name, []).append("\n".join(body) + "\n")
        for name in tagged:
            expected.setdefault(name, [])
    parsed = parse("\n".join(text))
    assert {name: [step.script for step in steps] for name, steps in parsed.items()} == expected
    for steps in parsed.values():
        assert [step.index for step in steps] == list(range(1, len(steps) + 1))


def test_a_step_knows_its_line_and_tilde_fences_work():
    parsed = parse("<!-- certchaos: ca-outage -->\ntext\n~~~bash\ncertchaos lab ca up\n~~~\n")
    (step,) = parsed["ca-outage"]
    assert (step.line, step.language, step.script) == (3, "bash", "certchaos lab ca up\n")
    assert step.title == "step 1 (line 3): certchaos lab ca up"


def test_an_unclosed_block_is_an_error_naming_its_line(tmp_path):
    path = tmp_path / "r.md"
    path.write_text("<!-- certchaos: ca-outage -->\n\n```sh\necho never closed\n")
    with pytest.raises(RunbookError, match=r"r.md: line 3: code block opened with ``` is never closed"):
        load(path)


def test_a_fault_without_steps_is_refused_naming_fault_runbook_and_what_it_covers():
    runbook = parse("<!-- certchaos: webhook-down -->\n```sh\ntrue\n```\n<!-- certchaos: ca-outage -->\nprose only\n")
    with pytest.raises(RunbookError, match=r"book.md has no shell step for the failure 'ca-outage' \(its section "
                                           r"has no ```sh or ```bash block; it has steps for: webhook-down\)"):
        steps_for(runbook, "ca-outage", "book.md")
    with pytest.raises(RunbookError,
                       match=r"'dns-permission-drift' \(no section is tagged with it.*nothing was injected"):
        steps_for(runbook, "dns-permission-drift", "book.md")


def test_the_shipped_good_runbook_covers_every_game_fault_and_the_broken_one_only_the_webhook():
    good = load(os.path.join(EXAMPLES, "cert-manager-oncall.md"))
    assert all(steps_for(good, name, "good") for name in CATALOGUE)
    broken = load(os.path.join(EXAMPLES, "broken-webhook.md"))
    assert [name for name in CATALOGUE if broken.get(name)] == ["webhook-down"]


def _step(script: str) -> Step:
    return Step(1, 1, "sh", script)


def test_a_step_runs_with_the_given_environment_and_stops_at_the_first_failing_command(tmp_path):
    env = {**os.environ, "GAMEDAY_NAMESPACE": "ns-1"}
    ok = run_step(_step('echo "in $GAMEDAY_NAMESPACE at $PWD"\n'), env, 10, tmp_path)
    assert (ok.ok, ok.exit_code, ok.output) == (True, 0, f"in ns-1 at {tmp_path}\n")
    failed = run_step(_step("echo one\nfalse\necho never\n"), env, 10, tmp_path)
    assert (failed.ok, failed.exit_code, failed.output) == (False, 1, "one\n")
    piped = run_step(_step("false | cat\n"), env, 10, tmp_path)
    assert piped.exit_code == 1  # pipefail: a failing command in a pipe fails the step


def test_a_step_past_its_timeout_is_killed_with_everything_it_started(tmp_path):
    marker = tmp_path / "child.pid"
    started = time.monotonic()
    result = run_step(_step(f"sleep 300 & echo $! > {marker}\necho waiting\nwait\n"), dict(os.environ), 1.5, tmp_path)
    assert time.monotonic() - started < 15
    assert result.exit_code is None and not result.ok
    assert "waiting" in result.output and "killed after the step timeout of 1.5s" in result.output
    child = int(marker.read_text())

    def gone() -> Seen:
        try:
            state = open(f"/proc/{child}/stat").read().split()[2]
        except FileNotFoundError:
            return Seen(True, "gone")
        return Seen(state == "Z", state)

    wait_for(gone, subject=f"the step's background child {child}", expected="killed", timeout=5)  # reaped async
