"""upgrade-check on kind, the parts that need no cluster: each cert-manager version's images (tags, where their
binaries come from, cache keys), the Helm commands of A's install and B's upgrade (same values files, in order),
the upgrade's steps, the trust values for a private ACME CA, and what the command line accepts or refuses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubernetes.client
import pytest
import yaml

from harness.cli.main import main
from harness.errors import HarnessError
from harness.lab.lab import Lab
from harness.stack import binaries, kube
from harness.stack.kind import images, provider
from harness.stack.kind.provider import KindStack
from harness.upgrade import check, versions
from harness.upgrade.versions import VersionBinaries

REQUIRED = ("cert-manager-controller", "cert-manager-webhook", "cert-manager-cainjector", "cmctl")


def bin_dir(tmp_path: Path, version: str = "v1.10.2", components=REQUIRED) -> Path:
    """A bin dir as `upgrade-check --build-only` makes one: binaries and chart/ naming `version`."""
    folder = tmp_path / f"cm-{version}"
    (folder / "chart").mkdir(parents=True)
    (folder / "chart" / "Chart.yaml").write_text(f"name: cert-manager\nversion: {version}\nappVersion: {version}\n")
    for name in components:
        (folder / name).write_text(f"#!/bin/sh\necho {name} {version}\n")
        (folder / name).chmod(0o755)
    return folder


def test_another_version_gets_the_same_image_recipe_tagged_with_its_own_version(tmp_path):
    folder = bin_dir(tmp_path)
    wanted = images.cert_manager_images("v1.10.2", folder)
    assert [image.tag for image in wanted] == [f"quay.io/jetstack/cert-manager-{name}:v1.10.2"
                                               for name in ("controller", "webhook", "cainjector", "ctl")]
    standard = {image.tag.rsplit(":", 1)[0]: image for image in images.COMPONENT_IMAGES
                if image.tag in images.CERT_MANAGER_IMAGES}
    for image in wanted:
        like = standard[image.tag.rsplit(":", 1)[0]]
        assert (image.files, image.entrypoint, image.user, image.preload) == \
               (like.files, like.entrypoint, like.user, like.preload)
        assert image.bin_dir == folder and like.bin_dir is None


def test_acmesolver_is_built_only_when_the_bin_dir_has_it(tmp_path):
    folder = bin_dir(tmp_path, components=(*REQUIRED, "cert-manager-acmesolver"))
    tags = [image.tag for image in images.cert_manager_images("v1.10.2", folder)]
    assert "quay.io/jetstack/cert-manager-acmesolver:v1.10.2" in tags and len(tags) == 5


def test_the_labs_version_keeps_the_images_of_images_build(tmp_path):
    wanted = images.cert_manager_images(images.CERT_MANAGER, bin_dir(tmp_path, images.CERT_MANAGER))
    assert tuple(image.tag for image in wanted) == images.CERT_MANAGER_IMAGES
    assert all(image.bin_dir is None for image in wanted)


def test_a_version_whose_binaries_are_missing_names_what_is_missing(tmp_path):
    folder = bin_dir(tmp_path, components=("cert-manager-controller",))
    with pytest.raises(HarnessError, match="no images, and bin dir .* lacks executable cert-manager-webhook, "
                                           "cert-manager-cainjector, cmctl"):
        images.cert_manager_images("v1.10.2", folder)
    with pytest.raises(HarnessError, match="none was given"):
        images.cert_manager_images("v1.10.2", None)


def test_the_version_comes_from_the_charts_app_version(tmp_path):
    assert images.chart_version(bin_dir(tmp_path, "v1.12.9") / "chart") == "v1.12.9"
    with pytest.raises(HarnessError, match="cannot read Chart.yaml"):
        images.chart_version(tmp_path / "nowhere")


def test_image_cache_keys_follow_the_binaries_they_are_built_from(tmp_path):
    builder = images.Builder(engine=None, digests=images.Digests(tmp_path / "digests.json"))
    folder = bin_dir(tmp_path)
    controller = images.cert_manager_images("v1.10.2", folder)[0]
    first = builder.image_inputs(controller)
    assert builder.image_inputs(controller) == first  # nothing changed, nothing rebuilt
    (folder / "cert-manager-controller").write_text("#!/bin/sh\necho rebuilt\n")
    assert builder.image_inputs(controller) != first


class RecordedRun:
    """subprocess.run stand-in for helm: records the command, answers success."""

    def __init__(self):
        self.commands: list[list[str]] = []

    def __call__(self, command, **kwargs):
        self.commands.append([str(word) for word in command])
        return subprocess.CompletedProcess(command, 0, "", "")


@pytest.fixture
def stack(tmp_path, monkeypatch) -> KindStack:
    user = tmp_path / "user-values.yaml"
    user.write_text("global:\n  logLevel: 4\n")
    made = KindStack(run_dir=tmp_path / "run", values=user)
    made.run_dir.mkdir()
    made.resolved = {"helm": binaries.Resolved(binaries.load_components()["helm"], Path("/usr/bin/helm"), "cache")}
    made.provisioned_values = {"extraArgs": ["--v=2"], "extraEnv": [{"name": "SSL_CERT_FILE", "value": "/x"}]}
    return made


def test_install_and_upgrade_pass_the_same_values_files_ours_then_the_users(stack, monkeypatch, tmp_path):
    run = RecordedRun()
    monkeypatch.setattr(provider.subprocess, "run", run)
    stack._helm("install", tmp_path / "chart-a", "--create-namespace")
    stack._helm("upgrade", tmp_path / "chart-b")
    install, upgrade = run.commands
    assert install[1:4] == ["install", "cert-manager", str(tmp_path / "chart-a")]
    assert upgrade[1:4] == ["upgrade", "cert-manager", str(tmp_path / "chart-b")]
    values = [[word for i, word in enumerate(c) if i and c[i - 1] == "--values"] for c in (install, upgrade)]
    assert values[0] == values[1] == [str(stack.run_dir / "provisioned-values.yaml"), str(stack.values)]
    assert yaml.safe_load(Path(values[1][0]).read_text()) == stack.provisioned_values
    assert "--reuse-values" not in upgrade and "--wait" in upgrade and "--create-namespace" not in upgrade


def test_upgrade_loads_images_then_crds_then_helm_upgrade_then_waits_for_the_webhook(stack, monkeypatch, tmp_path):
    done = []
    b_images = images.cert_manager_images("v1.10.2", bin_dir(tmp_path))  # any version's: only the tags matter
    monkeypatch.setattr(provider.certmanager, "chart_dir", lambda folder: tmp_path / "chart-b")
    monkeypatch.setattr(provider.certmanager, "crds", lambda folder: ["crd"])
    monkeypatch.setattr(stack, "_chart_images", lambda folder: b_images)
    monkeypatch.setattr(stack, "_load_images", lambda wanted: done.append(("load", [i.tag for i in wanted])))
    monkeypatch.setattr(provider, "apply_crds", lambda api, crds: done.append(("crds", crds)))
    monkeypatch.setattr(stack, "api", lambda: None)
    monkeypatch.setattr(stack, "_helm", lambda action, chart: done.append((action, chart)))
    monkeypatch.setattr(stack, "wait_webhook", lambda: done.append(("webhook",)))
    steps = []
    stack.upgrade_cert_manager(tmp_path / "b", on_step=steps.append)
    assert steps == ["images", "crds", "helm upgrade", "webhook"]
    assert done == [("load", [i.tag for i in b_images]), ("crds", ["crd"]), ("upgrade", tmp_path / "chart-b"),
                    ("webhook",)]
    assert stack.cert_manager_images == b_images and stack.bin_dir == tmp_path / "b"


def test_an_upgrade_whose_images_are_missing_changes_nothing(stack, monkeypatch, tmp_path):
    monkeypatch.setattr(provider.certmanager, "chart_dir", lambda folder: tmp_path / "chart-b")
    monkeypatch.setattr(provider.certmanager, "crds", lambda folder: [])

    def missing(folder):
        raise HarnessError("kind provider: image(s) x not built")

    monkeypatch.setattr(stack, "_chart_images", missing)
    monkeypatch.setattr(stack, "_helm", lambda *a: pytest.fail("helm ran"))
    steps = []
    with pytest.raises(HarnessError, match="not built"):
        stack.upgrade_cert_manager(tmp_path / "b", on_step=steps.append)
    assert steps == []


def test_the_private_acme_ca_is_mounted_and_named_by_ssl_cert_file(monkeypatch, tmp_path):
    from harness.lab.providers import kind

    made = {}

    class Core:
        def __init__(self, api):
            pass

        def create_namespaced_config_map(self, namespace, body):
            made[namespace] = body

    monkeypatch.setattr(kubernetes.client, "CoreV1Api", Core)
    monkeypatch.setattr(kube, "ensure_namespace", lambda api, name: made.setdefault("namespace", name))
    roots = tmp_path / "roots.pem"
    roots.write_text("SYSTEM ROOTS\n")
    values = kind.trust_values(None, b"PEBBLE CA\n", system_roots=str(roots))
    assert made["namespace"] == "cert-manager"
    assert made["cert-manager"]["data"] == {kind.TRUST_FILE: "SYSTEM ROOTS\nPEBBLE CA\n"}
    mount = values["volumeMounts"][0]
    assert values["volumes"] == [{"name": mount["name"], "configMap": {"name": kind.TRUST_CONFIG_MAP}}]
    assert values["extraEnv"] == [{"name": "SSL_CERT_FILE", "value": f"{mount['mountPath']}/{kind.TRUST_FILE}"}]


def test_trusting_the_acme_ca_through_chart_values_is_for_kind():
    with pytest.raises(HarnessError, match="trust_acme_ca is for --provider kind"):
        Lab(provider="local", trust_acme_ca=True)


def test_the_catalogue_runs_on_the_checks_provider_with_the_users_values(tmp_path):
    side = VersionBinaries("v1.10.2", tmp_path / "a", "pinned")
    values = tmp_path / "values.yaml"
    kind = check.catalogue_command(side, tmp_path / "r", "rotation", provider="kind", values=values)
    assert kind[3:] == ["run", "--report-dir", str(tmp_path / "r"), "--bin-dir", str(tmp_path / "a"),
                        "--provider", "kind", "--values", str(values), "-k", "rotation"]
    local = check.catalogue_command(side, tmp_path / "r", None)
    assert "--provider" not in local and "--values" not in local


def test_a_bin_dir_without_its_chart_is_refused_on_kind(tmp_path):
    folder = bin_dir(tmp_path, "v1.13.1")
    (folder / "chart" / "Chart.yaml").unlink()
    with pytest.raises(HarnessError, match="no chart/Chart.yaml to take the version from; on kind cert-manager is installed by its own chart"):
        versions._side_images(VersionBinaries("v1.13.1", folder, "bin-dir"))


def test_the_build_command_of_kind_builds_images_too():
    assert versions.build_command("v1.10.2", "v1.11.5", "kind") == \
        "certchaos upgrade-check --from v1.10.2 --to v1.11.5 --build-only --provider kind"


def test_values_are_refused_on_local_with_the_reason(tmp_path, capsys):
    values = tmp_path / "values.yaml"
    values.write_text("{}\n")
    assert main(["upgrade-check", "--from", "v1.10.2", "--to", "v1.11.5", "--values", str(values)]) == 2
    assert "is for --provider kind: the local provider lacks cert-manager installed by its Helm chart. Fix: add " \
           "--provider kind, or drop --values" in capsys.readouterr().err


def test_values_and_kind_are_accepted_and_a_missing_values_file_is_named(tmp_path, capsys):
    assert main(["upgrade-check", "--from", "v1.10.2", "--to", "v1.11.5", "--provider", "kind",
                 "--values", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err
    values = tmp_path / "values.yaml"
    values.write_text("{}\n")
    # Accepted: the next thing it asks for is the setup, not "not yet on kind".
    assert main(["upgrade-check", "--from", "v1.10.2", "--to", "v1.11.5", "--provider", "kind",
                 "--values", str(values)]) == 2
    err = capsys.readouterr().err
    assert "--setup DIR is required" in err and "not yet on kind" not in err


@pytest.mark.parametrize("version", ["v1.10.2", "v1.11.5"])
def test_both_charts_mount_the_trusted_ca_and_run_the_images_of_their_version(version, tmp_path, monkeypatch):
    """The chart values the kind lab gives A's install and B's upgrade, rendered by each version's own chart:
    the controller mounts the bundle and SSL_CERT_FILE names it, and every image carries the chart's version."""
    from harness.lab.providers import kind
    from harness.stack import certmanager, helm

    if not binaries.resolve("helm").path.exists():
        pytest.skip("helm is not built (`certchaos binaries build helm`)")
    monkeypatch.setattr(kubernetes.client, "CoreV1Api", lambda api: type("Core", (), {
        "create_namespaced_config_map": lambda self, namespace, body: None})())
    monkeypatch.setattr(kube, "ensure_namespace", lambda api, name: None)
    folder = tmp_path / "bin"
    folder.mkdir()
    versions.copy_manifests(version, folder)  # the module's chart, Chart.yaml as the release tool writes it
    values = {**kind.chart_values("172.18.0.9", "certchaos-x-lab-ca"), **kind.trust_values(None, b"PEBBLE CA\n")}
    documents = helm.render(folder / "chart", "cert-manager", certmanager.NAMESPACE, {**values, "installCRDs": False},
                            kube_version=images.KUBERNETES)
    deployments = {doc["metadata"]["name"]: doc["spec"]["template"]["spec"] for doc in documents
                   if doc and doc.get("kind") == "Deployment"}
    controller = deployments["cert-manager"]
    container = controller["containers"][0]
    assert controller["volumes"] == values["volumes"] and container["volumeMounts"] == values["volumeMounts"]
    assert {"name": "SSL_CERT_FILE", "value": f"{kind.TRUST_DIR}/{kind.TRUST_FILE}"} in container["env"]
    assert images.chart_version(folder / "chart") == version
    assert {spec["containers"][0]["image"] for spec in deployments.values()} == {
        f"quay.io/jetstack/cert-manager-{name}:{version}" for name in ("controller", "webhook", "cainjector")}


def test_event_reasons_are_those_of_the_setups_objects_not_of_cert_managers_rollout(monkeypatch):
    events = [{"involvedObject": {"kind": "Certificate"}, "reason": "Issuing", "count": 2},
              {"involvedObject": {"kind": "Pod"}, "reason": "Killing"},
              {"involvedObject": {"kind": "ReplicaSet"}, "reason": "SuccessfulDelete"},
              {"involvedObject": {"kind": "Order"}, "reason": "Complete"}]
    monkeypatch.setattr(check, "list_objects", lambda api, kind, namespace: events)
    assert check.event_reasons(None, ["cert-manager"]) == {"Certificate/Issuing": 2, "Order/Complete": 1}
