"""A local mirror of cert-manager's official artifacts, on loopback: an OCI registry (CNCF Distribution, built
from its module) holding images under their official repositories (jetstack/cert-manager-<name>:<version>),
and a Helm chart repository (index.yaml + packaged charts, also pushed to the registry for oci://).

It proves `--cert-manager VERSION --image-registry ... --chart-repo ...` without internet: the images are the
ones `certchaos images build` makes from our binaries (docker save -> gzip layers -> OCI manifest in a
one-platform index, as upstream publishes), the chart is packaged from the cert-manager module's
deploy/charts/cert-manager as cert-manager's release tooling does (templates/crds.yaml from deploy/crds,
`helm package`, `helm repo index`). Everything it starts binds 127.0.0.1 and is stopped with it.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import TextIO

import yaml

from harness.errors import HarnessError
from harness.stack import binaries, certmanager, helm, oci, official
from harness.stack.httpserver import ThreadedServer
from harness.stack.leftovers import owned_prefix
from harness.stack.ports import LOOPBACK, free_port
from harness.stack.process import ManagedProcess
from harness.stack.service import Service
from harness.wait import Seen

# The registry answers /v2/ well within a second of starting; 30 s covers a loaded machine.
READY_TIMEOUT = 30.0
# `helm package` / `helm repo index` of one chart: a second; 120 s means helm hangs.
HELM_TIMEOUT = 120.0
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
CHART_PATH = "charts"  # the chart's repository in the registry: oci://<registry>/charts/cert-manager


class LocalRegistry(Service):
    """`registry serve` of CNCF Distribution on 127.0.0.1:<free port>, filesystem storage in `run_dir`."""

    def __init__(self, run_dir: Path, bin_dir: str | os.PathLike | None = None):
        self.run_dir = Path(run_dir)
        self.bin_dir = bin_dir
        self.process: ManagedProcess | None = None
        self.port = 0

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        """What --image-registry takes for it (plain HTTP: it is loopback only)."""
        return f"http://{self.host}"

    def client(self) -> oci.Registry:
        return oci.Registry("http", self.host)

    def _start(self) -> None:
        self.port = free_port()
        config = self.run_dir / "registry.yml"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump({
            "version": 0.1, "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.run_dir / "storage")}},
            "http": {"addr": self.host}}))
        self.process = ManagedProcess("registry", [binaries.binary("registry", self.bin_dir), "serve", config],
                                      self.run_dir / "registry.log",
                                      env={"OTEL_TRACES_EXPORTER": "none", "OTEL_SDK_DISABLED": "true"}).start()

        def answers() -> Seen:
            try:
                self.client().ping()
            except oci.RegistryError as error:
                return Seen(False, str(error))
            return Seen(True, "GET /v2/ answered")

        self.process.wait_ready(answers, READY_TIMEOUT, expected=f"to answer on {self.url}/v2/")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test reads what it fetched, not an access log
        pass


class ChartRepository(Service):
    """A Helm chart repository: `directory` (index.yaml and the chart archives) over HTTP on 127.0.0.1."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._server: ThreadedServer | None = None

    @property
    def url(self) -> str:
        return self._server.url

    def _start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_QuietHandler, directory=str(self.directory))
        self._server = ThreadedServer((LOOPBACK, 0), handler, "chart-repository")

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


def docker_archive_to_oci(archive: Path) -> tuple[bytes, list[bytes]]:
    """(config, gzip layers) of the one image in a `docker save` archive (manifest.json, config, layer tars)."""
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        if len(manifest) != 1:
            raise HarnessError(f"{archive}: expected one image in the docker archive, found {len(manifest)}")
        config = tar.extractfile(manifest[0]["Config"]).read()
        layers = [gzip.compress(tar.extractfile(layer).read(), compresslevel=1, mtime=0)
                  for layer in manifest[0]["Layers"]]
    return config, layers


def push_image(registry: oci.Registry, repository: str, tag: str, config: bytes, layers: list[bytes]) -> str:
    """Push an image as upstream publishes: OCI manifest (gzip layers) in a linux/<arch> index tagged `tag`;
    returns the index's digest."""
    descriptors = [{"mediaType": oci.OCI_LAYER_GZIP, "digest": registry.push_blob(repository, layer),
                    "size": len(layer)} for layer in layers]
    manifest = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                           "config": {"mediaType": oci.OCI_CONFIG, "digest": registry.push_blob(repository, config),
                                      "size": len(config)}, "layers": descriptors}).encode()
    digest = registry.push_manifest(repository, oci.digest_of(manifest), manifest, oci.OCI_MANIFEST)
    os_name, architecture = oci.runtime_platform()
    index = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [
        {"mediaType": oci.OCI_MANIFEST, "digest": digest, "size": len(manifest),
         "platform": {"os": os_name, "architecture": architecture}}]}).encode()
    return registry.push_manifest(repository, tag, index, oci.OCI_INDEX)


def push_chart(registry: oci.Registry, version: str, archive: bytes, metadata: dict) -> str:
    """The packaged chart as Helm pushes it to an OCI registry: charts/cert-manager:<version>."""
    repository = f"{CHART_PATH}/{official.CHART}"
    config = json.dumps(metadata).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                           "config": {"mediaType": HELM_CONFIG, "digest": registry.push_blob(repository, config),
                                      "size": len(config)},
                           "layers": [{"mediaType": official.HELM_CHART_LAYER,
                                       "digest": registry.push_blob(repository, archive), "size": len(archive)}]}
                          ).encode()
    return registry.push_manifest(repository, version, manifest, oci.OCI_MANIFEST)


def _helm(*args: str) -> None:
    with tempfile.TemporaryDirectory(prefix=owned_prefix("helm")) as scratch:
        env = helm.isolated_env(scratch)
        command = [str(binaries.binary("helm")), *args]
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=HELM_TIMEOUT)
    if result.returncode != 0:
        raise HarnessError(f"`{' '.join(command)}` failed (exit {result.returncode}): {result.stderr.strip()}")


def package_chart(version: str, destination: Path) -> Path:
    """cert-manager's chart of `version` packaged from its module source as its release tooling does
    (make/manifests.mk): the templates, templates/crds.yaml (the CRDs behind installCRDs), Chart.yaml
    rendered, `helm package --version --app-version`. Returns the .tgz."""
    source = certmanager._module_dir("chart", version, "install Go")
    with tempfile.TemporaryDirectory(prefix=owned_prefix("chart")) as scratch:
        chart = Path(scratch, official.CHART)
        shutil.copytree(Path(source, "deploy", "charts", "cert-manager"), chart, copy_function=shutil.copyfile)
        for path in [chart, *chart.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)  # the module cache is read-only
        template = chart / "Chart.template.yaml"
        (chart / "Chart.yaml").write_text(certmanager.render_chart_metadata(template.read_text(), version))
        for leftover in ("Chart.template.yaml", "README.template.md", "signkey_annotation.txt"):
            (chart / leftover).unlink(missing_ok=True)
        crds = [path.read_text().strip() for path in sorted(Path(source, "deploy", "crds").glob("crd-*.yaml"))]
        (chart / "templates" / "crds.yaml").write_text(
            "{{- if .Values.installCRDs }}\n" + "\n---\n".join(crds) + "\n{{- end }}\n")
        destination.mkdir(parents=True, exist_ok=True)
        _helm("package", "--version", version, "--app-version", version, "--destination", scratch, str(chart))
        packaged = destination / f"{official.CHART}-{version}.tgz"
        packaged.write_bytes(reproducible(Path(scratch, packaged.name).read_bytes()))
    return packaged


def reproducible(archive: bytes) -> bytes:
    """A .tgz with every mtime (tar members and gzip header) at 0: the same chart packages to the same digest, so
    a mirror started again serves the digest a fetched bin dir was keyed by (helm stamps the packaging time)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as source, \
            gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as compressed, \
            tarfile.open(fileobj=compressed, mode="w") as target:
        for member in source.getmembers():
            member.mtime = 0
            target.addfile(member, source.extractfile(member) if member.isfile() else None)
    return out.getvalue()


class Mirror(Service):
    """The registry and the chart repository, seeded with cert-manager `versions` (their images must be built:
    `certchaos images build`, and `--bin-dir` builds for other versions). `image_registry` and `chart_repo`
    are what --image-registry and --chart-repo take; `oci_chart_repo` the chart in the registry."""

    def __init__(self, run_dir: str | os.PathLike | None = None, versions: tuple[str, ...] = ("v1.11.5",),
                 out: TextIO = sys.stderr):
        self._own_run_dir = run_dir is None
        self.run_dir = Path(run_dir or tempfile.mkdtemp(prefix=owned_prefix("mirror"))).resolve()
        self.versions = versions
        self.out = out
        self.registry = LocalRegistry(self.run_dir / "registry")
        self.charts = ChartRepository(self.run_dir / "charts")
        self.pushed: dict[str, str] = {}  # repository:tag -> index digest

    @property
    def image_registry(self) -> str:
        return self.registry.url

    @property
    def chart_repo(self) -> str:
        return self.charts.url

    @property
    def oci_chart_repo(self) -> str:
        return f"oci://{self.registry.host}/{CHART_PATH}"

    def _start(self) -> None:
        from harness.stack.kind.engine import DockerEngine

        self.registry.start()
        self.charts.start()
        client = self.registry.client()
        with DockerEngine() as engine, tempfile.TemporaryDirectory(prefix=owned_prefix("save")) as scratch:
            for version in self.versions:
                for name, _ in official.IMAGES:
                    tag = official.official_name(name, version)
                    if engine.docker("image", "inspect", tag, check=False).returncode != 0:
                        if name in official.REQUIRED:
                            raise HarnessError(f"mirror: image {tag} is not built. Fix: `certchaos images build` "
                                               f"(v1.11.5), `certchaos upgrade-check ... --build-only --provider kind`")
                        continue
                    archive = Path(scratch, f"{name}-{version}.tar")
                    engine.docker("save", "-o", str(archive), tag, timeout=600)
                    config, layers = docker_archive_to_oci(archive)
                    archive.unlink()
                    repository = official.repository(name)
                    self.pushed[f"{repository}:{version}"] = push_image(client, repository, version, config, layers)
                    print(f"mirror: pushed {self.registry.host}/{repository}:{version}", file=self.out, flush=True)
                packaged = package_chart(version, self.charts.directory)
                with tarfile.open(packaged) as tar:
                    metadata = yaml.safe_load(tar.extractfile(f"{official.CHART}/Chart.yaml"))
                push_chart(client, version, packaged.read_bytes(), metadata)
        _helm("repo", "index", str(self.charts.directory))  # relative urls, as many repositories have
        print(f"mirror: --image-registry {self.image_registry} --chart-repo {self.chart_repo} "
              f"(or {self.oci_chart_repo})", file=self.out, flush=True)

    def stop(self) -> None:
        try:
            self.charts.stop()
            self.registry.stop()
        finally:
            if self._own_run_dir:
                shutil.rmtree(self.run_dir, ignore_errors=True)
