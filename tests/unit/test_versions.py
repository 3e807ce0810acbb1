"""The version a binary reports: its version flag's output (real outputs captured on this machine), its Go build
info, its Debian package; a journal or doctor never names the pin for a binary that is something else."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.stack import binaries, versions
from harness.stack.binaries import Resolved

# Captured from the binaries here (first lines; `certchaos doctor` runs the same flags).
OUTPUTS = {
    "kube-apiserver --version": ("Kubernetes v1.26.1\n", "v1.26.1"),
    "kubeadm version": ('kubeadm version: &version.Info{Major:"1", Minor:"26", GitVersion:"v1.26.1", GitCommit:'
                        '"$Format:%H$", GitTreeState:"clean", BuildDate:"1970-01-01T00:00:00Z", GoVersion:"go1.26.8", '
                        'Compiler:"gc", Platform:"linux/amd64"}\n', "v1.26.1"),
    "kubectl version --client": ("WARNING: This version information is deprecated and will be replaced with the "
                                 "output from kubectl version --short.  Use --output=yaml|json to get the full "
                                 'version.\nClient Version: version.Info{Major:"1", Minor:"26", GitVersion:"v1.26.1"'
                                 '}\nKustomize Version: v4.5.7\n', "v1.26.1"),
    "cmctl version --client --short": ("Client Version: v1.11.5\n", "v1.11.5"),
    "helm version --short": ("v3.14.4\n", "v3.14.4"),
    "kind version": ("kind v0.21.0 go1.26.8 linux/amd64\n", "v0.21.0"),
    "etcd --version (Debian)": ("etcd Version: 3.4.23\nGit SHA: Not provided (use ./build instead of go build)\n"
                                "Go Version: go1.19.8\nGo OS/Arch: linux/amd64\n", "3.4.23"),
    "etcdctl version": ("etcdctl version: 3.5.6\nAPI version: 3.5\n", "3.5.6"),
    "prometheus --version (Debian)": ("prometheus, version 2.42.0+ds (branch: debian/sid, revision: "
                                      "2.42.0+ds-5+deb12u1)\n  build user:       team+pkg-go@tracker.debian.org\n"
                                      "  go version:       go1.19.8\n", "2.42.0+ds"),
    "alertmanager --version (Debian)": ("alertmanager, version 0.25.0 (branch: debian/sid, revision: 0.25.0-1+b4)\n",
                                        "0.25.0"),
    "blackbox_exporter --version (Debian)": ("blackbox_exporter, version 0.23.0 (branch: debian/sid, revision: "
                                             "0.23.0-4+b4)\n", "0.23.0"),
    "coredns -version": ("CoreDNS-1.9.3\nlinux/amd64, go1.26.8, \n", "1.9.3"),
    # Builds that were not stamped say nothing usable: the build info or dpkg answers instead.
    "pebble -version (v2.10.3 built here)": ("Pebble version: dev\n", None),
    "toxiproxy-server --version (v2.12.0 built here)": ("toxiproxy-server version git\n", None),
}


@pytest.mark.parametrize("output,expected", OUTPUTS.values(), ids=OUTPUTS.keys())
def test_the_version_is_read_from_each_binarys_own_words(output, expected):
    assert versions.version_in_output(output) == expected


MODINFO = (
    "path\tcertchaos.local/gomodules/pebble\n"
    "mod\tcertchaos.local/gomodules/pebble\t(devel)\t\n"
    "dep\tgithub.com/letsencrypt/challtestsrv\tv1.3.2\th1:x=\n"
    "dep\tgithub.com/letsencrypt/pebble/v2\tv2.10.3\th1:y=\n"
    "dep\tgithub.com/letsencrypt/pebble/v2/extra\tv0.1.0\th1:z=\n"
    "dep\tgithub.com/Shopify/toxiproxy/v2\tv2.5.0\n"
    "=>\tgithub.com/Shopify/toxiproxy/v2\tv2.12.0\th1:w=\n"
    "build\t-trimpath=true\n"
)
# A mutant's or the coverage build's controller: cert-manager's module replaced by a patched copy on disk.
PATCHED = (
    "path\tgithub.com/cert-manager/cert-manager/cmd/controller\n"
    "mod\tgithub.com/cert-manager/cert-manager\tv1.11.5\t\n"
    "=>\t/cache/coverage/build-x/cert-manager\t(devel)\t\n"
)


def test_the_module_holding_the_package_gives_the_version_and_a_replacement_wins():
    assert versions.module_version(MODINFO, "github.com/letsencrypt/pebble/v2/cmd/pebble") == \
        ("github.com/letsencrypt/pebble/v2", "v2.10.3")
    assert versions.module_version(MODINFO, "github.com/Shopify/toxiproxy/v2/cmd/server") == \
        ("github.com/Shopify/toxiproxy/v2", "v2.12.0")
    assert versions.module_version(MODINFO, "certchaos.local/gomodules/pebble") is None  # (devel): no release
    assert versions.module_version(MODINFO, "example.com/other") is None
    assert versions.module_version(PATCHED, "github.com/cert-manager/cert-manager/cmd/controller") == \
        ("github.com/cert-manager/cert-manager (replaced by a local copy)", "v1.11.5")


def cached(name: str) -> Resolved:
    resolved = binaries.resolve(name)
    if resolved.source != "cache":
        pytest.skip(f"{name} is not built here (`certchaos binaries build {name}`)")
    return resolved


def test_a_go_binary_built_here_says_its_module_version_in_its_build_info():
    pebble = cached("pebble")
    modinfo = versions.go_modinfo(pebble.path)
    assert modinfo and "\tgithub.com/letsencrypt/pebble/v2\tv2.10.3\t" in modinfo  # mod or dep line
    said = versions.reported(pebble)
    assert (said.version, said.version_from) == ("v2.10.3", "Go build info: module github.com/letsencrypt/pebble/v2")


def test_debians_pebble_is_reported_as_the_package_that_runs_not_the_pin():
    debian = Path("/usr/bin/pebble")
    if not debian.is_file() or not shutil.which("dpkg-query"):
        pytest.skip("Debian's pebble is not installed (`apt-get install -y pebble`)")
    resolved = Resolved(binaries.load_components()["pebble"], debian, "apt-fallback")
    facts = versions.facts(resolved)
    assert facts["version"].startswith("2.4.") and facts["version"] != "v2.10.3", facts
    assert facts["version_from"] == "dpkg: package pebble" and facts["origin"].startswith("Debian package pebble")


def test_a_user_binary_that_says_nothing_is_unknown_never_the_pin(tmp_path):
    script = tmp_path / "pebble"
    script.write_text("#!/bin/sh\necho 'Pebble version: dev'\n")
    script.chmod(0o755)
    facts = versions.facts(Resolved(binaries.load_components()["pebble"], script, "bin-dir"))
    assert facts["version"] == "unknown" and facts["origin"] == f"your bin dir ({tmp_path})"


def test_debians_pebble_given_as_the_users_binary_is_reported_as_debians(tmp_path):
    """The bug this module fixes: doctor and every journal said v2.10.3 whatever Pebble ran."""
    debian = Path("/usr/bin/pebble")
    if not debian.is_file() or not shutil.which("dpkg-query"):
        pytest.skip("Debian's pebble is not installed (`apt-get install -y pebble`)")
    (tmp_path / "pebble").symlink_to(debian)
    facts = versions.facts(binaries.resolve("pebble", tmp_path))
    assert facts["version"].startswith("2.4.") and facts["version_from"] == "dpkg: package pebble", facts


def test_a_certchaos_wired_build_says_so_in_every_journal_and_a_plain_bin_dir_does_not(tmp_path):
    """A release's packages under our own main must never pass for the release's binary."""
    controller = tmp_path / "cert-manager-controller"
    controller.write_text("#!/bin/sh\necho 'cert-manager-controller v1.20.3 certchaos-wired (...)'\n")
    controller.chmod(0o755)
    resolved = Resolved(binaries.load_components()["cert-manager-controller"], controller, "bin-dir")
    assert "build" not in versions.facts(resolved) and versions.origin(resolved) == f"your bin dir ({tmp_path})"
    (tmp_path / versions.BUILD_MANIFEST).write_text(
        '{"version": "v1.20.3", "module": "cert-manager-v1.20-wired", "build": "certchaos-wired"}')
    facts = versions.facts(resolved)
    assert facts["build"] == "certchaos-wired" and facts["version"] == "v1.20.3"
    assert facts["origin"].startswith("certchaos-wired: cert-manager v1.20.3's packages under certchaos's own main "
                                      "(harness/stack/gomodules/cert-manager-v1.20-wired), not the release's binary")
