"""Binary resolution and the pinned versions file."""

from __future__ import annotations

import stat

import pytest

from harness.stack import binaries
from harness.errors import MissingBinary


def make_executable(path):
    path.write_text("#!/bin/sh\necho v9.9.9\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_every_go_component_has_a_pinned_wrapper_module():
    for component in binaries.load_components().values():
        if component.module:
            module = binaries.GOMODULES / component.module
            assert (module / "go.mod").is_file() and (module / "go.sum").is_file(), component.name
            assert component.package.split("/cmd/")[0].split("/v2")[0] in (module / "go.mod").read_text()


def test_a_user_bin_dir_wins_over_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "cache"))
    cached = binaries.load_components()["cert-manager-controller"].cached
    cached.parent.mkdir(parents=True)
    make_executable(cached)
    assert binaries.resolve("cert-manager-controller").source == "cache"
    user = tmp_path / "bin"
    user.mkdir()
    make_executable(user / "cert-manager-controller")
    resolved = binaries.resolve("cert-manager-controller", user)
    assert (resolved.source, resolved.path) == ("bin-dir", user / "cert-manager-controller")
    monkeypatch.setenv("CERTCHAOS_BIN_DIR", str(user))
    assert binaries.resolve("cert-manager-controller").source == "bin-dir"


def test_a_missing_binary_says_where_it_looked_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path))
    monkeypatch.delenv("CERTCHAOS_BIN_DIR", raising=False)
    make_executable_in(tmp_path / "mine", "etcd")  # a valid bin dir that lacks this one
    with pytest.raises(MissingBinary) as missing:
        binaries.resolve("kube-apiserver", tmp_path / "mine")
    message = str(missing.value)
    assert str(tmp_path / "mine" / "kube-apiserver") in message
    assert "certchaos binaries build kube-apiserver" in message


def test_a_non_executable_file_is_not_a_binary(tmp_path, monkeypatch):
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "cache"))
    (tmp_path / "toxiproxy-server").write_text("not executable")
    with pytest.raises(MissingBinary):
        binaries.resolve("toxiproxy-server", tmp_path)


def test_building_an_unknown_component_names_the_buildable_ones():
    with pytest.raises(binaries.HarnessError, match="buildable components are .*kube-apiserver"):
        binaries.build(["etcd"])


# --- the user's bin dir is validated: a wrong one is an error, never a silent fallback to the cache -------------

@pytest.fixture
def cached_controller(tmp_path, monkeypatch):
    """A cached cert-manager-controller, so a silent fallback to the cache would go unnoticed without the check."""
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CERTCHAOS_BIN_DIR", raising=False)
    cached = binaries.load_components()["cert-manager-controller"].cached
    cached.parent.mkdir(parents=True)
    return make_executable(cached)


def make_executable_in(folder, name):
    folder.mkdir(parents=True, exist_ok=True)
    return make_executable(folder / name)


@pytest.mark.parametrize("make, problem", [
    (lambda d: d / "nonexistent", "does not exist"),
    (lambda d: make_executable_in(d, "cert-manager-controller"), "is not a directory"),
    (lambda d: d.mkdir() or d, "holds none of the component binaries"),
    (lambda d: make_executable_in(d, "controller").parent, "holds none of the component binaries"),
], ids=["missing", "a-file", "empty", "unknown-names"])
def test_a_bad_bin_dir_is_an_error_naming_the_dir_the_components_and_the_fix(
        tmp_path, cached_controller, make, problem):
    user = make(tmp_path / "user")
    for where in ("option", "environment"):
        with pytest.MonkeyPatch.context() as env:
            explicit = str(user) if where == "option" else None
            if where == "environment":
                env.setenv("CERTCHAOS_BIN_DIR", str(user))
            with pytest.raises(binaries.HarnessError) as error:
                binaries.resolve("cert-manager-controller", explicit)
        message = str(error.value)
        assert not isinstance(error.value, MissingBinary)
        assert f"bin dir {user} {problem}" in message
        assert "cert-manager-controller" in message and "kube-apiserver" in message
        assert "Fix: point --bin-dir / CERTCHAOS_BIN_DIR" in message


def test_a_bin_dir_holding_one_component_serves_it_and_the_cache_the_rest(tmp_path, cached_controller):
    user = tmp_path / "user"
    user.mkdir()
    make_executable(user / "cert-manager-webhook")
    assert binaries.resolve("cert-manager-webhook", user).source == "bin-dir"
    assert binaries.resolve("cert-manager-controller", user).path == cached_controller


def test_a_non_executable_binary_in_the_bin_dir_never_falls_back_to_the_cache(tmp_path, cached_controller):
    user = tmp_path / "user"
    user.mkdir()
    (user / "cert-manager-controller").write_text("#!/bin/sh\n")
    with pytest.raises(MissingBinary, match=r"chmod \+x"):
        binaries.resolve("cert-manager-controller", user)


def test_doctor_refuses_a_bad_bin_dir_before_listing_anything(tmp_path, cached_controller, capsys):
    import argparse

    from harness.cli import stack

    with pytest.raises(binaries.HarnessError, match=f"bin dir {tmp_path / 'nonexistent'} does not exist"):
        stack._doctor(argparse.Namespace(bin_dir=str(tmp_path / "nonexistent")))
    assert capsys.readouterr().out == ""


def test_go_binary_names_follow_go_build_rules_for_major_version_suffixes():
    assert binaries.go_binary_name("go.etcd.io/etcd/server/v3") == "server"
    assert binaries.go_binary_name("k8s.io/kubernetes/cmd/kubelet") == "kubelet"
    assert binaries.go_binary_name("github.com/coredns/coredns") == "coredns"


def test_kind_only_components_are_not_required_by_the_local_provider():
    components = binaries.load_components()
    kind_only = {name for name, c in components.items() if c.provider == "kind"}
    assert {"kubelet", "kind", "kind-etcd", "coredns", "pause"} <= kind_only
    assert {"kube-apiserver", "cert-manager-controller", "helm"}.isdisjoint(kind_only)

