"""The lab's Kubernetes versions and cert-manager's support table: each pinned version swaps exactly the
Kubernetes components for its own wrapper module's, the table reads as cert-manager's documentation, an
unsupported pairing is refused with its reason and fixes (unless overridden) before anything starts, and a
journal says whether the pairing that ran is supported."""

from __future__ import annotations

import stat

import pytest
from hypothesis import given, strategies as st

from harness.cli import main
from harness.errors import HarnessError
from harness.lab import lab as lab_module
from harness.report.journal import environment_facts
from harness.stack import binaries, support

OTHER = binaries.kubernetes_versions()[-1]  # the newest pinned Kubernetes
KUBERNETES_COMPONENTS = {"kube-apiserver", "kube-controller-manager", "kubelet", "kubeadm", "kubectl", "kube-proxy",
                         "kube-scheduler"}


# --- the pinned Kubernetes versions -------------------------------------------------------------------------

def test_the_default_kubernetes_is_the_api_servers_pin_and_other_versions_are_pinned_after_it():
    versions = binaries.kubernetes_versions()
    assert versions[0] == binaries.default_kubernetes() == binaries.load_components()["kube-apiserver"].version
    assert len(versions) == len(set(versions)) > 1


@pytest.mark.parametrize("version", binaries.kubernetes_versions()[1:])
def test_another_kubernetes_swaps_exactly_the_kubernetes_components_for_its_wrapper_modules(version, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path))
    default, other = binaries.load_components(), binaries.load_components(kubernetes=version)
    swapped = {name for name in default if default[name] != other[name]}
    pinned = binaries._versions()["kubernetes-versions"][version]
    tools = pinned.get("swap", {})  # the kind node image's own tools (kind, CoreDNS): each its own module
    assert swapped == KUBERNETES_COMPONENTS | {"etcd"} | set(tools)  # each brings the etcd its kubeadm deploys
    for name, spec in tools.items():
        assert (other[name].version, other[name].module, other[name].package) == (
            spec["version"], spec["module"], default[name].package)
        assert other[name].cached == tmp_path / "bin" / f"{name}-{spec['version']}"
        go_mod = (binaries.GOMODULES / spec["module"] / "go.mod").read_text()
        assert f"{default[name].package} {spec['version']}\n" in go_mod
    swapped -= set(tools)
    etcd = other["etcd"]
    assert (etcd.version, etcd.module, etcd.path, etcd.cached) == (
        pinned["etcd"], pinned["etcd_module"], None, tmp_path / "bin" / f"etcd-{pinned['etcd']}")
    assert f"go.etcd.io/etcd/server/v3 {pinned['etcd']}\n" in (binaries.GOMODULES / etcd.module / "go.mod").read_text()
    swapped -= {"etcd"}
    module = pinned["module"]
    for name in swapped:
        assert (other[name].version, other[name].module, other[name].package) == (version, module, default[name].package)
        assert other[name].cached == tmp_path / "bin" / f"{name}-{version}"  # beside the default's, not over it
    go_mod = (binaries.GOMODULES / module / "go.mod").read_text()
    assert f"require k8s.io/kubernetes {version}\n" in go_mod
    assert (binaries.GOMODULES / module / "go.sum").is_file()
    stamps = binaries._versions()["modules"][module]["ldflags"]
    assert f"k8s.io/component-base/version.gitVersion={version}" in stamps  # the API server says its version
    assert f"k8s.io/client-go/pkg/version.gitVersion={version}" in stamps
    assert binaries.load_components(kubernetes=binaries.default_kubernetes()) == default


def test_an_unknown_kubernetes_names_the_ones_there_are():
    with pytest.raises(HarnessError, match=r"--kubernetes v1\.99\.0: not a Kubernetes the lab builds; it builds "
                                           + binaries.default_kubernetes().replace(".", r"\.")):
        binaries.load_components(kubernetes="v1.99.0")


def test_a_missing_kubernetes_build_names_the_command_that_builds_that_version(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path))
    monkeypatch.delenv("CERTCHAOS_BIN_DIR", raising=False)
    with pytest.raises(binaries.MissingBinary) as missing:
        binaries.resolve("kube-apiserver", kubernetes=OTHER)
    assert str(tmp_path / "bin" / f"kube-apiserver-{OTHER}") in str(missing.value)
    assert f"certchaos binaries build --kubernetes {OTHER}`" in str(missing.value)


# --- cert-manager's support table ---------------------------------------------------------------------------

def test_the_table_reads_as_cert_managers_documentation():
    assert support.SOURCE == "https://cert-manager.io/docs/releases/"
    for release, (oldest, newest) in support.SUPPORTED_KUBERNETES.items():
        assert support.minor(oldest) <= support.minor(newest), release
    # Spot checks against the page: the lab's default, the previous pinned one, the newest, the LTS.
    assert support.SUPPORTED_KUBERNETES["1.11"] == ("1.21", "1.27")
    assert support.SUPPORTED_KUBERNETES["1.10"] == ("1.20", "1.26")
    assert support.SUPPORTED_KUBERNETES["1.21"] == ("1.33", "1.36")
    assert support.SUPPORTED_KUBERNETES["1.12"] == ("1.22", "1.32")
    assert support.supporting("v1.36.3") == ["1.21"] and support.supporting(OTHER) == []


releases = st.sampled_from(sorted(support.SUPPORTED_KUBERNETES))
patches = st.integers(0, 30).map(str)


@given(releases, patches, st.integers(1, 45), patches, st.booleans())
def test_a_pairing_is_supported_exactly_within_the_documented_range(release, patch, kube_minor, kube_patch, prefix):
    cert_manager = f"{'v' if prefix else ''}{release}.{patch}"
    kubernetes = f"v1.{kube_minor}.{kube_patch}"
    oldest, newest = support.SUPPORTED_KUBERNETES[release]
    found = support.pairing(cert_manager, kubernetes)
    assert found.supported == (support.minor(oldest) <= (1, kube_minor) <= support.minor(newest))
    assert found.facts()["support"] == ("supported" if found.supported else "unsupported")
    assert found.facts()["supported_kubernetes"] == f"{oldest}-{newest}"
    if found.supported is False:
        with pytest.raises(HarnessError) as refused:
            support.refuse_unsupported(cert_manager, kubernetes, binaries.kubernetes_versions(), allowed=False)
        said = str(refused.value)
        assert f"cert-manager {cert_manager} does not support Kubernetes {kubernetes}" in said
        assert f"lists {oldest} to {newest} ({support.SOURCE})" in said and support.OVERRIDE in said
        assert support.refuse_unsupported(cert_manager, kubernetes, [], allowed=True) == found
    else:
        assert support.refuse_unsupported(cert_manager, kubernetes, [], allowed=False) == found


@pytest.mark.parametrize("cert_manager,kubernetes", [("v1.99.0", "v1.26.1"), ("unknown", "v1.26.1"),
                                                     ("v1.11.5", "dev")])
def test_a_pairing_the_table_cannot_judge_is_unknown_and_never_refused(cert_manager, kubernetes):
    found = support.refuse_unsupported(cert_manager, kubernetes, [], allowed=False)
    assert found.supported is None and found.facts()["support"] == "unknown"


def test_the_refusal_offers_the_labs_kubernetes_in_range_and_the_cert_managers_that_support_the_asked_one():
    with pytest.raises(HarnessError) as refused:
        support.refuse_unsupported("v1.11.5", "v1.34.2", ["v1.26.1", "v1.34.2"], allowed=False)
    assert "Fix: --kubernetes v1.26.1 (in range); or --cert-manager of a release that supports 1.34 (1.21, 1.20, " \
           "1.19); or add --allow-unsupported-kubernetes" in str(refused.value)


def test_a_journal_says_whether_the_pairing_that_ran_is_supported_from_the_versions_the_binaries_said():
    ran = {"cert-manager-controller": {"version": "v1.11.5"}, "kube-apiserver": {"version": OTHER}}
    assert environment_facts("local", ran)["pairing"] == {
        "cert_manager": "v1.11.5", "kubernetes": OTHER, "support": "unsupported",
        "supported_kubernetes": "1.21-1.27", "source": support.SOURCE}
    ran["kube-apiserver"]["version"] = "v1.26.1"
    assert environment_facts("local", ran)["pairing"]["support"] == "supported"
    assert environment_facts("local", {"kube-apiserver": {"version": "v1.26.1"}})["pairing"] is None


# --- the commands: refused before anything starts -----------------------------------------------------------

@pytest.fixture
def no_lab(monkeypatch):
    """Lab records any attempt to build one instead of starting it."""
    built = []
    monkeypatch.setattr(lab_module, "Lab", lambda *a, **k: built.append((a, k)))
    monkeypatch.delenv("CERTCHAOS_BIN_DIR", raising=False)
    monkeypatch.delenv("CERTCHAOS_TIME_SCALE", raising=False)
    return built


BAD = [
    (["run", "--kubernetes", "v1.99.0"], "--kubernetes v1.99.0: not a Kubernetes the lab builds"),
    (["run", "--kubernetes", OTHER], f"cert-manager v1.11.5 does not support Kubernetes {OTHER}"),
    (["run", "--cert-manager", "v1.21.2"], f"cert-manager v1.21.2 does not support Kubernetes "
                                           f"{binaries.default_kubernetes()}"),  # before the registry is asked
    (["run", "--provider", "kind", "--kubernetes", OTHER], f"cert-manager v1.11.5 does not support Kubernetes {OTHER}"),
    (["upgrade-check", "--from", "v1.10.2", "--to", "v1.11.5", "--kubernetes", OTHER],
     f"cert-manager v1.10.2 does not support Kubernetes {OTHER}"),
    (["up", "--kubernetes", OTHER], f"cert-manager v1.11.5 does not support Kubernetes {OTHER}"),
    (["binaries", "build", "--kubernetes", "v1.99.0"], "--kubernetes v1.99.0: not a Kubernetes the lab builds"),
    (["gameday", "--kubernetes", OTHER], f"cert-manager v1.11.5 does not support Kubernetes {OTHER}"),
    (["explore", "--attach", "lab.json", "--kubernetes", OTHER], f"--kubernetes {OTHER} starts a lab; an attached lab"),
]


@pytest.mark.parametrize("command,said", BAD, ids=[" ".join(c) for c, _ in BAD])
def test_a_bad_or_unsupported_kubernetes_is_refused_at_once_with_one_message(tmp_path, no_lab, capsys, command,
                                                                              said):
    report = tmp_path / "report"
    extra = ["--report-dir", str(report)] if command[0] in ("run", "upgrade-check", "gameday", "explore") else []
    assert main.main([*command, *extra]) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1, err
    assert not report.exists() and no_lab == []


def _executable(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_the_override_runs_the_pairing_on_the_asked_kubernetes_once_it_is_built(tmp_path, no_lab, monkeypatch,
                                                                                 capsys):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "cache"))
    command = ["run", "--kubernetes", OTHER, support.OVERRIDE, "--report-dir", str(tmp_path / "report"),
               "-k", "test_renewal"]
    assert main.main(command) == 2
    assert f"run `certchaos binaries build --kubernetes {OTHER}`" in capsys.readouterr().err and no_lab == []
    for name in ("etcd", "kube-apiserver", "kube-controller-manager"):
        _executable(binaries.load_components(kubernetes=OTHER)[name].cached)
    main.main(command)  # the recording stand-in is no Lab: run fails right after making it
    assert no_lab and no_lab[0][1]["kubernetes"] == OTHER


def test_an_upgrade_checks_catalogue_runs_on_the_checks_kubernetes_with_its_override(tmp_path):
    from harness.upgrade import check
    from harness.upgrade.versions import VersionBinaries

    side = VersionBinaries("v1.11.5", None, "cache")
    command = check.catalogue_command(side, tmp_path / "r", "renewal", kubernetes=OTHER, unsupported_allowed=True)
    assert command[3:] == ["run", "--report-dir", str(tmp_path / "r"), "--kubernetes", OTHER, support.OVERRIDE,
                           "-k", "renewal"]
    assert "--kubernetes" not in check.catalogue_command(side, tmp_path / "r", None)


def test_the_summary_names_each_pairing_the_journals_ran_on_and_an_unsupported_one_loudly(tmp_path):
    from harness.report.journal import Journal, ScenarioInfo, Status
    from harness.report.summary import summary_markdown

    for name, kubernetes in (("a", OTHER), ("b", OTHER), ("c", "v1.26.1")):
        ran = {"cert-manager-controller": {"version": "v1.11.5"}, "kube-apiserver": {"version": kubernetes}}
        journal = Journal(tmp_path / name / "journal.json", ScenarioInfo(f"test_{name}"),
                          environment=environment_facts("local", ran))
        journal.finish(Status.PASSED)
        journal.save()
    tail = summary_markdown(tmp_path).rstrip().splitlines()[-3:]
    assert tail == [f"cert-manager v1.11.5 on Kubernetes {OTHER}: UNSUPPORTED (its documentation lists 1.21-1.27: "
                    f"{support.SOURCE})", "", f"cert-manager v1.11.5 on Kubernetes v1.26.1: supported (its "
                    f"documentation lists 1.21-1.27: {support.SOURCE})"]


def test_an_upgrade_report_says_whether_each_side_ran_on_a_kubernetes_it_supports(tmp_path):
    from harness.upgrade import report
    from harness.upgrade.check import UpgradeCheck
    from harness.upgrade.versions import VersionBinaries

    check = UpgradeCheck(VersionBinaries("v1.10.2", tmp_path / "a", "pinned"), VersionBinaries("v1.11.5", None, "cache"),
                         tmp_path / "setup", tmp_path / "report", catalogue=False, kubernetes=OTHER)
    for side, version in (("a", "v1.10.2"), ("b", "v1.11.5")):
        check.facts[f"components_{side}"] = {"cert-manager-controller": {"version": version},
                                             "kube-apiserver": {"version": OTHER}}
    data = report.build(check)
    assert data["pairings"]["A"]["support"] == data["pairings"]["B"]["support"] == "unsupported"
    text = report.markdown(data)
    assert f"A: cert-manager v1.10.2 on Kubernetes {OTHER}: UNSUPPORTED (its documentation lists 1.20-1.26: " in text
    assert f"B: cert-manager v1.11.5 on Kubernetes {OTHER}: UNSUPPORTED (its documentation lists 1.21-1.27: " in text
    check.facts.clear()  # a check that stopped before its lab started: no pairing, no line
    assert "on Kubernetes" not in report.markdown(report.build(check))


def test_a_scenario_started_before_the_lab_filled_the_components_still_records_the_pairing(tmp_path):
    """The session's first scenario starts before the lab fixture knows the versions; its journal takes them,
    and the pairing they make, when it finishes (seen missing on kind: the first journal had no pairing)."""
    from types import SimpleNamespace

    from harness.pytest_plugin import _finish
    from harness.run_state import RunState

    state = RunState(report_dir=tmp_path, time_scale=1.0, provider="kind")
    finished = []
    run = SimpleNamespace(journal=SimpleNamespace(environment=environment_facts(state.provider, state.components)),
                          finish=lambda: finished.append(True))
    assert run.journal.environment["pairing"] is None
    state.components.update({"cert-manager-controller": {"version": "v1.11.5"}, "kube-apiserver": {"version": OTHER}})
    _finish(run, state)
    assert finished and run.journal.environment["components"] == state.components
    assert run.journal.environment["pairing"]["kubernetes"] == OTHER
    assert run.journal.environment["pairing"]["support"] == "unsupported"
