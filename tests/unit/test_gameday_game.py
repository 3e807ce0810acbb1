"""The game's bookkeeping on a fake clock: the team's marks land in the journal with their time since the
injection, `fixed` says whether the harness saw the system healthy then, the monitor records the symptom
(detects) and the first healthy poll (recovered), the interactive loop ends on quit, on recovery after
`fixed`, or at the deadline; the seeded choice is reproducible; the report draws the team's lane."""

from __future__ import annotations

import itertools
import queue
import random
import threading
import xml.etree.ElementTree as ET

import pytest

from harness.chaos.scenario import Scenario
from harness.errors import HarnessError
from harness.gameday import game as game_module
from harness.gameday.catalogue import CATALOGUE, choose
from harness.gameday.game import GameDay, Monitor
from harness.gameday.status import PlainBoard, plain_line
from harness.report.html import timeline_svg
from harness.report.journal import Clock, EntryKind, Journal, ScenarioInfo, Status, time_to_recover
from harness.wait import Seen


class FakeTime:
    def __init__(self):
        self.now = 100.0

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.now, wall=lambda: 1_700_000_000.0 + self.now)


class FakeMonitor:
    def __init__(self, healthy: bool):
        self.healthy = healthy
        self.latest = {"Certificate web": "Ready"}
        self.recovered_after = None
        self.recovered = threading.Event()

    def _healthy(self) -> Seen:
        return Seen(self.healthy, {"webhook": "admits changes" if self.healthy else "changes rejected: HTTP 500"})


def game(tmp_path, healthy=False, deadline=600.0):
    time = FakeTime()
    journal = Journal(tmp_path / "gameday" / "journal.json", ScenarioInfo("gameday::webhook-down"), clock=time.clock(),
                      environment={})
    said: list[str] = []
    play = GameDay(None, CATALOGUE["webhook-down"], Scenario(journal), deadline=deadline, reveal=False, say=said.append)
    play.injected_at = journal.now()
    play.monitor = FakeMonitor(healthy)
    return play, time, said


def test_marks_are_recorded_with_their_time_since_the_injection(tmp_path):
    play, time, said = game(tmp_path)
    time.now += 12.5
    assert play.command("ack") is False
    time.now += 3
    play.command("note  looking at the webhook ")
    play.command("bogus")
    team = [e for e in play.journal.entries if e.kind is EntryKind.TEAM]
    assert [(e.subject, round(e.detail["after"], 1), e.detail.get("text")) for e in team] == [
        ("ack", 12.5, None), ("note", 15.5, "looking at the webhook")]
    assert play.outcome.acknowledged_after == pytest.approx(12.5)
    assert "unknown command 'bogus'" in said[-1]
    assert play.snapshot()["marks"] == ["ack +12s", "note +16s looking at the webhook"]


def test_fixed_says_whether_the_harness_saw_the_system_healthy_at_that_moment(tmp_path):
    play, time, said = game(tmp_path)
    time.now += 30
    play.command("fixed")
    play.monitor.healthy = True
    time.now += 10
    play.command("fixed")
    assert play.outcome.fixed_marks == [{"after": 30.0, "true_at_the_time": False},
                                        {"after": 40.0, "true_at_the_time": True}]
    fixed = [e for e in play.journal.entries if e.kind is EntryKind.TEAM and e.subject == "fixed"]
    assert fixed[0].detail["health"] == {"webhook": "changes rejected: HTTP 500"}
    assert "does not see it healthy yet" in said[0] and said[2] == "the harness agrees: healthy"


def test_the_fault_is_named_only_when_revealed(tmp_path):
    play, _, said = game(tmp_path)
    play.command("ack")
    assert not any("webhook-down" in line for line in said) and "webhook-down" not in plain_line(play.snapshot())
    play.command("reveal")
    assert any("the fault is webhook-down" in line for line in said)


def test_the_interactive_loop_ends_on_recovery_after_fixed_and_on_quit(tmp_path):
    play, time, _ = game(tmp_path)
    commands: queue.Queue = queue.Queue()
    for line in ("ack\n", "fixed\n"):
        commands.put(line)
    play.monitor.recovered.set()
    shown = []
    play.play_interactively(commands, shown.append)
    assert play.outcome.ended == "recovered" and shown

    play, _, _ = game(tmp_path)
    commands = queue.Queue()
    commands.put("quit\n")
    play.play_interactively(commands, lambda snapshot: None)
    assert play.outcome.ended == "quit"


def test_the_interactive_loop_ends_at_the_deadline(tmp_path):
    play, time, _ = game(tmp_path, deadline=60)
    commands: queue.Queue = queue.Queue()
    commands.put(None)  # end of input: the game goes on until the deadline

    def refresh(snapshot):
        time.now += 20  # each refresh is a tick of the fake clock

    play.play_interactively(commands, refresh)
    assert play.outcome.ended == "deadline" and play.status() is Status.DEVIATED


def test_the_monitor_records_the_symptom_once_and_the_first_healthy_poll_as_recovery(tmp_path, monkeypatch):
    monkeypatch.setattr(game_module, "MONITOR_INTERVAL", 0.01)
    journal = Journal(tmp_path / "j.json", ScenarioInfo("gameday::x"), environment={})
    scenario = Scenario(journal)
    health = iter([False, False, True])
    symptom = itertools.chain([False], itertools.repeat(True))
    monitor = Monitor(scenario, lambda: (lambda ok: Seen(ok, {"ok": ok}))(next(health, True)),
                      lambda: Seen(next(symptom), "refused"), fault_id=1, injected_at=journal.now(), deadline=30)
    monitor.start()
    assert monitor.recovered.wait(10)
    monitor.stop()
    kinds = [(e.kind, e.subject) for e in journal.entries]
    assert kinds.count((EntryKind.EXPECTATION_MET, "the injected fault")) == 1
    assert kinds.count((EntryKind.GAME, "recovered")) == 1
    observed = [e.detail["state"] for e in journal.entries if e.kind is EntryKind.OBSERVED]
    assert observed == [{"ok": False}, {"ok": True}]  # transitions only
    assert time_to_recover(journal.entries) == pytest.approx(monitor.recovered_after)
    assert 0 < monitor.detected_after <= monitor.recovered_after


def test_the_seeded_choice_is_reproducible_and_a_wrong_name_is_one_clear_error():
    assert {choose(None, random.Random(7)).name for _ in range(5)} == {choose("random", random.Random(7)).name}
    assert {choose(None, random.Random(seed)).name for seed in range(40)} == set(CATALOGUE)
    assert choose("ca-outage", random.Random(1)) is CATALOGUE["ca-outage"]
    with pytest.raises(HarnessError, match=r"--scenario 'dns': no such game fault. Choose one of ca-outage, "
                                           r"dns-credential-revoked, dns-permission-drift, route53-access-key-"
                                           r"deactivated, route53-permission-drift, route53-policy-detached, "
                                           r"webhook-down or random"):
        choose("dns", random.Random(1))


def test_without_the_labs_aws_api_a_route53_fault_is_never_drawn_and_naming_one_is_refused():
    drawn = {choose(None, random.Random(seed), aws_api=False).name for seed in range(40)}
    assert drawn == {name for name, fault in CATALOGUE.items() if not fault.route53} == {
        "ca-outage", "dns-credential-revoked", "dns-permission-drift", "webhook-down"}
    assert choose("route53-permission-drift", random.Random(1)).route53  # a lab with the AWS API plays it
    with pytest.raises(HarnessError, match=r"--scenario route53-policy-detached: .*Route 53 on the lab's AWS API.*"
                                           r"capability aws_api\). Fix: a lab of local or kind, or one of ca-outage, "):
        choose("route53-policy-detached", random.Random(1), aws_api=False)


def test_the_plain_board_prints_a_line_only_when_something_shown_changed(capsys):
    board = PlainBoard()
    snapshot = {"elapsed": 1.0, "deadline": 900.0, "marks": [], "health": {"webhook": "admits"},
                "recovered_after": None}
    board.show(snapshot)
    board.show({**snapshot, "elapsed": 2.0})
    board.show({**snapshot, "marks": ["ack +2s"]})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "marks: ack +2s" in lines[1] and "not recovered" in lines[0]


def test_the_report_draws_the_team_lane_and_the_recovery_mark(tmp_path):
    play, time, _ = game(tmp_path)
    time.now += 20
    play.command("ack")
    time.now += 40
    play.command("fixed")
    play.journal.record(EntryKind.RUNBOOK_STEP, "step 1 (line 3): kubectl get x", exit_code=1, output="NotFound",
                        started=play.journal.now() - 2)
    time.now += 5
    play.journal.record(EntryKind.GAME, "recovered", time_to_recover=65.0)
    svg = ET.fromstring(timeline_svg(play.journal))
    ns = "{http://www.w3.org/2000/svg}"
    lane = next(g for g in svg.iter(f"{ns}g") if g.get("data-lane") == "team (game day)")
    titles = [el.find(f"{ns}title").text for el in lane if el.find(f"{ns}title") is not None]
    assert any(t.startswith("team: ack") for t in titles)
    assert any("team: fixed (NOT true at the time)" in t for t in titles)
    assert any(t.startswith("runbook step 1 (line 3): kubectl get x: exit 1") for t in titles)
    marks = [g for g in svg.iter(f"{ns}g") if "recover" in (g.get("class") or "")]
    assert [m.find(f"{ns}text").text for m in marks] == ["recovered +65.0s (65.0s after the injection)"]


def test_the_live_board_shows_elapsed_time_health_and_marks_without_the_fault(tmp_path):
    import io

    from rich.console import Console

    from harness.gameday.status import LiveBoard

    out = io.StringIO()
    play, time, _ = game(tmp_path)
    time.now += 42
    play.command("ack")
    with LiveBoard(Console(file=out, force_terminal=True, width=120, color_system=None)) as board:
        board.show(play.snapshot())
        board.say("marked ack")
    text = out.getvalue()
    assert "42s of 600s" in text and "ack +42s" in text and "not recovered" in text
    assert "Certificate web" in text and "webhook-down" not in text and "marked ack" in text
