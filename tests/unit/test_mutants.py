"""Mutation testing: the catalogue as data, exact patch application, cache keys, verdicts, score, report."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import stat
import sys
import time
from dataclasses import replace
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, strategies as st

from harness.cli import mutants as mutants_cli
from harness.errors import HarnessError
from harness.wait import Seen, wait_for
from harness.mutants import build, catalogue, patch, report, runner
from harness.mutants.catalogue import Edit, Mutant
from harness.mutants.runner import EQUIVALENT, KILLED, NOT_BUILT, RUN_ERROR, STATUSES, SURVIVED, TIMED_OUT, Outcome

# The behaviours the catalogue claims to check; each needs at least one mutant (matched in `behaviour`).
BEHAVIOURS = ("issuance backoff", "failure counter", "renewal time", "challenge retries", "DNS-01 timing",
              "key rotation", "metrics", "webhook validation", "leader election", "ACME errors")


def mutant(name="m", edits=(Edit("a.go", "x := 1", "x := 2"),), binaries=("cert-manager-controller",),
           owner="lag", needs="a check") -> Mutant:
    return Mutant(name, "some behaviour", owner, needs, tuple(binaries), tuple(edits))


def cli(argv: list[str]) -> int:
    """`certchaos <argv>` through the mutants subcommands alone (what main adds is tested with main)."""
    parser = argparse.ArgumentParser(prog="certchaos")
    mutants_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def pinned_source() -> Path:
    folder = Path.home() / "go/pkg/mod/github.com/cert-manager/cert-manager@v1.11.5"
    if not folder.is_dir():
        pytest.skip(f"the pinned cert-manager source is not in the Go module cache ({folder})")
    return folder


# --- the catalogue -------------------------------------------------------------------------------------------

def test_every_behaviour_of_the_catalogue_has_a_mutant():
    behaviours = [m.behaviour for m in catalogue.load()]
    assert [b for b in BEHAVIOURS if not any(found.startswith(b) for found in behaviours)] == []


def test_every_mutant_applies_exactly_to_the_pinned_source(tmp_path):
    source = pinned_source()
    for m in catalogue.load():
        copy = tmp_path / m.name
        for file in m.files:
            (copy / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / file, copy / file)
        patch.apply(m, copy)
        for edit in m.edits:
            assert edit.replace in (copy / edit.file).read_text(), m.name


@pytest.mark.parametrize("field, value, message", [
    ("name", "Not Kebab", "kebab-case"),
    ("binaries", ["kube-apiserver"], "rebuilds kube-apiserver"),
    ("needs", "", "lacks needs"),
    ("edit", [{"file": "a.go", "search": "x", "replace": "x"}], "not a file/search/replace change"),
])
def test_a_malformed_mutant_is_refused_with_its_name(tmp_path, field, value, message):
    entry = {"name": "ok-name", "behaviour": "b", "owner": "o", "needs": "n", "binaries": ["cert-manager-controller"],
             "edit": [{"file": "a.go", "search": "x", "replace": "y"}]}
    entry[field] = value
    path = tmp_path / "catalogue.toml"
    path.write_text(_toml([entry]))
    with pytest.raises(HarnessError, match=message):
        catalogue.load(path)


def test_duplicate_and_unknown_names_are_refused(tmp_path):
    entry = {"name": "twin", "behaviour": "b", "owner": "o", "needs": "n", "binaries": ["cert-manager-controller"],
             "edit": [{"file": "a.go", "search": "x", "replace": "y"}]}
    path = tmp_path / "catalogue.toml"
    path.write_text(_toml([entry, entry]))
    with pytest.raises(HarnessError, match="two mutants are named 'twin'"):
        catalogue.load(path)
    with pytest.raises(HarnessError, match="unknown mutant.*nope"):
        catalogue.select(catalogue.load(), ["nope"])


def _toml(entries: list[dict]) -> str:
    lines = []
    for entry in entries:
        lines.append("[[mutant]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in entry.items() if key != "edit"]
        for edit in entry["edit"]:
            lines.append("[[mutant.edit]]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in edit.items()]
    return "\n".join(lines) + "\n"


# --- patch application ---------------------------------------------------------------------------------------

def test_a_patch_applies_exactly_once_and_leaves_the_rest_alone(tmp_path):
    (tmp_path / "a.go").write_text("package a\nx := 1\ny := 1\n")
    patch.apply(mutant(), tmp_path)
    assert (tmp_path / "a.go").read_text() == "package a\nx := 2\ny := 1\n"


@pytest.mark.parametrize("text, what", [("package a\n", "not found"), ("x := 1\nx := 1\n", "found 2 times")])
def test_a_patch_that_no_longer_applies_names_mutant_and_file(tmp_path, text, what):
    (tmp_path / "a.go").write_text(text)
    with pytest.raises(patch.PatchDoesNotApply, match=f"mutant stale: its edit of a.go no longer applies .*{what}"):
        patch.apply(mutant("stale"), tmp_path)


def test_a_missing_file_and_a_failing_second_edit_write_nothing(tmp_path):
    with pytest.raises(patch.PatchDoesNotApply, match="b.go .*no such file"):
        patch.apply(mutant(edits=(Edit("b.go", "a", "b"),)), tmp_path)
    (tmp_path / "a.go").write_text("x := 1\n")
    two = mutant(edits=(Edit("a.go", "x := 1", "x := 2"), Edit("a.go", "gone", "here")))
    with pytest.raises(patch.PatchDoesNotApply):
        patch.apply(two, tmp_path)
    assert (tmp_path / "a.go").read_text() == "x := 1\n"


# --- cache keys ----------------------------------------------------------------------------------------------

def test_the_cache_key_is_source_version_and_what_the_patch_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path))
    base = mutant()
    assert build.mutant_dir(base, "v1.11.5") == tmp_path / "mutants" / f"cert-manager-v1.11.5-{base.patch_hash}"
    assert build.mutant_dir(base, "v1.11.4") != build.mutant_dir(base, "v1.11.5")
    # Prose does not change what is built; the edits and the binaries do.
    assert replace(base, name="other", behaviour="b", owner="o", needs="n").patch_hash == base.patch_hash
    assert replace(base, edits=(Edit("a.go", "x := 1", "x := 3"),)).patch_hash != base.patch_hash
    assert replace(base, edits=(Edit("b.go", "x := 1", "x := 2"),)).patch_hash != base.patch_hash
    assert replace(base, binaries=("cert-manager-webhook",)).patch_hash != base.patch_hash


def test_a_cached_mutant_is_not_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path))
    m = mutant()
    folder = build.mutant_dir(m)
    folder.mkdir(parents=True)
    binary = folder / "cert-manager-controller"
    binary.write_text("#!/bin/sh\n")
    assert not build.is_built(m)  # no manifest: a half-written directory is not a build
    (folder / build.MANIFEST).write_text("{}")
    assert not build.is_built(m)  # not executable
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    assert build.is_built(m)
    monkeypatch.setattr(build.shutil, "which", lambda name: pytest.fail("a cached mutant must not look for go"))
    built = build.build(m)
    assert (built.bin_dir, built.cached, built.seconds) == (folder, True, 0.0)


def test_an_alternate_modfile_replaces_the_module_and_sits_beside_its_sum(tmp_path):
    modfile = build.alternate_modfile(tmp_path, tmp_path / "copy")
    assert modfile.read_text().endswith(f"\nreplace github.com/cert-manager/cert-manager => {tmp_path / 'copy'}\n")
    assert (tmp_path / "mutant.go.sum").read_text() == (build.WRAPPER / "go.sum").read_text()


# --- verdicts ------------------------------------------------------------------------------------------------

def write_run(folder: Path, failures: dict[str, str], passed=()):
    """A `certchaos run` report: junit with the failed tests, a journal with each one's verdict."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = [f'<testcase classname="scenarios.test_lag" name="{name}"><failure message="x"/></testcase>'
             for name in failures] + [f'<testcase classname="scenarios.test_lag" name="{name}"/>' for name in passed]
    (folder / "junit.xml").write_text(f'<testsuites><testsuite>{"".join(cases)}</testsuite></testsuites>')
    for name, status in failures.items():
        (folder / name).mkdir()
        (folder / name / "journal.json").write_text(json.dumps(
            {"scenario": {"node_id": f"scenarios/test_lag.py::{name}"}, "status": status}))


def test_a_deviated_scenario_kills_a_harness_error_does_not(tmp_path):
    write_run(tmp_path / "a", {"test_waits": "deviated", "test_other": "harness-error"}, passed=["test_ok"])
    assert runner.classify(1, tmp_path / "a") == (KILLED, ["test_lag.py::test_waits"], "")
    write_run(tmp_path / "b", {"test_other": "harness-error"})
    status, killers, detail = runner.classify(1, tmp_path / "b")
    assert (status, killers) == (RUN_ERROR, []) and "test_lag.py::test_other (harness-error)" in detail
    write_run(tmp_path / "c", {}, passed=["test_ok"])
    assert runner.classify(0, tmp_path / "c") == (SURVIVED, [], "")
    (tmp_path / "d").mkdir()  # the lab never started: no junit at all
    assert runner.classify(2, tmp_path / "d")[0] == RUN_ERROR


def test_a_run_stopped_before_its_end_is_a_kill_when_a_scenario_had_already_deviated(tmp_path):
    """Seen in a sample: a mutant that broke every ACME issuance deviated 7 scenarios, then the run hit its
    15 min timeout waiting for the rest; the deviations are the detection, the stop only the end."""
    write_run(tmp_path / "a", {"test_waits": "deviated", "test_other": "interrupted"})
    status, killers, detail = runner.classify_stopped(tmp_path / "a", 900)
    assert (status, killers) == (KILLED, ["test_lag.py::test_waits"]) and "stopped" in detail
    write_run(tmp_path / "b", {"test_other": "interrupted"})
    assert runner.classify_stopped(tmp_path / "b", 900)[:2] == (TIMED_OUT, [])


def test_a_mutants_run_stops_at_the_first_deviated_scenario(tmp_path, monkeypatch):
    """One deviation kills the mutant: the run is stopped then, not left to finish its other scenarios."""
    monkeypatch.setattr(runner, "POLL_EVERY", 0.1)
    journal = tmp_path / "report" / "test_waits" / "journal.json"
    # The child plays a run whose first scenario deviates at once and whose second would take a minute.
    script = (f"import json, pathlib, time; p = pathlib.Path({str(journal)!r}); p.parent.mkdir(parents=True); "
              "p.write_text(json.dumps({'scenario': {'node_id': 'scenarios/test_lag.py::test_waits'}, "
              "'status': 'deviated'})); time.sleep(60)")
    started = time.monotonic()
    stop_when = lambda: bool(runner.deviated(tmp_path / "report"))  # noqa: E731 (as run_scenarios asks)
    assert runner.run_process([sys.executable, "-c", script], tmp_path / "run.log", 300, stop_when) is None
    assert time.monotonic() - started < 30
    assert runner.classify_stopped(tmp_path / "report", 300)[:2] == (KILLED, ["test_lag.py::test_waits"])
    # Without a deviation the same poll lets the run end by itself.
    assert runner.run_process([sys.executable, "-c", "raise SystemExit(0)"], tmp_path / "ok.log", 30,
                              lambda: False) == 0


def test_a_run_past_its_timeout_is_stopped_with_its_whole_process_group(tmp_path):
    # The child ignores nothing and starts a grandchild, as `certchaos run` starts the lab's processes.
    script = ("import subprocess, sys, time; "
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
              "print(p.pid, flush=True); time.sleep(60)")
    started = time.monotonic()
    assert runner.run_process([sys.executable, "-c", script], tmp_path / "run.log", timeout=2) is None
    assert time.monotonic() - started < 30  # Ctrl-C stopped it; no wait for the grace period
    grandchild = int((tmp_path / "run.log").read_text().split()[0])
    # SIGINT ends a sleeping Python at once; 10 s is generous for a loaded machine.
    wait_for(lambda: process_gone(grandchild), subject=f"grandchild {grandchild}",
             expected="stopped with the run's process group", timeout=10)
    assert runner.run_process([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "ok.log", timeout=30) == 3


def process_gone(pid: int) -> Seen:
    """Holds once `pid` no longer runs (a zombie awaiting its reaper counts as gone); sees its state."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return Seen(True, "gone")
    return Seen(state == "Z", state)


def test_a_mutant_without_an_owning_scenario_survives_with_what_is_needed(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "collect", lambda keyword, scenarios: [])
    outcome = runner.run_mutant(mutant(owner="leader_election", needs="two controllers"), tmp_path,
                                builder=lambda m: pytest.fail("nothing to run: nothing to build"))
    assert outcome.status == SURVIVED
    assert outcome.detail == "no scenario matches -k 'leader_election'; needs: two controllers"


def test_a_stale_patch_is_not_built_and_the_other_mutants_still_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "source"
    source.mkdir()
    (source / "a.go").write_text("x := 1\n")
    monkeypatch.setattr(build, "pristine_source", lambda go, version: source)
    monkeypatch.setattr(build, "_go", lambda: "/nonexistent/go")  # never reached: the patch fails first
    stale, good = mutant("stale", edits=(Edit("a.go", "y := 1", "y := 2"),)), mutant("good")
    monkeypatch.setattr(catalogue, "load", lambda: [stale, good])
    monkeypatch.setattr(runner, "collect", lambda keyword, scenarios=runner.SCENARIOS: ["test_lag.py::test_waits"])
    good_bin = tmp_path / "good-bin"
    monkeypatch.setattr(runner, "build", lambda m: build.Built(m, good_bin, 150.0, False) if m is good else build.build(m))
    ran = []

    def fake_run(bin_dir, keyword, report_dir, **options):
        ran.append((bin_dir, keyword))
        write_run(report_dir, {"test_waits": "deviated"})
        return 1, 90.0

    monkeypatch.setattr(runner, "run_scenarios", fake_run)
    assert cli(["mutants", "run", "--report-dir", str(tmp_path / "report")]) == 0
    assert ran == [(good_bin, "lag")]
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    statuses = {m["name"]: (m["status"], m["killed_by"]) for m in data["mutants"]}
    assert statuses == {"stale": (NOT_BUILT, []), "good": (KILLED, ["test_lag.py::test_waits"])}
    assert data["score"] == 1.0 and data["counts"]["not-built"] == 1
    printed = capsys.readouterr()
    assert "mutant stale: its edit of a.go no longer applies (search text not found" in printed.err
    assert "Mutation score: **100% (1 killed / (2 total - 1 not built))**" in printed.out


# --- score and report ----------------------------------------------------------------------------------------

@given(st.lists(st.sampled_from(STATUSES), max_size=30))
def test_the_score_is_killed_over_total_minus_not_built_and_equivalent(statuses):
    outcomes = [Outcome(mutant(f"m{i}"), status) for i, status in enumerate(statuses)]
    result = report.score(outcomes)
    scored = len(statuses) - statuses.count(NOT_BUILT) - statuses.count(EQUIVALENT)
    assert (result.killed, result.total, result.not_built, result.equivalent) == (
        statuses.count(KILLED), len(statuses), statuses.count(NOT_BUILT), statuses.count(EQUIVALENT))
    if scored:
        assert result.value == pytest.approx(statuses.count(KILLED) / scored)
        assert 0.0 <= result.value <= 1.0
    else:
        assert result.value is None and str(result).startswith("n/a")


def test_the_report_lists_killers_survivors_timeouts_and_not_built(tmp_path):
    outcomes = [
        Outcome(mutant("dead"), KILLED, ["test_lag.py::test_waits"], ["test_lag.py::test_waits"],
                build_seconds=151.2, run_seconds=230.4),
        Outcome(mutant("alive", needs="the 60 s wait"), SURVIVED, ["test_lag.py::test_waits"],
                detail="needs: the 60 s wait", build_cached=True, build_seconds=0.0, run_seconds=200.0),
        Outcome(mutant("slow"), TIMED_OUT, detail="no verdict within 900 s; stopped"),
        Outcome(mutant("broken"), NOT_BUILT, detail="mutant broken: go build failed (exit 1)"),
    ]
    markdown = report.write(tmp_path, outcomes, started_at="2025-01-01T00:00:00+00:00", seconds=600,
                            source="cert-manager v1.11.5")
    assert "Mutation score: **33% (1 killed / (4 total - 1 not built))**" in markdown
    assert "| dead | some behaviour | killed | test_lag.py::test_waits | 151s / 230s |" in markdown
    assert "| alive | some behaviour | survived | needs: the 60 s wait | cached / 200s |" in markdown
    assert "## Survivors" in markdown and "- `alive` (a.go; owner -k `lag`): needs: the 60 s wait" in markdown
    assert "## Timed out" in markdown and "## Not built (left out of the score)" in markdown
    assert (tmp_path / "report.md").read_text() == markdown
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["schema"] == report.SCHEMA and data["score"] == pytest.approx(1 / 3, abs=1e-4)
    assert data["counts"] == {KILLED: 1, SURVIVED: 1, TIMED_OUT: 1, NOT_BUILT: 1, RUN_ERROR: 0, EQUIVALENT: 0,
                              "total": 4}
    assert data["mutants"][0]["killed_by"] == ["test_lag.py::test_waits"]
    assert data["mutants"][0]["files"] == ["a.go"] and data["mutants"][1]["build_cached"] is True
    classified = report.to_json(outcomes, started_at="", seconds=1, source="", notes={"slow": "hole (by hand: x)"})
    assert classified["mutants"][2]["survivor"] == "hole (by hand: x)"  # a timeout is classified as a survivor


def test_list_shows_name_behaviour_owner_and_files(capsys):
    assert cli(["mutants", "list"]) == 0
    out = capsys.readouterr().out
    for m in catalogue.load():
        assert m.name in out and f"-k {m.owner!r}" in out and ", ".join(m.files) in out


# --- thresholds and samples ----------------------------------------------------------------------------------

GO_FIXTURE = Path(__file__).resolve().parent / "data" / "mutants-go"


def fake_runs(monkeypatch, tmp_path, killed: set[str]) -> list[tuple[str, str | None]]:
    """Every mutant 'builds' at once; a run kills those named in `killed`; returns (mutant, -k) of each run."""
    monkeypatch.setattr(runner, "collect", lambda keyword, scenarios=runner.SCENARIOS: ["test_lag.py::test_waits"])
    monkeypatch.setattr(runner, "build", lambda m: build.Built(m, tmp_path / "bin" / m.name, 1.0, False))
    ran = []

    def fake_run(bin_dir, keyword, report_dir, **options):
        ran.append((bin_dir.name, keyword))
        dies = bin_dir.name in killed
        write_run(report_dir, {"test_waits": "deviated"} if dies else {}, passed=[] if dies else ["test_waits"])
        return (1 if dies else 0), 60.0

    monkeypatch.setattr(runner, "run_scenarios", fake_run)
    return ran


@pytest.mark.parametrize("threshold, code", [([], 0), (["--min-score", "50"], 0), (["--min-score", "50.5"], 1)])
def test_run_exits_1_when_the_score_is_below_min_score(tmp_path, monkeypatch, capsys, threshold, code):
    alive = mutant("alive", edits=(Edit("a.go", "x := 1", "x := 3"),))  # a patch of its own: a run dir of its own
    monkeypatch.setattr(catalogue, "load", lambda: [mutant("dead"), alive])
    fake_runs(monkeypatch, tmp_path, killed={"dead"})
    assert cli(["mutants", "run", "--report-dir", str(tmp_path / "report"), *threshold]) == code
    assert ("is below --min-score 50.5 %" in capsys.readouterr().out) == (code == 1)


def test_no_score_misses_any_threshold_and_a_bad_threshold_exits_2(capsys):
    nothing_built = report.Score(killed=0, total=2, not_built=2)
    assert mutants_cli.below(nothing_built, 1) and not mutants_cli.below(nothing_built, 0)
    assert not mutants_cli.below(report.Score(killed=3, total=4, not_built=0), 75)
    from harness.cli import main
    assert main.main(["mutants", "run", "--min-score", "101"]) == 2
    assert "--min-score 101.0: give a percentage from 0 to 100" in capsys.readouterr().err


def use_go_fixture(monkeypatch):
    """`mutants sample` reads the fixture tree's two packages instead of the pinned cert-manager source."""
    from harness.mutants import generate
    monkeypatch.setattr(build, "pinned_source", lambda: GO_FIXTURE)
    monkeypatch.setattr(generate, "PACKAGES", {"demo": ("pkg/demo", generate.CONTROLLER),
                                               "other": ("pkg/other", generate.WEBHOOK)})


@given(st.integers(0, 2**32), st.integers(1, 8), st.sets(st.integers(0, 16), max_size=8))
def test_a_draw_past_equivalent_mutants_keeps_its_picks_and_holds_count_others(seed, count, shown):
    from harness.mutants import generate
    from harness.mutants import sample as sampling
    fixture = {"demo": ("pkg/demo", generate.CONTROLLER), "other": ("pkg/other", generate.WEBHOOK)}
    with mock.patch.dict(generate.PACKAGES, fixture, clear=True):
        candidates = generate.generate(GO_FIXTURE)
    equivalent = frozenset(sorted(c.mutant.name for c in candidates)[index] for index in shown
                           if index < len(candidates))
    plain = sampling.draw(candidates, seed, count)
    drawn = sampling.draw(candidates, seed, count, equivalent)
    assert set(plain) <= set(drawn) and sum(c.mutant.name not in equivalent for c in drawn) == count
    assert drawn == sampling.draw(candidates, seed, count, equivalent)  # the same inputs, the same draw


def test_a_dry_run_lists_the_sample_and_checks_each_applies_without_building(tmp_path, monkeypatch, capsys):
    use_go_fixture(monkeypatch)
    ran = fake_runs(monkeypatch, tmp_path, killed=set())
    argv = ["mutants", "sample", "--seed", "1", "--count", "5", "--dry-run", "--classes", str(tmp_path / "none")]
    assert cli(argv) == 0
    first = capsys.readouterr().out
    assert "seed 1, 5 of " in first and "5 of 5 apply exactly once (dry run: nothing built)" in first
    assert re.search(r"^gen-\S+  pkg/\w+/\w+\.go:\d+  [a-z-]+  runs the whole catalogue, ~\d+ min$", first,
                     re.MULTILINE)  # test_lag.py::test_waits is not measured: it counts as the longest scenario
    assert re.search(r"^    - .*\n    \+ ", first, re.MULTILINE)
    assert ran == [] and not (tmp_path / "bin").exists()
    assert cli(argv) == 0 and capsys.readouterr().out == first  # the same seed, the same sample


def test_a_sample_runs_against_the_whole_catalogue_and_reports_seed_killers_and_survivors(tmp_path, monkeypatch,
                                                                                          capsys):
    use_go_fixture(monkeypatch)
    from harness.mutants import generate
    from harness.mutants import sample as sampling
    first = sampling.draw(generate.generate(GO_FIXTURE), seed=4, count=3)
    killed, equivalent = first[0].mutant.name, first[1].mutant.name
    # Shown equivalent, it is neither run nor scored: the draw grows by one and keeps its other picks.
    drawn = sampling.draw(generate.generate(GO_FIXTURE), seed=4, count=3, equivalent=frozenset({equivalent}))
    assert len(drawn) == 4 and set(first) <= set(drawn)
    classes = tmp_path / "survivors.toml"
    classes.write_text(f'[{equivalent}]\nclass = "equivalent"\nwhy = "nothing reads it"\n')
    ran = fake_runs(monkeypatch, tmp_path, killed={killed})
    argv = ["mutants", "sample", "--seed", "4", "--count", "3", "--report-dir", str(tmp_path / "report"),
            "--classes", str(classes), "--min-score", "50"]
    assert cli(argv) == 1  # 1 of 3 killed: 33 % < 50 %
    others = [c for c in drawn if c.mutant.name != equivalent]
    assert ran == [(c.mutant.name, None) for c in others]  # no -k: the whole catalogue
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    assert data["sample"]["seed"] == 4 and data["sample"]["count"] == 3 and data["score"] == round(1 / 3, 4)
    entries = {m["name"]: m for m in data["mutants"]}
    assert list(entries) == [c.mutant.name for c in drawn]
    assert entries[killed]["killed_by"] == ["test_lag.py::test_waits"] and entries[killed]["owner"] is None
    assert entries[equivalent]["status"] == "equivalent" and "nothing reads it" in entries[equivalent]["detail"]
    assert all("unknown without coverage data" in entries[c.mutant.name]["survivor"] for c in others[1:])
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "Sample: seed 4; count 3; equivalent drawn 1; generated 17; packages demo, other;" in markdown
    assert "33% (1 killed / (4 total - 0 not built - 1 equivalent))" in markdown
    assert "owner: the whole catalogue" in markdown


def test_a_mutant_shown_not_executed_by_hand_is_not_run_and_counts_against_the_score(tmp_path, monkeypatch):
    use_go_fixture(monkeypatch)
    from harness.mutants import generate
    from harness.mutants import sample as sampling
    drawn = sampling.draw(generate.generate(GO_FIXTURE), seed=4, count=3)
    gated = drawn[2].mutant.name
    classes = tmp_path / "survivors.toml"
    classes.write_text(f'[{gated}]\nclass = "not-executed"\nwhy = "behind a feature gate that is off"\n')
    ran = fake_runs(monkeypatch, tmp_path, killed={drawn[0].mutant.name, drawn[1].mutant.name})
    argv = ["mutants", "sample", "--seed", "4", "--count", "3", "--report-dir", str(tmp_path / "report"),
            "--classes", str(classes)]
    assert cli(argv) == 0
    assert ran == [(c.mutant.name, None) for c in drawn[:2]]
    entries = {m["name"]: m for m in json.loads((tmp_path / "report" / "report.json").read_text())["mutants"]}
    assert entries[gated]["status"] == "survived" and entries[gated]["run_seconds"] is None
    assert entries[gated]["survivor"] == "not-executed (by hand: behind a feature gate that is off)"


def test_a_sample_with_coverage_neither_builds_nor_runs_mutants_of_lines_the_catalogue_never_executed(
        tmp_path, monkeypatch, capsys):
    use_go_fixture(monkeypatch)
    from harness.mutants import generate
    from harness.mutants import sample as sampling
    from harness.mutants.coverage import full_path
    monkeypatch.setattr(build, "source_version", lambda: "v1.11.5")
    drawn = sampling.draw(generate.generate(GO_FIXTURE), seed=4, count=3)
    unexecuted, executed = drawn[0], drawn[1:]
    coverage = tmp_path / "coverage"
    coverage.mkdir()
    (coverage / "coverage.json").write_text(json.dumps({"source": f"{build.MODULE}@v1.11.5"}))
    (coverage / "cov.txt").write_text("mode: atomic\n" + "".join(
        f"{full_path(c.file)}:{c.line}.1,{c.line}.40 1 {0 if c is unexecuted else 7}\n" for c in drawn))
    ran = fake_runs(monkeypatch, tmp_path, killed={executed[0].mutant.name})
    argv = ["mutants", "sample", "--seed", "4", "--count", "3", "--report-dir", str(tmp_path / "report"),
            "--classes", str(tmp_path / "none"), "--coverage", str(coverage)]
    assert cli(argv) == 0
    assert ran == [(c.mutant.name, None) for c in executed]  # the unexecuted one: not built, not run
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    entries = {m["name"]: m for m in data["mutants"]}
    assert list(entries) == [c.mutant.name for c in drawn] and data["counts"]["survived"] == 2
    skipped = entries[unexecuted.mutant.name]
    assert skipped["status"] == "survived" and skipped["build_seconds"] is None and skipped["run_seconds"] is None
    assert skipped["survivor"] == (f"not-executed (by coverage: the coverage run in {coverage} executed no "
                                   f"statement of {unexecuted.where})")
    assert "unknown without coverage data" in entries[executed[1].mutant.name]["survivor"]  # ran, survived
    assert data["sample"]["owners"].startswith("the whole catalogue; not run: the 1 whose lines")
    assert data["score"] == round(1 / 3, 4)  # a mutant nobody can kill still counts against the score


def test_a_sample_with_attributed_coverage_runs_each_executed_mutant_against_the_scenarios_beside_its_lines(
        tmp_path, monkeypatch, capsys):
    """scenarios.json (attribution.py) narrows an executed mutant's run to the scenarios attributed to its lines that
    the catalogue still has; one whose scenarios are gone, or none, runs against the whole catalogue."""
    use_go_fixture(monkeypatch)
    from harness.mutants import attribution, generate
    from harness.mutants import sample as sampling
    monkeypatch.setattr(build, "source_version", lambda: "v1.11.5")
    drawn = sampling.draw(generate.generate(GO_FIXTURE), seed=4, count=3)
    narrowed, gone, unattributed = drawn
    coverage = tmp_path / "coverage"
    coverage.mkdir()
    (coverage / "coverage.json").write_text(json.dumps({"source": f"{build.MODULE}@v1.11.5"}))
    (coverage / "cov.txt").write_text("mode: atomic\n" + "".join(
        f"{build.MODULE}/{c.file}:{c.line}.1,{c.line}.40 1 7\n" for c in drawn))
    blocks = {f"{narrowed.file}:{narrowed.line}.1,{narrowed.line}.40": [0, 2],
              f"{gone.file}:{gone.line}.1,{gone.line}.40": [1], f"{unattributed.file}:{unattributed.line}.1,"
                                                             f"{unattributed.line}.40": []}
    (coverage / attribution.SCENARIOS_JSON).write_text(json.dumps({
        "schema": attribution.SCHEMA, "blocks": blocks,
        "scenarios": ["test_lag.py::test_waits", "test_renamed.py::test_since", "test_z.py::test_gone_too"]}))
    ran = fake_runs(monkeypatch, tmp_path, killed={narrowed.mutant.name})
    monkeypatch.setattr(runner, "collect", lambda keyword, scenarios=runner.SCENARIOS: (
        ["test_lag.py::test_waits", "test_other.py::test_x"] if keyword is None else ["test_lag.py::test_waits"]))
    argv = ["mutants", "sample", "--seed", "4", "--count", "3", "--report-dir", str(tmp_path / "report"),
            "--classes", str(tmp_path / "none"), "--coverage", str(coverage)]
    assert cli(argv) == 0
    only = attribution.keyword(["test_lag.py::test_waits"])
    assert ran == [(narrowed.mutant.name, only), (gone.mutant.name, None), (unattributed.mutant.name, None)]
    out = capsys.readouterr().out
    assert re.search(rf"^{narrowed.mutant.name}  .*  runs 1 of 2 scenarios, ~\d+ min$", out, re.MULTILINE)
    for whole in (gone, unattributed):  # its scenario renamed since; its lines grew only while none ran
        assert re.search(rf"^{whole.mutant.name}  .*  runs the whole catalogue \(no scenario of the catalogue is "
                         rf"attributed its lines\), ~\d+ min$", out, re.MULTILINE)
    assert "estimated " in out and "(0 not run, 1 against the scenarios their lines ran beside)" in out
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    entries = {m["name"]: m for m in data["mutants"]}
    assert entries[narrowed.mutant.name]["owner"] == only and entries[gone.mutant.name]["owner"] is None
    assert data["sample"]["owners"].startswith("the scenarios the coverage run attributed each mutant's lines to (1;")


def test_a_sample_with_coverage_from_before_the_attribution_says_each_executed_mutant_runs_the_whole_catalogue(
        tmp_path, monkeypatch, capsys):
    use_go_fixture(monkeypatch)
    monkeypatch.setattr(build, "source_version", lambda: "v1.11.5")
    coverage = tmp_path / "coverage"
    coverage.mkdir()
    (coverage / "coverage.json").write_text(json.dumps({"source": f"{build.MODULE}@v1.11.5"}))
    (coverage / "cov.txt").write_text("mode: atomic\n")
    fake_runs(monkeypatch, tmp_path, killed=set())
    assert cli(["mutants", "sample", "--seed", "1", "--count", "2", "--dry-run", "--coverage", str(coverage),
                "--classes", str(tmp_path / "none")]) == 0
    assert (f"{coverage} has no scenarios.json (an older coverage run): each executed mutant runs against the whole "
            f"catalogue") in capsys.readouterr().out


def test_parallel_runs_overlap_and_the_report_keeps_the_mutants_order(tmp_path, monkeypatch):
    import threading
    names = ["first", "second", "third"]
    monkeypatch.setattr(catalogue, "load", lambda: [mutant(name, edits=(Edit("a.go", "x := 1", f"x := {i}"),))
                                                    for i, name in enumerate(names, 2)])
    monkeypatch.setattr(runner, "collect", lambda keyword, scenarios=runner.SCENARIOS: ["test_lag.py::test_waits"])
    monkeypatch.setattr(runner, "build", lambda m: build.Built(m, tmp_path / "bin" / m.name, 1.0, False))
    both_running = threading.Barrier(2, timeout=30)  # broken (an error) unless two runs are under way at once

    def fake_run(bin_dir, keyword, report_dir, **options):
        if bin_dir.name != "third":
            both_running.wait()
        dies = bin_dir.name != "second"
        write_run(report_dir, {"test_waits": "deviated"} if dies else {}, passed=[] if dies else ["test_waits"])
        return (1 if dies else 0), 60.0

    monkeypatch.setattr(runner, "run_scenarios", fake_run)
    assert cli(["mutants", "run", "--parallel", "2", "--workers", "2", "--report-dir", str(tmp_path / "r")]) == 0
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [(m["name"], m["status"]) for m in data["mutants"]] == [
        ("first", KILLED), ("second", SURVIVED), ("third", KILLED)]


def test_a_resumed_sample_keeps_what_still_holds_and_runs_what_the_catalogue_could_now_decide(tmp_path, monkeypatch):
    use_go_fixture(monkeypatch)
    from harness.mutants import generate
    from harness.mutants import sample as sampling
    drawn = sampling.draw(generate.generate(GO_FIXTURE), seed=4, count=3)
    ran = fake_runs(monkeypatch, tmp_path, killed={drawn[0].mutant.name})
    argv = ["mutants", "sample", "--seed", "4", "--count", "3", "--classes", str(tmp_path / "none")]
    assert cli([*argv, "--report-dir", str(tmp_path / "first")]) == 0 and len(ran) == 3
    ran.clear()
    assert cli([*argv, "--report-dir", str(tmp_path / "same"), "--resume", str(tmp_path / "first")]) == 0
    assert ran == []  # the same catalogue decides the same: nothing to run again
    kept = json.loads((tmp_path / "same" / "report.json").read_text())
    assert [m["status"] for m in kept["mutants"]] == [KILLED, SURVIVED, SURVIVED]
    assert all(f"kept from {tmp_path / 'first'}" in m["detail"] for m in kept["mutants"])
    # A scenario added since: the kill stands, the survivors run against the catalogue that now has it.
    monkeypatch.setattr(runner, "collect", lambda keyword, scenarios=runner.SCENARIOS: [
        "test_lag.py::test_waits", "test_new.py::test_it"])
    assert cli([*argv, "--report-dir", str(tmp_path / "grown"), "--resume", str(tmp_path / "first")]) == 0
    assert ran == [(c.mutant.name, None) for c in drawn[1:]]


def test_a_scenario_that_deviated_in_set_up_kills(tmp_path):
    """Seen in a sample: a mutant whose webhook denied the lab's valid Issuers failed every scenario in set-up
    (junit <error>, not <failure>); their journals say deviated, and that is the detection."""
    write_run(tmp_path, {}, passed=["test_other"])
    (tmp_path / "test_setup").mkdir()
    (tmp_path / "test_setup" / "journal.json").write_text(json.dumps(
        {"scenario": {"node_id": "scenarios/test_lag.py::test_setup"}, "status": "deviated"}))
    assert runner.classify(1, tmp_path)[:2] == (KILLED, ["test_lag.py::test_setup"])
