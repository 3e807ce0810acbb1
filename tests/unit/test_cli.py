"""The `certchaos` command line: every subcommand module registers, `run` finds the catalogue, --version,
one exit-code table, `run` and `gameday` refuse bad input before a lab starts or a report dir is made, `run`
keeps the lab's keys out of its report and fails if a secret is in it, `report` exits with the run's verdict,
and --json for report, doctor and lab status."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import collection
from harness.cli import labctl, main, run
from harness.lab import lab as lab_module
from harness.stack import binaries
from harness.report.journal import EntryKind, Journal, ScenarioInfo, Status
from harness.report.summary import NOT_APPLICABLE, SKIPPED, write_skip_record

REPO = Path(__file__).resolve().parents[2]


def _subcommands(parser) -> set[str]:
    return set(parser._subparsers._group_actions[0].choices)  # argparse keeps them here


def test_every_command_module_registers_the_commands_main_names_for_it():
    for module, commands in main.COMMAND_MODULES.items():
        alone = argparse.ArgumentParser()
        importlib.import_module(module).register(alone.add_subparsers())
        assert _subcommands(alone) == set(commands), module
    assert _subcommands(main.parser()) == {name for names in main.COMMAND_MODULES.values() for name in names}
    assert _subcommands(main.parser("doctor")) == {"binaries", "doctor", "up"}
    assert _subcommands(main.parser("no-such-command")) == _subcommands(main.parser())  # argparse says what exists


def test_a_refused_run_loads_neither_the_lab_nor_the_kubernetes_client(tmp_path):
    script = ("import sys; from harness.cli import main; code = main.main(['run', '--worker-nodes', '2', "
              f"'--report-dir', {str(tmp_path / 'r')!r}]); "
              "print(code, sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes' or m == 'harness.lab.lab'))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.split()[0] == "2" and out.strip().endswith("[]"), out


def test_run_defaults_to_the_repository_catalogue():
    modules = sorted(path.name for path in run.SCENARIOS.glob("test_*.py"))
    assert run.SCENARIOS.name == "scenarios" and modules, f"{run.SCENARIOS} holds no scenario modules"


def test_python_dash_m_harness_cli_is_certchaos():
    result = subprocess.run([sys.executable, "-m", "harness.cli", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "certchaos" in result.stdout, result.stderr


# --- certchaos report: its exit code is the run's verdict; --json ------------------------------------------

def _journal(directory, name, status):
    journal = Journal(directory / name / "journal.json", ScenarioInfo(f"test_x.py::{name}"), environment={})
    journal.record(EntryKind.NOTE, "hello")
    journal.finish(status, None if status is Status.PASSED else {"type": "E", "message": "why", "phase": "call"})
    journal.save()


def test_report_exits_with_the_runs_verdict(tmp_path, capsys):
    _journal(tmp_path, "test_a", Status.PASSED)
    write_skip_record(tmp_path / "test_b", "test_x.py::test_b", NOT_APPLICABLE, "needs a node")
    assert main.main(["report", str(tmp_path)]) == 0
    write_skip_record(tmp_path / "test_c", "test_x.py::test_c", SKIPPED, "no reloader image")
    assert main.main(["report", str(tmp_path)]) == 1  # a skipped scenario proved nothing
    assert main.main(["report", str(tmp_path), "--allow-skips"]) == 0
    _journal(tmp_path, "test_k", Status.KNOWN_ISSUE)  # a known bug of the release under test: listed, not failing
    assert main.main(["report", str(tmp_path), "--allow-skips"]) == 0
    _journal(tmp_path, "test_d", Status.DEVIATED)
    assert main.main(["report", str(tmp_path), "--allow-skips"]) == 1
    assert main.main(["report", str(tmp_path / "test_d" / "journal.json")]) == 1
    assert main.main(["report", str(tmp_path / "test_a" / "journal.json")]) == 0
    capsys.readouterr()
    (tmp_path / "test_e").mkdir()
    (tmp_path / "test_e" / "journal.json").write_text("{not json")
    assert main.main(["report", str(tmp_path), "--allow-skips"]) == 2  # the verdict is unknown
    err = capsys.readouterr().err
    assert "1 journal(s) cannot be read" in err and "test_e/journal.json" in err
    assert main.main(["report", str(tmp_path / "test_e" / "journal.json")]) == 2
    assert "cannot read journal" in capsys.readouterr().err


def test_report_json_has_every_row_the_verdict_and_the_unreadable(tmp_path, capsys):
    _journal(tmp_path, "test_a", Status.PASSED)
    _journal(tmp_path, "test_d", Status.DEVIATED)
    (tmp_path / "test_e").mkdir()
    (tmp_path / "test_e" / "journal.json").write_text(json.dumps({"schema": "certchaos.journal/v1"}))
    assert main.main(["report", str(tmp_path), "--json", "--html"]) == 2
    out = json.loads(capsys.readouterr().out)  # nothing but the JSON on stdout
    assert out["verdict"] == "unknown" and out["exit_code"] == 2
    assert out["totals"] == {"passed": 1, "deviated": 1, "unreadable": 1}
    assert [(row["scenario"], row["verdict"], row["journal"]) for row in out["scenarios"]] == [
        ("test_x.py::test_a", "passed", "test_a/journal.json"), ("test_x.py::test_d", "deviated", "test_d/journal.json"),
        ("test_e", "unreadable", "test_e/journal.json")]
    assert out["scenarios"][1]["failure"] == "why" and out["scenarios"][1]["time_to_detect"] is None
    assert out["unreadable"] == ["test_e/journal.json"] and out["report_html"] == str(tmp_path / "report.html")
    assert main.main(["report", str(tmp_path / "test_d" / "journal.json"), "--json"]) == 1
    one = json.loads(capsys.readouterr().out)
    assert one["scenario"]["verdict"] == "deviated" and [e["kind"] for e in one["entries"]] == ["note"]


# --- --version and the exit-code table ---------------------------------------------------------------------

def test_version_is_the_installed_packages_else_pyprojects(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exited:
        main.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"certchaos {metadata.version('certchaos')}"

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "certchaos"\nversion = "9.8.7"\n')
    monkeypatch.setattr(main, "PYPROJECT", pyproject)
    assert main.version() == "9.8.7"
    monkeypatch.setattr(main, "PYPROJECT", tmp_path / "absent.toml")
    assert main.version().startswith("unknown") and "pip install -e ." in main.version()


def test_the_top_level_help_has_one_exit_code_table():
    text = main.parser().format_help()
    table = text[text.index("exit codes (every command):"):].splitlines()
    codes = [line.split()[0] for line in table[1:6]]
    assert codes == ["0", "1", "2", "130", "143"], table
    assert "SIGINT" in table[4] and "SIGTERM" in table[5] and "bad input" in table[3]
    assert main.INTERRUPTED == 130 and main.TERMINATED == 143


# --- certchaos run and gameday: bad input is refused before a lab starts or a report dir is made -------------

@pytest.fixture
def no_lab(monkeypatch):
    """The Lab run imports once the input is checked, and gameday.Lab, record any attempt to build a lab (the test
    then fails)."""
    from harness.cli import gameday

    built = []
    monkeypatch.setattr(lab_module, "Lab", lambda *a, **k: built.append((a, k)))
    monkeypatch.setattr(gameday, "Lab", lambda *a, **k: built.append((a, k)))
    monkeypatch.delenv("CERTCHAOS_TIME_SCALE", raising=False)
    monkeypatch.delenv("CERTCHAOS_BIN_DIR", raising=False)
    return built


BAD_RUNS = [
    (["--worker-nodes", "2"], "--worker-nodes 2 is for --provider kind"),
    (["--values", "pyproject.toml"], "--values pyproject.toml is for --provider kind"),
    (["--reloader-image", "reloader:1"], "--reloader-image reloader:1 is for --provider kind"),
    (["--provider", "kind", "--values", "missing-values.yaml"], "--values missing-values.yaml: no such file"),
    (["--alert-rules", "missing-rules.yaml"], "--alert-rules missing-rules.yaml: no such file"),
    (["--alert-rules-mode", "replace"], "Fix: add --alert-rules FILE"),
    (["--time-scale", "-1"], "time scale '-1' is not a positive number"),
    (["--time-scale", "fast"], "time scale 'fast' is not a positive number"),
    (["--worker-nodes", "-1", "--provider", "kind"], "--worker-nodes -1: give 0 or more"),
    (["--bin-dir", "no-such-bin-dir"], "bin dir"),
]


@pytest.mark.parametrize("options,said", BAD_RUNS, ids=[" ".join(o) for o, _ in BAD_RUNS])
def test_run_refuses_bad_input_at_once_with_one_message_and_no_report_dir(tmp_path, no_lab, capsys, options, said):
    report = tmp_path / "report"
    assert main.main(["run", "--report-dir", str(report), *options]) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1, err
    assert not report.exists() and no_lab == []  # refused before a lab (its time: benchmarks/bad_input.py)


def test_run_refuses_a_bad_time_scale_in_the_environment(tmp_path, no_lab, monkeypatch, capsys):
    monkeypatch.setenv("CERTCHAOS_TIME_SCALE", "0")
    assert main.main(["run", "--report-dir", str(tmp_path / "report")]) == 2
    assert "CERTCHAOS_TIME_SCALE" in capsys.readouterr().err and not (tmp_path / "report").exists()


@pytest.mark.parametrize("keyword,said", [
    ("no_such_scenario_anywhere", "matches no scenario in"),
    ("webhook and (", "Wrong expression passed to '-k'"),
])
def test_run_refuses_a_k_expression_that_selects_nothing_by_collecting_without_a_lab(tmp_path, no_lab, capsys,
                                                                                    keyword, said):
    report = tmp_path / "report"
    started = time.monotonic()
    assert main.main(["run", "--report-dir", str(report), "-k", keyword]) == 2
    took = time.monotonic() - started
    err = capsys.readouterr().err
    assert said in err and "Fix:" in err, err
    assert not report.exists() and no_lab == []
    # pytest's collection, or the cache of it (benchmarks/bad_input.py times it); the bound is for a loaded machine.
    assert took < 30, f"took {took:.1f}s"


def test_a_k_expression_that_selects_a_scenario_passes_the_check():
    run.check_selection(str(run.SCENARIOS), "webhook_outage", 1.0)  # no exception


def test_gameday_refuses_a_bad_time_scale_before_anything_starts(tmp_path, no_lab, capsys):
    report = tmp_path / "report"
    assert main.main(["gameday", "--scenario", "ca-outage", "--time-scale", "-1", "--report-dir", str(report)]) == 2
    assert "time scale '-1'" in capsys.readouterr().err
    assert not report.exists() and no_lab == []


# --- --json for doctor and lab status ----------------------------------------------------------------------

def test_doctor_json_lists_every_component_and_exits_like_the_table(capsys):
    code = main.main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in report["components"]] == list(binaries.load_components())
    for component in report["components"]:
        assert (component["path"] is None) == (component["fix"] is not None), component
    assert code == (1 if report["missing_required"] else 0)
    assert report["missing_required"] == sum(c["required"] and c["path"] is None for c in report["components"])
    assert set(report["kind"]) == {"engine", "running", "images", "inotify"}


def test_the_inotify_limit_is_advised_only_below_what_several_kind_clusters_need(tmp_path):
    from harness.stack.kind.engine import inotify_advice
    limit = tmp_path / "max_user_instances"
    limit.write_text("128\n")
    assert "is 128" in inotify_advice(limit) and "sysctl -w fs.inotify.max_user_instances=512" in inotify_advice(limit)
    limit.write_text("512\n")
    assert inotify_advice(limit) is None
    assert inotify_advice(tmp_path / "absent") is None


def test_lab_status_json_is_every_path_with_its_state(monkeypatch, capsys):
    proxies = {"webhook": {"enabled": True, "listen": "127.0.0.1:1", "upstream": "127.0.0.1:2", "toxics": []},
               "acme-ns": {"enabled": False, "listen": "127.0.0.1:3", "upstream": "127.0.0.1:4",
                           "toxics": [{"type": "latency"}]}}

    class FakeToxiproxy:
        def __init__(self, url):
            assert url == "http://toxiproxy"

        def request(self, method, path, body=None):
            assert (method, path) == ("GET", "/proxies")
            return type("Response", (), {"json": lambda self: proxies})()

        def close(self):
            pass

    monkeypatch.setattr(labctl, "Toxiproxy", FakeToxiproxy)
    monkeypatch.setattr(labctl, "lab_info", lambda path: type("Info", (), {"toxiproxy_url": "http://toxiproxy"}))
    assert main.main(["lab", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "acme-ns", "up": False, "listen": "127.0.0.1:3", "upstream": "127.0.0.1:4", "toxics": ["latency"]},
        {"name": "webhook", "up": True, "listen": "127.0.0.1:1", "upstream": "127.0.0.1:2", "toxics": []}]
    assert main.main(["lab", "status"]) == 0
    assert "acme-ns                                  DOWN  127.0.0.1:3 -> 127.0.0.1:4 (latency)" in capsys.readouterr().out


# --- certchaos run: the lab's run dir stays out of the report, which is checked for secrets ----------------

TSIG = "c2NlbmFyaW8tc2VjcmV0LW9mLTMyLWJ5dGVzLi4uLi4="


class FakeLab:
    """Stands in for the lab: records how it was made; its TSIG secret is TSIG."""

    made: list[dict] = []

    def __init__(self, **options):
        FakeLab.made.append(options)
        self.info_path = "/tmp/lab.json"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def tsig_secrets(self):
        return {"TSIG key scenario-a": TSIG}


@pytest.mark.parametrize("leak", [False, True])
def test_run_keeps_the_lab_out_of_the_report_and_fails_loudly_if_a_secret_is_in_it(tmp_path, monkeypatch, capsys,
                                                                                     leak):
    report = tmp_path / "report"
    commands = []

    def scenarios_started(command, env):
        commands.append((command, env))
        journal = report / "test_a.test_x" / "journal.json"
        journal.parent.mkdir(parents=True, exist_ok=True)
        journal.write_text(json.dumps({"seen": TSIG if leak else "nothing secret"}))
        return SimpleNamespace(wait=lambda: 0)

    FakeLab.made.clear()
    monkeypatch.setattr(lab_module, "Lab", FakeLab)
    monkeypatch.setattr(run, "start_pytest", scenarios_started)
    monkeypatch.delenv("CERTCHAOS_TIME_SCALE", raising=False)
    code = main.main(["run", "--report-dir", str(report), "--time-scale", "2"])
    assert code == (2 if leak else 0)
    # The exclusive scenarios get a lab of their own; each lab its own temp dir, its logs in the report.
    assert [made["logs_to"] for made in FakeLab.made] == [report.resolve() / "lab", report.resolve() / "lab-exclusive"]
    assert all(made.get("run_dir") is None for made in FakeLab.made)
    (batch, batch_env), (exclusive, exclusive_env) = commands
    # The second lab also takes part of the batch (the measured durations say so): it selects every scenario.
    assert batch[batch.index("-m") + 1] == "not exclusive" and exclusive[exclusive.index("-m") + 1] == "certchaos"
    command, env = commands[0]
    assert command[command.index("--certchaos-time-scale") + 1] == "2.0" and env["CERTCHAOS_TIME_SCALE"] == "2.0"
    assert command[command.index("-p", command.index("pytest")) + 1] == "certchaos"  # a user's scenario dir too
    err = capsys.readouterr().err
    if leak:
        assert "NOT SAFE TO PUBLISH" in err and "test_a.test_x/journal.json: TSIG key scenario-a" in err
        assert TSIG not in err
    else:
        assert "NOT SAFE" not in err


class FakePytest:
    """A pytest child that records when it was waited for (the run's order of events)."""

    def __init__(self, events: list[str], marker: str) -> None:
        self.events, self.marker = events, marker
        events.append(f"start {marker}")

    def wait(self) -> int:
        if f"end {self.marker}" not in self.events:
            self.events.append(f"end {self.marker}")
        return 0


@pytest.mark.parametrize("provider, expected", [
    # Then that lab takes some of the batch (the measured durations say it would idle): every scenario is selected.
    ("local", ["lab lab", "start not exclusive", "lab lab-exclusive", "start certchaos", "end not exclusive",
               "end certchaos"]),
    # The user's cluster: a second lab would share it, so the exclusive scenarios run after the batch, on its lab.
    ("kubeconfig", ["lab lab", "start not exclusive", "end not exclusive", "start exclusive", "end exclusive"]),
])
def test_exclusive_scenarios_run_beside_the_batch_only_on_a_cluster_of_their_own(tmp_path, monkeypatch, provider,
                                                                                  expected):
    events: list[str] = []

    class Lab(FakeLab):
        def __init__(self, **options):
            super().__init__(**options)
            events.append(f"lab {options['logs_to'].name}")

    monkeypatch.setattr(lab_module, "Lab", Lab)
    monkeypatch.setattr(run.providers, "validate", lambda name, options: run.providers.provider(name))
    commands = []
    monkeypatch.setattr(run, "start_pytest", lambda command, env: commands.append(command) or FakePytest(
        events, command[command.index("-m") + 1]))
    options = ["--provider", provider] + (["--kubeconfig", str(tmp_path / "kubeconfig")] if provider == "kubeconfig"
                                          else [])
    (tmp_path / "kubeconfig").write_text("")
    assert main.main(["run", "--report-dir", str(tmp_path / "report"), *options]) == 0
    assert events == expected
    batch, second = ([node for node in command if "::" in node] for command in commands)
    assert not set(batch) & set(second)  # each scenario runs once
    marked = {item.node_id.rsplit("/", 1)[-1] for item in collection.select(
        collection.items(str(run.SCENARIOS), dict(os.environ)), marker="exclusive")}
    exclusive = [node for node in second if node.rsplit("/", 1)[-1] in marked]
    assert second[:len(exclusive)] == exclusive  # the exclusive ones first, then the share
    assert (len(second) > len(exclusive)) == (provider == "local")
