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
