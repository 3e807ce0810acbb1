"""cert-manager as its users run it (`--cert-manager VERSION`): its official Helm chart from a chart repository
(https, or oci://) and its official images from a registry or a mirror, turned into a bin dir of that version.

    plan(request)   before a lab starts: the registry answers, the chart repository has the version, every
                    required image's manifest is there for this platform (each a clear error, exit 2)
    fetch(plan)     blobs pulled once into the digest cache (harness/stack/oci.py), the images' entrypoint
                    binaries taken out of their layers (the local provider runs them), the chart unpacked,
                    its CRDs rendered, artifacts.json recording every digest; in
                    $CERTCHAOS_CACHE/official/cert-manager-<version>-<hash of the digests>/, a valid --bin-dir

The kind provider installs that chart and loads the pulled images into its nodes (write_archive: the manifest
byte for byte, so the node's image has the registry's digest) under their official names, as a containerd
registry mirror would present them. No docker daemon, no login: anonymous pulls only.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import yaml

from harness.errors import HarnessError
from harness.stack import binaries, helm, oci

DEFAULT_REGISTRY = "quay.io"
DEFAULT_CHART_REPO = "https://charts.jetstack.io"
CHART = "cert-manager"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
# image name -> the component binary it holds; the first three are what a lab cannot run without. ctl (cmctl)
# is gone from the official images after v1.14 and the lab's own cmctl stands in then; acmesolver only
# runs as HTTP-01 solver pods.
IMAGES = (("controller", "cert-manager-controller"), ("webhook", "cert-manager-webhook"),
          ("cainjector", "cert-manager-cainjector"), ("acmesolver", "cert-manager-acmesolver"), ("ctl", "cmctl"))
REQUIRED = ("controller", "webhook", "cainjector")
MANIFEST = "artifacts.json"


def repository(name: str, prefix: str = "") -> str:
    """The image's repository in a registry: jetstack/cert-manager-<name>, after a mirror's prefix."""
    return "/".join(part for part in (prefix, f"jetstack/cert-manager-{name}") if part)


def official_name(name: str, version: str) -> str:
    """The name the chart's default values give the image (what the kind nodes hold it as)."""
    return f"quay.io/jetstack/cert-manager-{name}:{version}"


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Request:
    """What the user asked for: a version, where its chart and its images come from."""

    version: str
    chart_repo: str = DEFAULT_CHART_REPO
    image_registry: str = DEFAULT_REGISTRY

    def __post_init__(self):
        if not self.version.startswith("v") or self.version.count(".") != 2:
            raise HarnessError(f"--cert-manager {self.version}: give a release tag, e.g. v1.11.5")
        scheme = urllib.parse.urlsplit(self.chart_repo).scheme
        if scheme not in ("http", "https", "oci") or not urllib.parse.urlsplit(self.chart_repo).netloc:
            raise HarnessError(f"--chart-repo {self.chart_repo}: give a Helm repository URL (https://charts.jetstack.io)"
                               f" or an OCI one (oci://quay.io/jetstack/charts)")
        oci.split_registry(self.image_registry)  # raises on a malformed one


@dataclass
class ChartFound:
    """Where the version's chart is, and the digest it must have (None: the index gives none)."""

    url: str
    digest: str | None
    registry: oci.Registry | None = None  # set for oci://: the chart is a blob there
    repository: str = ""


@dataclass
class Plan:
    """A request checked against the registry and the chart repository (nothing pulled beyond manifests)."""

    request: Request
    registry: oci.Registry
    prefix: str
    chart: ChartFound
    images: dict[str, oci.PulledImage] = field(default_factory=dict)

    def key(self) -> str:
        """The digests that make the bin dir: same digests, same dir (the cache key)."""
        parts = [self.request.version, self.chart.digest or self.chart.url,
                 *(f"{name}={image.digest}" for name, image in sorted(self.images.items()))]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _http_get(url: str, what: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=oci.REQUEST_TIMEOUT) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise HarnessError(f"{what}: {url} answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise HarnessError(f"{what}: {url} does not answer ({getattr(error, 'reason', error)}). Fix: check "
                           f"--chart-repo (a Helm repository with index.yaml, or oci://) and that it is reachable")


def find_chart(repo: str, version: str) -> ChartFound:
    """The chart `version` in the repository: from its index.yaml (Helm repository) or its OCI manifest."""
    if repo.startswith("oci://"):
        host, _, path = repo[len("oci://"):].partition("/")
        # helm's --plain-http, implied for a loopback registry (a local mirror); anything else is https.
        registry = oci.Registry("http" if _is_loopback(host) else "https", host)
        name = "/".join(part for part in (path.strip("/"), CHART) if part)
        try:
            digest, media_type, body = registry.manifest(name, version)
        except oci.RegistryError as error:
            raise HarnessError(f"--chart-repo {repo}: no chart {CHART} {version} there ({error})") from None
        document = oci.parse_manifest(body, media_type, f"chart {repo}/{CHART}:{version}")
        layer = next((d for d in document.get("layers", []) if d.get("mediaType") == HELM_CHART_LAYER), None)
        if layer is None:
            raise HarnessError(f"--chart-repo {repo}: {CHART}:{version} is not a Helm chart (no {HELM_CHART_LAYER})")
        return ChartFound(f"{repo}/{CHART}:{version}@{digest}", layer["digest"], registry, name)
    index_url = repo.rstrip("/") + "/index.yaml"
    try:
        index = yaml.safe_load(_http_get(index_url, f"--chart-repo {repo}")) or {}
    except yaml.YAMLError as error:
        raise HarnessError(f"--chart-repo {repo}: {index_url} is not YAML ({error})") from None
    entries = (index.get("entries") or {}).get(CHART) or []
    for entry in entries:
        if str(entry.get("version")) in (version, version.lstrip("v")) and entry.get("urls"):
            url = urllib.parse.urljoin(repo.rstrip("/") + "/", entry["urls"][0])
            digest = entry.get("digest")
            return ChartFound(url, f"sha256:{digest}" if digest and ":" not in digest else digest)
    known = ", ".join(sorted(str(e.get("version")) for e in entries)[-8:]) or "none"
    raise HarnessError(f"--chart-repo {repo}: its index.yaml has no {CHART} chart {version} (it has: {known}). "
                       f"Fix: choose a version the repository holds, or point --chart-repo at one that has it")


def plan(request: Request) -> Plan:
    """Everything about the request that can be wrong, checked before a lab starts (one HarnessError each)."""
    scheme, host, prefix = oci.split_registry(request.image_registry)
    registry = oci.Registry(scheme, host)
    registry.ping()
    chart = find_chart(request.chart_repo, request.version)
    found = Plan(request, registry, prefix, chart)
    for name, _ in IMAGES:
        try:
            found.images[name] = registry.image(repository(name, prefix), request.version)
        except oci.RegistryError as error:
            if name in REQUIRED:
                raise HarnessError(f"cert-manager {request.version}: image {name}: {error}. Fix: check "
                                   f"--image-registry (its images are {host}/{repository(name, prefix)}:<version>)"
                                   ) from None
    return found


def describe(bin_dir: str | os.PathLike | None) -> dict | None:
    """The artifacts.json of a bin dir fetch() made (its digests and origins), else None."""
    if bin_dir is None:
        return None
    path = Path(bin_dir) / MANIFEST
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None


def _chart_archive(found: ChartFound) -> bytes:
    if found.registry is not None:
        return found.registry.blob(found.repository, found.digest).read_bytes()
    data = _http_get(found.url, "chart download")
    return oci.verify(data, found.digest, f"chart {found.url}") if found.digest else data


def _unpack_chart(data: bytes, target: Path, version: str) -> None:
    """The chart archive (cert-manager/...) into `target`; its Chart.yaml must name `version`."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(f"{CHART}/") and (m.isfile() or m.isdir())]
        for member in members:
            member.name = member.name[len(CHART) + 1:]
            if member.name.startswith("/") or ".." in Path(member.name).parts:
                raise HarnessError(f"chart {CHART} {version}: its archive holds {CHART}/{member.name}, outside the "
                                   "chart's directory: not unpacked")
        # Only files and directories inside the chart, checked above; Python's own "data" filter too where it has
        # one (3.11.4 on: Debian 12's python3 is 3.11.2).
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(target, members=[m for m in members if m.name], **safe)
    metadata = yaml.safe_load((target / "Chart.yaml").read_text()) or {}
    if str(metadata.get("appVersion")).lstrip("v") != version.lstrip("v"):
        raise HarnessError(f"chart {CHART} {version}: its Chart.yaml says appVersion {metadata.get('appVersion')}")


def render_crds(chart: Path, target: Path) -> None:
    """The chart's CRDs (its templates, installCRDs / crds.enabled), rendered by helm into target/crds.yaml."""
    kube = binaries.load_components()["kube-apiserver"].version
    documents = helm.render(chart, CHART, "cert-manager", {"installCRDs": True, "crds": {"enabled": True}},
                            kube_version=kube)
    crds = [doc for doc in documents if doc.get("kind") == "CustomResourceDefinition"]
    if not crds:
        raise HarnessError(f"chart {chart}: renders no CustomResourceDefinition with installCRDs=true")
    target.mkdir()
    (target / "crds.yaml").write_text(yaml.safe_dump_all(crds, sort_keys=False))


def fetch(found: Plan, *, out: TextIO = sys.stderr) -> Path:
    """The bin dir of the planned artifacts (made once per set of digests; see the module docstring)."""
    version = found.request.version
    target = binaries.cache_dir() / "official" / f"cert-manager-{version}-{found.key()}"
    if describe(target) is not None:
        record_origin(target, found)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fetch-", dir=target.parent) as scratch:
        staged = Path(scratch, "out")
        (staged / "images").mkdir(parents=True)
        images = {}
        for name, component in IMAGES:
            image = found.images.get(name)
            if image is None:
                continue
            print(f"cert-manager {version}: pulling {image.reference}@{image.digest} ...", file=out, flush=True)
            repo = repository(name, found.prefix)
            layers = [(found.registry.blob(repo, layer["digest"]), layer.get("mediaType", "")) for layer in image.layers]
            program = oci.entrypoint(image.config)
            binary = staged / component
            binary.write_bytes(oci.extract_file(layers, program))
            binary.chmod(0o755)
            (staged / "images" / f"{name}.json").write_bytes(image.manifest)
            images[name] = {"component": component, "pulled": image.reference, "digest": image.digest,
                            "index_digest": image.index_digest, "media_type": image.media_type,
                            "config": image.config, "entrypoint": program,
                            "binary_sha256": oci.digest_of(binary.read_bytes()),
                            "name": official_name(name, version)}
        chart = found.chart
        print(f"cert-manager {version}: chart from {chart.url} ...", file=out, flush=True)
        _unpack_chart(_chart_archive(chart), staged / "chart", version)
        render_crds(staged / "chart", staged / "crds")
        (staged / MANIFEST).write_text(json.dumps({
            "version": version, "image_registry": found.request.image_registry,
            "chart_repo": found.request.chart_repo, "chart": {"url": chart.url, "digest": chart.digest},
            "images": images}, indent=2) + "\n")
        if describe(target) is not None:  # another run made it meanwhile, from the same digests: keep that one
            return target
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    print(f"cert-manager {version}: official artifacts in {target}", file=out, flush=True)
    return target


def record_origin(bin_dir: Path, found: Plan) -> None:
    """A cached bin dir now came from `found`'s registry and chart repository: the same digests (its cache key), so
    the journal names where this run found them, never where an earlier run did (a mirror of another address)."""
    described = describe(bin_dir)
    described.update(image_registry=found.request.image_registry, chart_repo=found.request.chart_repo)
    described["chart"]["url"] = found.chart.url
    for name, image in described["images"].items():
        if name in found.images:
            image["pulled"] = found.images[name].reference
    staged = bin_dir / f".{MANIFEST}.{os.getpid()}"
    staged.write_text(json.dumps(described, indent=2) + "\n")
    staged.replace(bin_dir / MANIFEST)  # whole or not at all, for a run reading it meanwhile


def chart_facts(bin_dir: str | os.PathLike | None) -> dict | None:
    """What a journal records of a fetched bin dir's chart (where from, its digest), else None."""
    described = describe(bin_dir)
    if described is None:
        return None
    return {"version": described["version"], "source": "chart", "origin": described["chart"]["url"],
            "digest": described["chart"]["digest"], "path": str(Path(bin_dir) / "chart")}


def component_image(bin_dir: Path, component: str) -> dict | None:
    """The image a component binary of a fetched bin dir was taken out of (artifacts.json), else None."""
    described = describe(bin_dir)
    if described is None:
        return None
    return next((image for image in described["images"].values() if image["component"] == component), None)


def write_archive(bin_dir: Path, name: str, archive: Path) -> Path:
    """The pulled image `name` (controller, ...) of a fetched bin dir as an OCI archive at `archive`, under
    its official name, from the digest cache."""
    described = describe(bin_dir)
    image = described["images"][name]
    manifest = (bin_dir / "images" / f"{name}.json").read_bytes()
    document = oci.parse_manifest(manifest, image["media_type"], f"image {name}")
    blobs = {}
    for descriptor in [document["config"], *document["layers"]]:
        path = oci.blob_cache() / descriptor["digest"].split(":", 1)[1]
        if not path.is_file():
            raise HarnessError(f"image {image['pulled']}: blob {descriptor['digest']} left the cache "
                               f"({oci.blob_cache()}). Fix: remove {bin_dir} and run again to pull it anew")
        blobs[descriptor["digest"]] = path
    pulled = oci.PulledImage(image["pulled"], image["digest"], image["index_digest"], manifest, image["media_type"],
                             image["config"], tuple(document["layers"]))
    oci.write_oci_archive(archive, image["name"], pulled, blobs)
    return archive
