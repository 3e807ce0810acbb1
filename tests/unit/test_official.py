"""`--cert-manager VERSION`'s input checks and chart lookup (a Helm repository served here), and what a fetched bin
dir means downstream: the journal's facts and the kind images (pulled, never built)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pytest
import yaml
from hypothesis import given, strategies as st

from harness.errors import HarnessError
from harness.stack import binaries, oci, official, versions
from harness.stack.kind import images
from harness.stack.mirror import ChartRepository


@pytest.mark.parametrize("kwargs,message", [
    ({"version": "1.11.5"}, "give a release tag"),
    ({"version": "v1.11"}, "give a release tag"),
    ({"version": "v1.11.5", "chart_repo": "ftp://charts"}, "--chart-repo ftp://charts"),
    ({"version": "v1.11.5", "chart_repo": "charts.jetstack.io"}, "--chart-repo charts.jetstack.io"),
    ({"version": "v1.11.5", "image_registry": "gopher://quay.io"}, "--image-registry gopher://quay.io"),
])
def test_a_malformed_request_is_refused_before_anything_is_asked(kwargs, message):
    with pytest.raises(HarnessError, match=message):
        official.Request(**kwargs)


def _chart(version: str, *extra: str) -> bytes:
    """A chart archive whose Chart.yaml says `version`, with empty files named `extra` beside it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = yaml.safe_dump({"apiVersion": "v1", "name": "cert-manager", "version": version,
                               "appVersion": version}).encode()
        for name, content in (("cert-manager/Chart.yaml", data), *((name, b"") for name in extra)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["cert-manager/../../escaped", "cert-manager//etc/escaped"])
def test_a_chart_member_outside_the_chart_is_refused_and_nothing_written_outside(tmp_path, name):
    with pytest.raises(HarnessError, match="outside the chart's directory"):
        official._unpack_chart(_chart("v1.11.5", name), tmp_path / "a" / "chart", "v1.11.5")
    assert not list(tmp_path.rglob("escaped"))


@pytest.fixture
def repository(tmp_path):
    """A Helm repository on 127.0.0.1 holding v1.11.5 (relative url, digest in index.yaml)."""
    archive = _chart("v1.11.5")
    (tmp_path / "cert-manager-v1.11.5.tgz").write_bytes(archive)
    (tmp_path / "index.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "entries": {"cert-manager": [
        {"version": "v1.11.5", "urls": ["cert-manager-v1.11.5.tgz"], "digest": oci.digest_of(archive)[7:]}]}}))
    with ChartRepository(tmp_path) as served:
        yield served, tmp_path


def test_the_chart_is_found_by_version_and_verified_against_the_index_digest(repository, tmp_path):
    served, directory = repository
    found = official.find_chart(served.url, "v1.11.5")
    assert found.url == f"{served.url}/cert-manager-v1.11.5.tgz"
    official._unpack_chart(official._chart_archive(found), tmp_path / "chart", "v1.11.5")
    assert yaml.safe_load((tmp_path / "chart" / "Chart.yaml").read_text())["appVersion"] == "v1.11.5"
    (directory / "cert-manager-v1.11.5.tgz").write_bytes(_chart("v1.11.6"))  # the repository changed under us
    with pytest.raises(oci.RegistryError, match="does not match its digest"):
        official._chart_archive(found)


def test_a_version_the_repository_lacks_names_what_it_has(repository):
    served, _ = repository
    with pytest.raises(HarnessError, match=r"has no cert-manager chart v1.12.0 \(it has: v1.11.5\)"):
        official.find_chart(served.url, "v1.12.0")


def test_a_chart_repository_that_does_not_answer_says_so():
    with pytest.raises(HarnessError, match="does not answer .*Fix: check --chart-repo"):
        official.find_chart("http://127.0.0.1:9", "v1.11.5")


@pytest.fixture
def fetched(tmp_path):
    """A bin dir as official.fetch leaves it (artifacts.json, a binary), without a registry."""
    (tmp_path / "cert-manager-controller").write_bytes(b"#!/bin/sh\n")
    (tmp_path / "cert-manager-controller").chmod(0o755)
    (tmp_path / official.MANIFEST).write_text(json.dumps({
        "version": "v1.11.5", "chart": {"url": "https://charts.example/cert-manager-v1.11.5.tgz", "digest": "sha256:c"},
        "images": {"controller": {"component": "cert-manager-controller", "pulled": "quay.io/jetstack/x:v1.11.5",
                                  "digest": "sha256:m", "index_digest": "sha256:i", "binary_sha256": "sha256:b",
                                  "entrypoint": "/app/controller", "media_type": oci.OCI_MANIFEST,
                                  "name": "quay.io/jetstack/cert-manager-controller:v1.11.5"}}}))
    return tmp_path


def test_the_journal_says_which_image_a_binary_was_taken_out_of(fetched):
    facts = versions.facts(binaries.Resolved(binaries.load_components()["cert-manager-controller"],
                                             fetched / "cert-manager-controller", "bin-dir"))
    assert (facts["source"], facts["digest"], facts["index_digest"]) == ("image", "sha256:m", "sha256:i")
    assert facts["origin"] == "taken out of the image quay.io/jetstack/x:v1.11.5@sha256:m (/app/controller)"
    assert official.chart_facts(fetched)["digest"] == "sha256:c"


def test_a_cached_bin_dir_reused_from_another_mirror_names_this_runs_origin(fetched):
    """Same digests, same bin dir: a second run through another mirror (another address) must not be journalled as
    pulled from the first one."""
    request = official.Request("v1.11.5", chart_repo="http://127.0.0.1:2", image_registry="http://127.0.0.1:3")
    image = oci.PulledImage("127.0.0.1:3/jetstack/cert-manager-controller:v1.11.5", "sha256:m", "sha256:i", b"{}",
                            oci.OCI_MANIFEST, {}, ())
    plan = official.Plan(request, None, "jetstack", official.ChartFound("http://127.0.0.1:2/cm.tgz", "sha256:c"),
                         {"controller": image})
    official.record_origin(fetched, plan)
    assert official.chart_facts(fetched)["origin"] == "http://127.0.0.1:2/cm.tgz"
    described = official.describe(fetched)
    assert described["images"]["controller"]["pulled"] == image.reference
    assert (described["chart_repo"], described["image_registry"]) == ("http://127.0.0.1:2", "http://127.0.0.1:3")
    assert described["images"]["controller"]["digest"] == "sha256:m" and not list(fetched.glob(".artifacts*"))


def test_a_fetched_version_runs_its_pulled_images_on_kind_and_none_is_built(fetched):
    wanted = images.cert_manager_images("v1.11.5", fetched)
    assert [(image.tag, image.pulled) for image in wanted] == [
        ("quay.io/jetstack/cert-manager-controller:v1.11.5", "controller")]
    assert images.Builder(engine=None).outdated(wanted) == []  # never asks Docker for a pulled image


def test_where_from_without_a_version_and_two_sources_are_refused_at_once(tmp_path, capsys):
    from harness.cli.main import main

    assert main(["run", "--chart-repo", "https://charts.example", "--report-dir", str(tmp_path / "r")]) == 2
    assert "--chart-repo: where cert-manager's official artifacts come from, but no version" in capsys.readouterr().err
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "cert-manager-controller").write_text("")
    assert main(["run", "--cert-manager", "v1.11.5", "--bin-dir", str(tmp_path / "bin"),
                 "--report-dir", str(tmp_path / "r")]) == 2
    assert "Fix: drop one of them" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_an_upgrade_side_from_official_images_without_cmctl_renews_with_the_labs(fetched):
    from harness.upgrade import versions as upgrade_versions

    for name in ("cert-manager-webhook", "cert-manager-cainjector"):
        (fetched / name).write_bytes(b"#!/bin/sh\n")
        (fetched / name).chmod(0o755)
    assert upgrade_versions.locate("v1.16.0", fetched, build_hint="").source == "bin-dir"
    (fetched / official.MANIFEST).unlink()  # a user's own bin dir still needs its cmctl
    with pytest.raises(HarnessError, match="lacks executable cmctl"):
        upgrade_versions.locate("v1.16.0", fetched, build_hint="")


@given(st.integers(min_value=0, max_value=2**31), st.integers(min_value=0, max_value=2**31))
def test_a_packaged_chart_has_one_digest_whenever_it_was_packaged(first, second):
    from harness.stack.mirror import reproducible

    def packaged(mtime: int) -> bytes:
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=mtime) as compressed, \
                tarfile.open(fileobj=compressed, mode="w") as tar:
            info = tarfile.TarInfo("cert-manager/Chart.yaml")
            info.size, info.mtime = 5, mtime
            tar.addfile(info, io.BytesIO(b"name:"))
        return buffer.getvalue()

    assert reproducible(packaged(first)) == reproducible(packaged(second))
    with tarfile.open(fileobj=io.BytesIO(reproducible(packaged(first))), mode="r:gz") as tar:
        assert tar.extractfile("cert-manager/Chart.yaml").read() == b"name:"
