"""Where a version's binaries come from (and the one command that gets them), and the upgrade report."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.upgrade import report, versions
from harness.upgrade.check import PHASES, UpgradeCheck
from harness.upgrade.versions import VersionBinaries


def test_v1_10_2_is_pinned_with_a_wrapper_module_of_its_own():
    spec = versions.pinned_versions()["v1.10.2"]
    go_mod = (Path(versions.binaries.GOMODULES) / spec["module"] / "go.mod").read_text()
    assert "require github.com/cert-manager/cert-manager v1.10.2" in go_mod
    assert spec["ldflags"] == ["github.com/cert-manager/cert-manager/pkg/util.AppVersion=v1.10.2"]
    assert versions.known_versions() == ["v1.10.2", "v1.11.5", "v1.20.3"]


def test_v1_20_3_is_pinned_as_the_releases_packages_under_our_own_mains():
    spec = versions.pinned_versions()["v1.20.3"]
    module = Path(versions.binaries.GOMODULES) / spec["module"]
    go_mod = (module / "go.mod").read_text()
    assert "\tgithub.com/cert-manager/cert-manager v1.20.3\n" in go_mod
    # Under cert-manager's path: Go lets it import the release's internal/ packages (the rule is by import path).
    assert "module github.com/cert-manager/cert-manager/certchaos-wired\n" in go_mod
    assert spec["build"] == "certchaos-wired"
    built = versions.packages("v1.20.3")
    assert sorted(built) == sorted(set(versions.PINNED) - {"cmctl"})  # no cmctl since v1.15: the lab's renews
    for package in built.values():  # each a main of ours in the module
        assert (module / package.removeprefix("github.com/cert-manager/cert-manager/certchaos-wired/")
                / "main.go").is_file()


def test_a_pinned_version_not_built_names_the_build_command(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path))
    hint = versions.build_command("v1.10.2", "v1.11.5")
    with pytest.raises(HarnessError, match="not built yet. Fix: run `certchaos upgrade-check --from v1.10.2 "
                                           "--to v1.11.5 --build-only`"):
        versions.locate("v1.10.2", None, build_hint=hint)


def test_a_version_nobody_pinned_names_the_bin_dir_options():
    with pytest.raises(HarnessError, match="v1.12.0: no binaries.*--bin-dir-from/--bin-dir-to"):
        versions.locate("v1.12.0", None, build_hint="unused")


def test_a_user_bin_dir_must_hold_every_component(tmp_path):
    for name in ("cert-manager-controller", "cert-manager-webhook"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(stat.S_IRWXU)
    with pytest.raises(HarnessError, match="lacks executable cert-manager-cainjector, cmctl"):
        versions.locate("v1.13.0", tmp_path, build_hint="unused")
    for name in ("cert-manager-cainjector", "cmctl"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(stat.S_IRWXU)
    assert versions.locate("v1.13.0", tmp_path, build_hint="unused") == VersionBinaries("v1.13.0", tmp_path, "bin-dir")


def test_a_user_bin_dir_needs_the_http01_solver_only_when_solver_pods_will_run(tmp_path):
    side = VersionBinaries("v1.13.0", tmp_path, "bin-dir")
    with pytest.raises(HarnessError, match="the setup solves HTTP-01 .ClusterIssuer web., and bin dir .* lacks "
                                           "executable cert-manager-acmesolver"):
        versions.require_solver(side, "the setup solves HTTP-01 (ClusterIssuer web)")
    (tmp_path / "cert-manager-acmesolver").write_text("#!/bin/sh\n")
    (tmp_path / "cert-manager-acmesolver").chmod(stat.S_IRWXU)
    versions.require_solver(side, "unused")
    versions.require_solver(VersionBinaries("v1.10.2", tmp_path / "absent", "pinned"), "unused")  # built with it


def test_a_pinned_build_without_the_solver_is_not_built_until_it_has_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path))
    folder = versions.version_dir("v1.10.2")
    folder.mkdir(parents=True)
    (folder / versions.MANIFEST).write_text("{}")
    for name in versions.COMPONENTS:
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(stat.S_IRWXU)
    assert not versions.is_built("v1.10.2") and versions._missing("v1.10.2", folder) == ["cert-manager-acmesolver"]


def test_a_certchaos_wired_build_dir_needs_no_cmctl(tmp_path):
    for name in ("cert-manager-controller", "cert-manager-webhook", "cert-manager-cainjector"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(stat.S_IRWXU)
    with pytest.raises(HarnessError, match="lacks executable cmctl"):
        versions.locate("v1.20.3", tmp_path, build_hint="unused")
    (tmp_path / versions.MANIFEST).write_text('{"version": "v1.20.3", "build": "certchaos-wired"}')
    assert versions.locate("v1.20.3", tmp_path, build_hint="unused").source == "bin-dir"


def test_crds_of_a_user_bin_dir_are_required_not_borrowed_from_the_cache(tmp_path):
    with pytest.raises(HarnessError, match="has no crds/ directory"):
        versions.crd_documents("v1.13.0", tmp_path)


def made_check(tmp_path) -> UpgradeCheck:
    check = UpgradeCheck(VersionBinaries("v1.10.2", tmp_path / "a", "pinned"), VersionBinaries("v1.11.5", None, "cache"),
                         tmp_path / "setup", tmp_path / "report", catalogue=False)
    for name, seconds in (("validate", 0.1), ("start", 20.0), ("apply", 1.0), ("ready", 70.0)):
        check.phases[name].verdict, check.phases[name].seconds = "passed", seconds
    return check


def test_the_report_says_which_phase_failed_and_why(tmp_path):
    check = made_check(tmp_path)
    check.phases["upgrade"].verdict = "error"
    check.phases["upgrade"].seconds = 3.0
    check.phases["upgrade"].error = "ComponentFailed: cert-manager-webhook: exited (code 1)"
    data = report.build(check)
    assert data["verdict"] == "failed" and data["failed_phase"] == "upgrade"
    text = report.markdown(data)
    assert "| upgrade | error | 3.0s |" in text and "| kept | not run | - |" in text
    assert "Phase `upgrade` error:" in text and "cert-manager-webhook: exited" in text
    assert "| **total** | | 94.1s |" in text
    assert [phase["name"] for phase in data["phases"]] == list(PHASES)


def test_a_run_that_passed_every_phase_passes(tmp_path):
    check = made_check(tmp_path)
    for name in PHASES[4:-1]:
        check.phases[name].verdict, check.phases[name].seconds = "passed", 1.0
    assert check.phases["catalogue"].verdict == "skipped"
    assert report.build(check)["verdict"] == "passed"
    check.phases["renewal"].verdict = "failed"
    assert report.build(check)["verdict"] == "failed"


def test_metrics_and_event_reasons_side_by_side():
    side = report.side_by_side({
        "metrics_a": ["certmanager_clock_time_seconds", "certmanager_http_acme_client_request_count"],
        "metrics_b": ["certmanager_clock_time_seconds", "certmanager_clock_time_seconds_gauge"],
        "events_before": {"Certificate/Issuing": 4, "Certificate/Requested": 4, "Order/Complete": 2},
        "events_after": {"Certificate/Issuing": 8, "Certificate/Requested": 4, "Certificate/Reused": 1}})
    assert side["metrics"] == {"appeared": ["certmanager_clock_time_seconds_gauge"],
                               "vanished": ["certmanager_http_acme_client_request_count"]}
    assert side["events"]["new_reasons_on_b"] == ["Certificate/Reused"]
    assert side["events"]["not_seen_again_on_b"] == ["Certificate/Requested", "Order/Complete"]


def write_journal(directory: Path, status: str, reasons: list[str]) -> None:
    from harness.report.journal import EntryKind, Journal, ScenarioInfo, Status
    journal = Journal(directory / "s1" / "journal.json", ScenarioInfo.from_docstring("scenarios/test_x.py::test_y", "X."))
    for reason in reasons:
        journal.record(EntryKind.K8S_EVENT, "Certificate ns/web", type="Normal", reason=reason, message="m")
    journal.finish(Status(status))
    journal.save()


def test_the_catalogue_side_by_side_reads_verdicts_and_event_reasons_from_each_runs_journals(tmp_path):
    write_journal(tmp_path / "A", "passed", ["Issuing", "Requested", "Generated"])
    write_journal(tmp_path / "B", "deviated", ["Issuing", "Requested", "Reused"])
    side = report.side_by_side({"catalogue": {"A": {"report_dir": str(tmp_path / "A")},
                                              "B": {"report_dir": str(tmp_path / "B")}}})
    row = side["scenarios"]["scenarios/test_x.py::test_y"]
    assert (row["A"]["verdict"], row["B"]["verdict"]) == ("passed", "deviated")
    assert row["events"] == {"only_on_a": ["Generated"], "only_on_b": ["Reused"]}
