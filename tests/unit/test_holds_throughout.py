"""holds_throughout and holds_until: one failing or raising sample makes the promise hopeless at once; a
window of samples that all held passes once it is long enough. Hypothesis drives sequences of ok / fail /
raise samples on a fake clock and compares with a model."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.observe.conditions.general import holds_throughout, holds_until
from harness.wait import Hopeless, Seen, wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def scripted(samples: list[str]):
    """A condition that answers the scripted samples in turn: 'ok', 'fail' or 'raise'."""
    answers = iter(samples)

    def condition() -> Seen:
        sample = next(answers)
        if sample == "raise":
            raise ConnectionError("apiserver refused the connection")
        return Seen(sample == "ok", f"sample {sample}")

    return condition


samples = st.lists(st.sampled_from(["ok", "fail", "raise"]), min_size=1, max_size=30)
steps = st.floats(min_value=0.0, max_value=5.0, allow_nan=False)


@given(samples=samples, step=steps, window=st.floats(min_value=0.0, max_value=40.0, allow_nan=False))
def test_the_first_bad_sample_is_hopeless_and_good_samples_hold_once_the_window_passed(samples, step, window):
    clock = Clock()
    condition = holds_throughout(scripted(samples), window, clock=clock)
    first = clock.now
    for sample in samples:
        if sample != "ok":
            with pytest.raises(Hopeless) as raised:
                condition()
            assert ("ConnectionError" in str(raised.value)) == (sample == "raise")
            assert "sample fail" in str(raised.value) or sample == "raise"
            return  # the expectation has failed: nothing after it may count
        seen = condition()
        held = round(clock.now - first, 1)
        assert seen.ok == (held >= window) and seen.state == {"held_for": held, "state": "sample ok"}
        clock.now += step


@given(samples=samples)
def test_a_flicker_is_never_forgotten(samples):
    """However many good samples follow a bad one, the condition never holds again."""
    clock = Clock()
    condition = holds_throughout(scripted(["ok", "fail"] + samples), 0, clock=clock)
    assert condition()
    for _ in range(len(samples) + 1):
        with pytest.raises(Hopeless):
            condition()


def test_wait_for_stops_at_the_flicker_instead_of_restarting_the_window():
    with pytest.raises(Hopeless, match="stopped holding after .*sample fail"):
        wait_for(holds_throughout(scripted(["ok", "fail"] + ["ok"] * 50), 0.3), subject="Certificate ns/web",
                 expected="stays Ready", timeout=5, interval=0.01)


@given(invariant=samples, goal=st.lists(st.booleans(), min_size=30, max_size=30))
def test_holds_until_the_goal_while_the_invariant_holds_and_gives_up_when_it_breaks(invariant, goal):
    goals = iter(goal)
    condition = holds_until(scripted(invariant), lambda: Seen(next(goals), "goal"))
    for index, sample in enumerate(invariant):
        if sample != "ok":
            with pytest.raises(Hopeless):
                condition()
            return
        assert condition().ok == goal[index]
