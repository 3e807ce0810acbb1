"""The replay at production time scale: series encoding, promtool's output read back, and whole replays of
recorded journals with the real promtool (a short production lifetime keeps them fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from harness.alerts import replay
from harness.alerts.rules import DAY
from harness.errors import HarnessError
from harness.observe import metrics
from harness.report.journal import Clock, EntryKind, Journal, ScenarioInfo

# A 10-day production lifetime (scale 240 over the lab's hour): the horizon is 2880 promtool steps.
SCALE = 240
LIFETIME = 3600 * SCALE
LABELS = {"name": "web", "namespace": "ns", "issuer_name": "pebble", "issuer_kind": "Issuer",
          "issuer_group": "cert-manager.io"}


def _unexpand(text: str) -> list[float | None]:
    values: list[float | None] = []
    for part in text.split():
        value, _, count = part.partition("x")
        if value == "_":
            values += [None] * int(count)
        else:
            values += [float(value)] * (int(count) + 1 if count else 1)
    return values


@given(st.lists(st.tuples(st.integers(0, 40), st.one_of(st.none(), st.integers(-5, 5))), max_size=8),
       st.integers(1, 50))
def test_expanding_notation_holds_each_value_until_the_next_change(points, steps):
    encoded = replay._expand([(at * replay.STEP, None if v is None else float(v)) for at, v in points], steps)
    values = _unexpand(encoded)
    assert len(values) == steps
    for step in range(steps):
        earlier = [v for at, v in sorted(points, key=lambda p: p[0]) if at <= step]
        # the last point at or before this step wins (several at one step: the last given)
        expected = [v for at, v in points if at == max(a for a, _ in points if a <= step)][-1] if earlier else None
        assert values[step] == (None if expected is None else float(expected))


def test_promtools_failures_are_read_as_alerts_firing_at_times():
    output = """Unit Testing:  t.yml
  FAILED:
    alertname: A, time: 1w6d, 
        exp:[], 
        got:[
            0:
              Labels:{alertname="A", name="web", namespace="ns"}
              Annotations:{}
            ]
"""
    assert replay.firings(output) == {("A", 13 * DAY): [{"alertname": "A", "name": "web", "namespace": "ns"}]}
    assert replay.parse_duration("1d2h5m") == DAY + 2 * 3600 + 300
    with pytest.raises(HarnessError):
        replay.parse_duration("5q")


class _Clock:
    def __init__(self):
        self.now = 1_700_000_000.0


def _drift_journal(path: Path, renewed: bool = False, fault: bool = True) -> Path:
    """A renewal blocked by a fault at the lab's scale: certificate issued, fault, (maybe) a new one."""
    clock = _Clock()
    journal = Journal(path, ScenarioInfo("scenarios/test_x.py::t", "permission drift"),
                      clock=Clock(lambda: clock.now, lambda: clock.now), environment={})

    def sample(name, value, **extra):
        journal.record(EntryKind.METRIC_SAMPLE, name, labels={**LABELS, **extra}, value=value)

    issued = clock.now
    sample(metrics.CERTIFICATE_READY_STATUS, 1, condition="True")
    sample(metrics.CERTIFICATE_EXPIRATION, issued + 3600)
    sample(metrics.CERTIFICATE_RENEWAL, issued + 2400)
    clock.now += 30
    if fault:
        journal.record(EntryKind.FAULT_APPLIED, "TsigPolicyNarrowed(...)", fault_id=1, description="permission drift")
    clock.now += 60
    if renewed:
        sample(metrics.CERTIFICATE_EXPIRATION, clock.now + 3600)
        sample(metrics.CERTIFICATE_RENEWAL, clock.now + 2400)
    clock.now += 10
    if fault:
        journal.record(EntryKind.FAULT_REVERTED, "TsigPolicyNarrowed(...)", fault_id=1)
    journal.save()
    return path


def _rules(tmp_path: Path, *rules: str) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text("groups:\n- name: mine\n  rules:\n" + "".join(rules))
    return path


def _expires_within(name: str, seconds: int) -> str:
    return (f"  - alert: {name}\n    expr: certmanager_certificate_expiration_timestamp_seconds > 0 and "
            f"certmanager_certificate_expiration_timestamp_seconds - time() < {seconds}\n"
            f"    labels: {{severity: page}}\n")


def test_the_story_maps_the_renewal_time_to_the_fault_and_the_expiry_to_the_lifetime(tmp_path: Path):
    story = replay.story(Journal.load(_drift_journal(tmp_path / "j" / "journal.json")), SCALE)
    assert story.expiry == LIFETIME and story.horizon == LIFETIME and story.ends_in_expiry
    assert story.fault_at == LIFETIME * 2 / 3  # renewal time: 1200 s before expiry, times the scale
    expiry = next(points for (name, _), points in story.series.items() if name == metrics.CERTIFICATE_EXPIRATION)
    assert expiry == [(0.0, LIFETIME)]


def test_a_stalled_renewal_is_paged_with_the_notice_before_expiry(tmp_path: Path):
    _drift_journal(tmp_path / "run" / "a" / "journal.json")
    rules = _rules(tmp_path, _expires_within("ExpiresWithin3Days", 3 * DAY))
    [outcome] = replay.replay(tmp_path / "run", rules, "replace", SCALE, min_notice=2 * DAY)
    assert outcome.verdict == "paged" and outcome.first_firing == {"ExpiresWithin3Days": LIFETIME - 3 * DAY + replay.STEP}
    assert ("permission drift from day 6.7: first page at day 7.0 (ExpiresWithin3Days, 8.1 h after the fault), "
            "3.0 days before expiry") in outcome.describe()


def test_a_rule_built_to_be_too_late_is_reported_as_too_late(tmp_path: Path):
    _drift_journal(tmp_path / "run" / "a" / "journal.json")
    rules = _rules(tmp_path, _expires_within("ExpiresWithinADay", DAY))
    [outcome] = replay.replay(tmp_path / "run", rules, "replace", SCALE, min_notice=2 * DAY)
    assert outcome.verdict == "too late", outcome.describe()
    assert "TOO LATE" in outcome.describe() and "1.0 days before expiry" in outcome.describe()


def test_a_rule_that_never_fires_for_a_failure_ending_in_expiry_is_a_gap(tmp_path: Path):
    _drift_journal(tmp_path / "run" / "a" / "journal.json")
    rules = _rules(tmp_path, "  - alert: NeverReady\n    expr: certmanager_certificate_ready_status{condition=\"False\"} == 1\n")
    [outcome] = replay.replay(tmp_path / "run", rules, "replace", SCALE)
    assert outcome.verdict == "gap" and "no page before the certificate expired (day 10.0)" in outcome.describe()


def test_a_renewal_that_succeeded_during_the_fault_does_not_page(tmp_path: Path):
    _drift_journal(tmp_path / "run" / "a" / "journal.json", renewed=True)
    rules = _rules(tmp_path, _expires_within("ExpiresWithin3Days", 3 * DAY))
    [outcome] = replay.replay(tmp_path / "run", rules, "replace", SCALE)
    assert not outcome.story.ends_in_expiry and outcome.first_firing == {} and outcome.verdict == "absorbed"
