"""`--cert-manager VERSION` against a local mirror, the path a user's CI takes against quay.io and
charts.jetstack.io: a CNCF Distribution registry on loopback holding the images `certchaos images build` made,
pushed under their official names as upstream publishes them (a one-platform index), and a Helm chart
repository serving the chart packaged from the module as the release tooling does.

local: the binaries taken out of the images run, and the journal records the digests; the binary taken out is
byte for byte the one the image was built from. kind (`-m kind`): the chart from the repository, the images
loaded into the nodes with the registry's digests. Bad input (a registry that does not answer, a version the
chart repository lacks) is exit 2 before any lab starts.

Needs the registry binary (`certchaos binaries build registry`), Docker and `certchaos images build`: all of it
`-m kind`, run by `make test-kind`, whose set-up builds them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.stack import binaries, oci
from harness.stack.kind.engine import DockerEngine
from harness.stack.kind.provider import CLUSTER_LABEL
from harness.stack.leftovers import owned_name
from harness.stack.mirror import Mirror

pytestmark = pytest.mark.kind  # Docker and the images, on either provider

SCENARIO = "test_renewal_time_and_metrics"  # one short scenario that issues and renews through all three binaries


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """The mirror of v1.11.5, stopped (registry process, chart server, storage) after the module."""
    if not os.access(binaries.load_components()["registry"].cached, os.X_OK):
        pytest.fail("the registry is not built. Fix: `certchaos binaries build registry` (make test-kind does)")
    with DockerEngine() as engine:
        if engine.docker("image", "inspect", "quay.io/jetstack/cert-manager-controller:v1.11.5",
                         check=False).returncode != 0:
            pytest.fail("v1.11.5's images are not built. Fix: `certchaos images build` (make test-kind does)")
    with Mirror(tmp_path_factory.mktemp("mirror"), versions=("v1.11.5",)) as running:
        yield running


def _journal(report_dir: Path) -> dict:
    return json.loads(next(report_dir.glob("*/journal.json")).read_text())


def test_the_local_lab_runs_the_binaries_taken_out_of_the_mirrors_images(mirror, tmp_path):
    report_dir = tmp_path / "report"
    code = main(["run", "--provider", "local", "--cert-manager", "v1.11.5", "--image-registry", mirror.image_registry,
                 "--chart-repo", mirror.chart_repo, "-k", SCENARIO, "--workers", "2", "--report-dir", str(report_dir)])
    assert code == 0
    components = _journal(report_dir)["environment"]["components"]
    registry = mirror.registry.client()
    for component, name in (("cert-manager-controller", "controller"), ("cert-manager-webhook", "webhook"),
                            ("cert-manager-cainjector", "cainjector")):
        facts = components[component]
        image = registry.image(f"jetstack/cert-manager-{name}", "v1.11.5")
        assert facts["source"] == "image" and facts["version"] == "v1.11.5", facts
        assert (facts["digest"], facts["index_digest"]) == (image.digest, image.index_digest), facts
        assert facts["index_digest"] == mirror.pushed[f"jetstack/cert-manager-{name}:v1.11.5"]
        # What ran is the file the image was built from (our build), not a copy made some other way.
        built = binaries.load_components()[component].cached.read_bytes()
        assert facts["binary_sha256"] == oci.digest_of(built) == oci.digest_of(Path(facts["path"]).read_bytes())
    assert components["cert-manager-chart"]["origin"].startswith(mirror.chart_repo)


def test_a_registry_that_does_not_answer_is_exit_2_before_anything_starts(mirror, tmp_path, capsys):
    code = main(["run", "--provider", "local", "--cert-manager", "v1.11.5", "--image-registry", "http://127.0.0.1:9",
                 "--chart-repo", mirror.chart_repo, "-k", SCENARIO, "--report-dir", str(tmp_path / "report")])
    assert code == 2
    assert "registry http://127.0.0.1:9 does not answer" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def test_a_version_the_chart_repository_lacks_is_exit_2_naming_what_it_has(mirror, tmp_path, capsys):
    code = main(["run", "--provider", "local", "--cert-manager", "v1.12.0", "--image-registry", mirror.image_registry,
                 "--chart-repo", mirror.oci_chart_repo.replace("charts", "nothing"), "-k", SCENARIO,
                 "--report-dir", str(tmp_path / "report")])
    assert code == 2
    assert "no chart cert-manager v1.12.0" in capsys.readouterr().err
    code = main(["run", "--provider", "local", "--cert-manager", "v1.12.0", "--image-registry", mirror.image_registry,
                 "--chart-repo", mirror.chart_repo, "-k", SCENARIO, "--report-dir", str(tmp_path / "report")])
    assert code == 2
    assert "has no cert-manager chart v1.12.0 (it has: v1.11.5)" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def test_the_kind_lab_installs_the_repositorys_chart_with_the_registrys_images(mirror, tmp_path):
    with DockerEngine() as engine:
        report_dir = tmp_path / "report"
        code = main(["run", "--provider", "kind", "--cert-manager", "v1.11.5", "--image-registry",
                     mirror.image_registry, "--chart-repo", mirror.oci_chart_repo, "-k", SCENARIO, "--workers", "2",
                     "--report-dir", str(report_dir)])
        assert code == 0
        components = _journal(report_dir)["environment"]["components"]
        registry = mirror.registry.client()
        for name in ("controller", "webhook", "cainjector"):
            facts = components[f"cert-manager-{name}"]
            assert facts["digest"] == registry.image(f"jetstack/cert-manager-{name}", "v1.11.5").digest, facts
            assert facts["path"] == f"quay.io/jetstack/cert-manager-{name}:v1.11.5"
        assert components["cert-manager-chart"]["origin"].startswith(mirror.oci_chart_repo)
        ours = engine.docker("ps", "-a", "--format", "{{.Names}}", "--filter", f"label={CLUSTER_LABEL}",
                             "--filter", f"name={owned_name('')}").stdout.split()
        assert not ours  # the cluster is gone (other sessions' clusters are not ours to count)
