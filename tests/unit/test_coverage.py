"""Coverage of cert-manager by the catalogue: reading covdata's percent and textfmt output, blocks mapped to
functions, the file:line seam for the mutants, the report, the cached build, and Go's own counters (a toy
program: written at a normal exit after SIGTERM, not after SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.mutants import attribution, coverage
from harness.mutants.coverage import MODULE, Block, Function, Profile
from harness.stack.gotoolchain import find_go

PKI = f"{MODULE}/pkg/util/pki"
# A package of two files as `go tool covdata textfmt` writes it; csr.go (line numbers are the source's):
#   10 func A(x int) int {        block 10.22,11.11   1 statement, ran
#   11     if x > 2 {             block 11.11,13.3    1 statement, never ran (the body)
#   12         return x * 2
#   13     }
#   14     return x               block 14.2,14.10    1 statement, ran
#   15 }
#   17 func Empty() {}            block 17.14,17.15   0 statements
#   19 func Never(y int) int {    block 19.23,22.3    2 statements on lines 19-22, never ran
#   24 var hook = func() {        block 24.20,26.2    1 statement, never ran (counts toward Never)
# The controller and the webhook both link pki: covdata lists 11.11,13.3 twice when merging is not done.
TEXTFMT = f"""mode: set
{PKI}/csr.go:10.22,11.11 1 1
{PKI}/csr.go:11.11,13.3 1 0
{PKI}/csr.go:14.2,14.10 1 1
{PKI}/csr.go:17.14,17.15 0 0
{PKI}/csr.go:19.23,22.3 2 0
{PKI}/csr.go:24.20,26.2 1 0
{PKI}/csr.go:11.11,13.3 1 1
{PKI}/match.go:5.30,7.2 3 0
{MODULE}/pkg/controller/acmeorders/sync.go:40.50,42.2 4 1
"""
FUNC = f"""{PKI}/csr.go:10:\tA\t\t\t100.0%
{PKI}/csr.go:17:\tEmpty\t\t\t0.0%
{PKI}/csr.go:19:\tNever\t\t\t0.0%
{PKI}/match.go:5:\tMatch\t\t\t0.0%
total:\t\t\t\t(statements)\t37.5%
"""
PERCENT = f"""\t{MODULE}/pkg/controller/acmeorders\t\tcoverage: 61.2% of statements
\t{PKI}\t\tcoverage: 37.5% of statements
\t{MODULE}/pkg/apis/meta\t\tcoverage: [no statements]
"""


@pytest.fixture
def profile() -> Profile:
    return Profile.parse(TEXTFMT)


# --- covdata percent and textfmt -------------------------------------------------------------------------

def test_percent_output_gives_each_package_its_figure_and_none_without_statements():
    assert coverage.parse_percent(PERCENT) == {f"{MODULE}/pkg/controller/acmeorders": 61.2, PKI: 37.5,
                                               f"{MODULE}/pkg/apis/meta": None}
    assert coverage.parse_percent("warning: no applicable files found in input directories\n") == {}


def test_textfmt_blocks_are_parsed_and_a_block_listed_twice_is_one_that_ran_if_either_did(profile):
    assert profile.mode == "set"
    assert len(profile.blocks) == 8  # 9 lines, one of them the second binary's copy
    body = next(b for b in profile.blocks if (b.start_line, b.start_col) == (11, 11))
    assert body == Block(f"{PKI}/csr.go", 11, 11, 13, 3, 1, 1)
    assert body.package == PKI


@pytest.mark.parametrize("text, says", [
    ("", "first line should be `mode:"),
    (f"{PKI}/csr.go:1.1,2.2 1 1\n", "first line should be `mode:"),
    ("mode: set\nnot a block\n", "line 2 is not a block"),
])
def test_a_file_that_is_not_a_profile_is_refused_naming_the_line(text, says):
    with pytest.raises(HarnessError, match=says.replace("`", ".")):
        coverage.parse_textfmt(text)


def test_tallies_count_statements_not_blocks(profile):
    pki = coverage.tally(profile.package_blocks("pkg/util/pki"))
    assert (pki.statements, pki.executed, pki.percent) == (9, 3, 33.3)
    assert coverage.tally([]).percent is None


def test_the_profile_written_back_keeps_only_the_packages_asked_for(profile):
    text = profile.text(["pkg/controller/acmeorders"])
    assert text == f"mode: set\n{MODULE}/pkg/controller/acmeorders/sync.go:40.50,42.2 4 1\n"
    assert len(Profile.parse(profile.text()).blocks) == len(profile.blocks)


# --- file:line executed (the mutants' seam) ---------------------------------------------------------------

@pytest.mark.parametrize("file, line, executed", [
    ("pkg/util/pki/csr.go", 10, True),  # the function's first block ran
    ("pkg/util/pki/csr.go", 14, True),
    ("pkg/util/pki/csr.go", 11, True),  # `if x > 2 {`: the condition's block ran, the body's did too (merged)
    ("pkg/util/pki/csr.go", 20, False),  # inside a multi-line block that never ran
    ("pkg/util/pki/csr.go", 22, False),  # its last line
    ("pkg/util/pki/csr.go", 17, None),  # an empty function: no statement to execute
    ("pkg/util/pki/csr.go", 16, None),  # between functions
    (f"{PKI}/csr.go", 20, False),  # the import path works as well as the module-relative one
    ("pkg/util/pki/other.go", 1, None),  # a file the profile does not know
])
def test_a_line_is_executed_when_a_block_with_statements_touching_it_ran(profile, file, line, executed):
    assert profile.executed(file, line) is executed


def test_a_line_shared_by_a_condition_that_ran_and_a_body_that_did_not_counts_as_executed():
    text = f"mode: set\n{PKI}/a.go:3.10,4.9 1 1\n{PKI}/a.go:4.9,6.3 1 0\n"
    assert Profile.parse(text).executed("pkg/util/pki/a.go", 4) is True
    assert Profile.parse(text).executed("pkg/util/pki/a.go", 5) is False


def test_line_executed_reads_a_profile_file(tmp_path):
    path = tmp_path / "cov.txt"
    path.write_text(TEXTFMT)
    assert coverage.line_executed(path, "pkg/util/pki/match.go", 6) is False
    assert coverage.line_executed(path, "pkg/controller/acmeorders/sync.go", 41) is True


# --- blocks mapped to functions ---------------------------------------------------------------------------

def test_cover_func_output_lists_functions_and_not_the_total():
    assert coverage.parse_func(FUNC) == [(f"{PKI}/csr.go", 10, "A"), (f"{PKI}/csr.go", 17, "Empty"),
                                         (f"{PKI}/csr.go", 19, "Never"), (f"{PKI}/match.go", 5, "Match")]
    assert coverage.parse_func(f"{PKI}/csr.go:10:\t(*Signer).Sign\t\t50.0%\n")[0][2] == "(*Signer).Sign"


def test_blocks_belong_to_the_function_they_follow_and_only_functions_with_statements_can_be_unreached(profile):
    found = coverage.functions(coverage.parse_func(FUNC), profile.blocks)
    assert found == [Function(f"{PKI}/csr.go", 10, "A", 3, 3), Function(f"{PKI}/csr.go", 17, "Empty", 0, 0),
                     Function(f"{PKI}/csr.go", 19, "Never", 3, 0),  # its 2 + the func literal's 1 after it
                     Function(f"{PKI}/match.go", 5, "Match", 3, 0)]
    assert [f.name for f in coverage.never_reached(found)] == ["Never", "Match"]


# --- the report -------------------------------------------------------------------------------------------

def test_the_report_has_a_row_per_package_the_totals_and_the_unreached_functions(tmp_path, monkeypatch, profile):
    counters = tmp_path / "counters"
    counters.mkdir()
    (counters / "covcounters.abc.1.2").write_text("")
    monkeypatch.setattr(coverage, "PACKAGES", {"pki": "pkg/util/pki", "acmeorders": "pkg/controller/acmeorders"})
    monkeypatch.setattr(coverage, "source_version", lambda: "v1.11.5")
    monkeypatch.setattr(coverage, "covdata_percent", lambda go, folder, packages: coverage.parse_percent(PERCENT))
    monkeypatch.setattr(coverage, "covdata_textfmt", lambda go, folder, output: profile)
    monkeypatch.setattr(coverage, "function_listing", lambda go, prof, packages, scratch: coverage.parse_func(FUNC))
    run = {"keyword": None, "exit": 0, "seconds": 612.0, "build_seconds": 301.0, "build_cached": False,
           "processes": 5, "snapshots": 700}
    result = coverage.analyse("go", counters, tmp_path, run)
    assert result.packages["pki"] == {"path": "pkg/util/pki", "statements": 9, "executed": 3, "percent": 37.5}
    assert result.claimed == {"statements": 13, "executed": 7, "percent": 53.8}
    assert result.module["packages"] == 2
    assert [(f["package"], f["function"]) for f in result.never_reached] == [("pki", "Never"), ("pki", "Match")]
    text = coverage.write(result, tmp_path)
    assert "| pki | `pkg/util/pki` | 9 | 3 | 37.5 % |" in text
    assert "| **claimed packages** | | 13 | 7 | **53.8 %** |" in text
    assert "the whole catalogue; run exit 0 in 612 s; build 301 s; 5 processes wrote counters (700 snapshots" in text
    assert "- `pkg/util/pki/csr.go:19` Never (3 statements)" in text
    saved = json.loads((tmp_path / "coverage.json").read_text())
    assert saved["schema"] == "certchaos.coverage/v1" and saved["never_reached"][1]["file"] == "pkg/util/pki/match.go"


def test_a_run_whose_processes_wrote_no_counters_is_an_error_naming_where_to_look(tmp_path):
    (tmp_path / "counters").mkdir()
    with pytest.raises(HarnessError, match="no coverage counters .*SIGKILL.*run.log"):
        coverage.analyse("go", tmp_path / "counters", tmp_path, {})


# --- the build and the run --------------------------------------------------------------------------------

def test_go_older_than_1_20_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setattr(coverage, "_go", lambda: "go")
    monkeypatch.setattr(coverage, "go_version", lambda go: (1, 19))
    with pytest.raises(HarnessError, match=r"Go 1\.19 is too old for `go build -cover`.*Fix: install Go"):
        coverage.require_go()


def fake_module(root: Path) -> Path:
    """The pinned module's layout as far as the build touches it: the three commands' main packages."""
    for command in ("controller", "webhook", "cainjector"):
        (root / "cmd" / command).mkdir(parents=True)
        (root / "cmd" / command / "main.go").write_text("package main\n\nfunc main() {}\n")
    return root


def test_the_build_instruments_the_three_binaries_into_a_bin_dir_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(coverage, "require_go", lambda: "go")
    monkeypatch.setattr(coverage, "go_version", lambda go: (1, 26))
    monkeypatch.setattr(coverage, "inputs_hash", lambda go, version: "0123456789ab")
    monkeypatch.setattr(coverage, "pristine_source", lambda go, version: fake_module(tmp_path / "module"))
    commands, flushes = [], []

    def go_build(command, cwd, env, out, *, label):
        commands.append(command)
        modfile = Path(command[command.index("-v") + 1].removeprefix("-modfile="))
        copy = Path(modfile.read_text().rsplit("=> ", 1)[1].strip())  # the replace names the patched copy
        flushes.extend(sorted(p.relative_to(copy).as_posix() for p in copy.rglob(coverage.FLUSH_FILE)))
        staged = Path(command[command.index("-o") + 1])
        for name in ("controller", "webhook", "cainjector"):
            (staged / name).write_text("#!/bin/sh\n")
            (staged / name).chmod(0o755)
        return 0

    monkeypatch.setattr(coverage.binaries, "go_build_with_progress", go_build)
    built = coverage.build(out=open(os.devnull, "w"))
    assert built.bin_dir == tmp_path / "cache" / "coverage" / f"cert-manager-{coverage.source_version()}-0123456789ab"
    assert sorted(p.name for p in built.bin_dir.iterdir()) == sorted([*coverage.COMPONENTS, coverage.MANIFEST])
    command = commands[0]
    assert {"-cover", "-covermode=atomic", f"-coverpkg={MODULE}/...", "-trimpath"} <= set(command)
    assert flushes == [f"cmd/{name}/{coverage.FLUSH_FILE}" for name in ("cainjector", "controller", "webhook")]
    assert not (tmp_path / "module" / "cmd" / "controller" / coverage.FLUSH_FILE).exists()  # the copy, not the cache
    assert command[command.index("-ldflags") + 1].endswith("-coverage")  # the version names the build
    assert coverage.binaries.validate_bin_dir(built.bin_dir) == built.bin_dir
    again = coverage.build(out=open(os.devnull, "w"))
    assert again.cached and len(commands) == 1


def test_a_failed_build_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(coverage, "require_go", lambda: "go")
    monkeypatch.setattr(coverage, "inputs_hash", lambda go, version: "0123456789ab")
    monkeypatch.setattr(coverage, "pristine_source", lambda go, version: fake_module(tmp_path / "module"))
    monkeypatch.setattr(coverage.binaries, "go_build_with_progress", lambda *a, **k: 1)
    with pytest.raises(HarnessError, match="coverage build failed .go exit 1.*Command: go build -v -modfile=.* -cover"):
        coverage.build(out=open(os.devnull, "w"))
    assert not any((tmp_path / "cache" / "coverage").glob("cert-manager-*"))


def test_the_run_gets_gocoverdir_through_the_environment_and_refuses_old_counters(tmp_path, monkeypatch):
    seen = {}

    def run_scenarios(bin_dir, keyword, report_dir, *, workers, timeout):
        seen.update(dir=os.environ.get("GOCOVERDIR"), keyword=keyword, workers=workers)
        return 0, 1.5

    monkeypatch.delenv("GOCOVERDIR", raising=False)
    monkeypatch.setattr(coverage.runner, "run_scenarios", run_scenarios)
    counters = tmp_path / "counters"
    assert coverage.run_catalogue(tmp_path, counters, tmp_path / "run", keyword="webhook", workers=2) == (0, 1.5)
    assert seen == {"dir": str(counters.resolve()), "keyword": "webhook", "workers": 2}
    assert "GOCOVERDIR" not in os.environ
    (counters / "covcounters.x.1.2").write_text("")
    with pytest.raises(HarnessError, match="already holds coverage counters.*new --report-dir"):
        coverage.run_catalogue(tmp_path, counters, tmp_path / "run", keyword=None, workers=1)


# --- Go's own counters, on a toy program -------------------------------------------------------------------

TOY_MAIN = """package main

import (
	"os"
	"os/signal"
	"syscall"

	"example.com/toy/lib"
	"example.com/toy/phase"
)

// Writes os.Args[1] once started; SIGUSR1 and SIGUSR2 each run a phase and then write os.Args[1] + ".a" or ".b";
// SIGTERM runs lib.Stopped and returns from main.
func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGUSR2)
	lib.Started()
	os.WriteFile(os.Args[1], []byte("ready"), 0o644)
	for got := range signals {
		switch got {
		case syscall.SIGUSR1:
			phase.A(1)
			os.WriteFile(os.Args[1]+".a", nil, 0o644)
		case syscall.SIGUSR2:
			phase.B()
			os.WriteFile(os.Args[1]+".b", nil, 0o644)
		default:
			lib.Stopped(len(os.Args))
			return
		}
	}
}
"""
TOY_LIB = """package lib

func Started() {
	_ = 1
}

func Stopped(n int) int {
	if n > 100 {
		return n
	}
	return 0
}

func Never() int {
	return 1
}
"""
TOY_PHASE = """package phase

func A(n int) int {
	if n > 0 {
		return n * 2
	}
	return 0
}

func B() int {
	return 2
}
"""
TOY_PACKAGES = ["example.com/toy/lib", "example.com/toy/phase"]


def _wait(what, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, "the toy program did not get there"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    """The toy program built as the coverage build builds (atomic, FLUSH_GO in its main package)."""
    go = find_go()
    if go is None:
        pytest.skip("needs the Go toolchain")
    source = tmp_path_factory.mktemp("toy")
    for path, text in {"go.mod": "module example.com/toy\n\ngo 1.20\n", "main.go": TOY_MAIN,
                       coverage.FLUSH_FILE: coverage.FLUSH_GO, "lib/lib.go": TOY_LIB, "phase/phase.go": TOY_PHASE}.items():
        (source / path).parent.mkdir(exist_ok=True)
        (source / path).write_text(text)
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod")
    subprocess.run([go, "build", "-cover", f"-covermode={coverage.COVERMODE}", "-coverpkg=example.com/toy/...",
                    "-o", "toy", "."], cwd=source, env=env, check=True, timeout=300)
    return source


def test_counters_come_at_a_normal_exit_and_from_the_flush_snapshots_a_sigkill_does_not_lose(toy, tmp_path):
    """The premise of `coverage run`: killed before its first snapshot the toy leaves nothing; killed after one it
    leaves what it had run; stopped by SIGTERM it exits 0 and writes everything. Each process snapshots into a
    directory of its own, and the merge leaves those snapshots where they are."""
    go = find_go()
    counters = tmp_path / "counters"
    counters.mkdir()

    def start(name: str) -> subprocess.Popen:
        ready = tmp_path / f"ready-{name}"
        process = subprocess.Popen([toy / "toy", ready], env=dict(os.environ, GOCOVERDIR=str(counters)))
        _wait(ready.exists)
        return process

    def written_by(process: subprocess.Popen) -> list[Path]:
        return [path for path in coverage.counter_files(counters) if path.name.split(".")[2] == str(process.pid)]

    early = start("early")
    early.kill()
    early.wait(timeout=30)
    assert written_by(early) == []  # SIGKILL: no exit-time write, and no snapshot yet
    late = start("late")
    _wait(lambda: written_by(late), coverage.FLUSH_EVERY * 4)  # a snapshot: the flush goroutine's first tick
    late.kill()
    late.wait(timeout=30)
    stopped = start("stopped")
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(timeout=30) == 0 and written_by(stopped)
    assert coverage.processes(counters) == 2
    snapshotted = [folder for folder in coverage.process_dirs(counters) if any(folder.glob("covcounters.*"))]
    assert [folder.name.rsplit(".", 1)[1] for folder in snapshotted] == [str(late.pid)]
    assert {path.parent for path in written_by(late)} == {snapshotted[0]}  # its snapshots, in its directory
    assert [path.parent for path in written_by(stopped)] == [counters]  # its exit-time write, in GOCOVERDIR
    before = coverage.counter_files(counters)
    coverage.merge(go, counters, tmp_path / "merged")
    assert coverage.counter_files(counters) == before  # kept for the attribution to scenarios
    assert len(coverage.counter_files(tmp_path / "merged")) == 1  # one binary: one merged counters file
    merged = tmp_path / "merged"
    assert coverage.covdata_percent(go, merged, ["example.com/toy/lib"]) == {"example.com/toy/lib": 60.0}  # 3 of 5
    profile = coverage.covdata_textfmt(go, merged, tmp_path / "cov.txt")
    assert profile.executed("example.com/toy/lib/lib.go", 4) is True
    assert profile.executed("example.com/toy/lib/lib.go", 8) is True
    assert profile.executed("example.com/toy/lib/lib.go", 9) is False
    listing = coverage.function_listing(go, profile, ["example.com/toy/lib"], tmp_path, module_dir=toy)
    unreached = coverage.never_reached(coverage.functions(listing, profile.blocks))
    assert [(f.name, f.statements) for f in unreached] == [("Never", 1)]


def _journal(run_dir: Path, test: str, started: float, ended: float | None, entries: list[float] = ()) -> None:
    """A scenario's journal as far as the attribution reads it."""
    folder = run_dir / test
    folder.mkdir(parents=True)
    (folder / "journal.json").write_text(json.dumps({
        "scenario": {"node_id": f"scenarios/test_toy.py::{test}"}, "started_at": started, "ended_at": ended,
        "entries": [{"at": at} for at in entries]}))


def test_the_snapshots_attribute_each_phase_of_the_toy_to_the_scenario_that_ran_beside_it(toy, tmp_path):
    """attribution.measure on a real coverage binary: three fake scenarios, each beside one phase of the toy and
    separated from the others by a snapshot and the margin; the last ends with SIGTERM, so what it ran is only in
    the exit-time write (in GOCOVERDIR, not the process's directory). What ran as the process started
    (lib.Started) decides what it does all its life: it is attributed to every scenario beside the process."""
    counters, run_dir, ready = tmp_path / "counters", tmp_path / "run", tmp_path / "ready"
    counters.mkdir()

    def snapshots() -> list[float]:
        return sorted(attribution.snapshot_time(path) for path in counters.glob("process.*/covcounters.*"))

    def past_next_snapshot(moment: float) -> None:
        """Until the first snapshot after `moment` is written and the margin after it has passed: what ran before
        `moment` is then in an interval no later span overlaps."""
        _wait(lambda: any(at > moment for at in snapshots()), coverage.FLUSH_EVERY * 4)
        after = min(at for at in snapshots() if at > moment) + attribution.MARGIN + 0.2
        _wait(lambda: time.time() > after, attribution.MARGIN + 1)

    def phase(test: str, signal_number: int, done: Path) -> float:
        began = time.time()
        process.send_signal(signal_number)
        _wait(done.exists)
        _journal(run_dir, test, began, time.time())
        return time.time()

    process = subprocess.Popen([toy / "toy", ready], env=dict(os.environ, GOCOVERDIR=str(counters)))
    try:
        _wait(ready.exists)
        past_next_snapshot(time.time())
        past_next_snapshot(phase("test_a", signal.SIGUSR1, Path(f"{ready}.a")))
        past_next_snapshot(phase("test_b", signal.SIGUSR2, Path(f"{ready}.b")))
        began = time.time()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        _journal(run_dir, "test_c", began, None, [began + 0.01, time.time()])  # never finished: ends at its last entry
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    measured = attribution.measure(find_go(), counters, run_dir, tmp_path, TOY_PACKAGES)
    assert measured["processes"] == 1
    assert measured["snapshots"] == len(snapshots()) + 1  # and the exit-time write
    scenarios = attribution.ScenarioMap(measured)
    a, b, c = (f"test_toy.py::test_{x}" for x in "abc")
    phase_go, lib_go = "example.com/toy/phase/phase.go", "example.com/toy/lib/lib.go"
    assert [scenarios.scenarios(phase_go, [line]) for line in (4, 5, 7, 11)] == [{a}, {a}, set(), {b}]  # 7: never ran
    assert [scenarios.scenarios(lib_go, [line]) for line in (4, 8, 9, 11)] == [{a, b, c}, {c}, set(), {c}]


def test_merged_runs_keep_every_process_and_every_journal_and_sum_their_runs(tmp_path, monkeypatch, capsys):
    from harness.cli import coverage as coverage_cli
    from harness.cli.main import main
    written = []
    monkeypatch.setattr(coverage_cli, "_write", lambda folder, run: written.append((folder, run)))
    for name, scenario, pid in (("catalogue", "test_a.test_x", 11), ("added", "test_a.test_x", 22)):
        folder = tmp_path / name
        (folder / "counters" / f"certchaos-process.1796660000.{pid}").mkdir(parents=True)
        (folder / "counters" / f"certchaos-process.1796660000.{pid}" / f"covcounters.h.{pid}.1").write_text(name)
        (folder / "run" / scenario).mkdir(parents=True)
        (folder / "run" / scenario / "journal.json").write_text(json.dumps({"from": name}))
        (folder / "run.json").write_text(json.dumps({"keyword": None if name == "catalogue" else "test_x",
                                                     "scenarios": 1, "exit": 0, "seconds": 10.0, "build_seconds": 20,
                                                     "build_cached": True, "processes": 3, "snapshots": 50}))
    into = tmp_path / "merged"
    assert main(["coverage", "merge", str(tmp_path / "catalogue"), str(tmp_path / "added"), "--into", str(into)]) == 0
    assert sorted(p.name for p in (into / "counters").iterdir()) == [
        "certchaos-process.1796660000.11", "certchaos-process.1796660000.22"]
    journals = {p.parent.name: json.loads(p.read_text())["from"] for p in (into / "run").glob("*/journal.json")}
    assert journals == {"test_a.test_x.0": "catalogue", "test_a.test_x.1": "added"}  # both spans kept
    (folder, run), = written
    assert folder == into and (run["scenarios"], run["seconds"], run["processes"]) == (2, 20.0, 6)
    assert [r["keyword"] for r in run["merged"]] == [None, "test_x"]
    assert main(["coverage", "merge", str(tmp_path / "added"), "--into", str(into)]) == 2  # not empty: refused
    assert "not empty" in capsys.readouterr().err
