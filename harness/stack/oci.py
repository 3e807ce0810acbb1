"""An OCI registry client over the Distribution HTTP API (/v2/): what certchaos needs to take cert-manager's
official images apart without a docker daemon or a registry login.

An image is a manifest (JSON) naming a config blob and tar layers, each by its sha256 digest; a multi-platform
image is an index naming one manifest per platform. Everything read is checked against the digest that names it
(a manifest fetched by tag against the registry's Docker-Content-Digest), and blobs are cached by digest under
$CERTCHAOS_CACHE/oci/blobs. Anonymous pulls work as `docker pull` does: a 401 with a Bearer challenge is
answered with a token from the challenge's realm, no credentials. Push (monolithic uploads) is here only to
fill a local registry (harness/stack/mirror.py).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import re
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.stack import binaries

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
INDEXES = (OCI_INDEX, DOCKER_LIST)
MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join((*INDEXES, *MANIFESTS))
# One manifest or token request answers in well under a second; a layer of ~30 MB over a slow link in
# tens. 60 s per request means the registry (or the network to it) is not answering.
REQUEST_TIMEOUT = 60.0
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
# Go's GOARCH names, which OCI platforms use, for Python's machine names.
_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le",
                  "s390x": "s390x"}


class RegistryError(HarnessError):
    """A registry that does not answer, refuses, or serves something other than what its digest names."""


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str, what: str) -> str:
    """`digest` if it is a sha256 digest in canonical form, else RegistryError naming `what`."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise RegistryError(f"{what}: {digest!r} is not a sha256 digest (sha256:<64 hex digits>); only sha256 is "
                            f"read here")
    return digest


def verify(data: bytes, digest: str, what: str) -> bytes:
    """`data` if its sha256 is `digest`, else RegistryError: what the registry served is not what was named."""
    found = digest_of(data)
    if found != check_digest(digest, what):
        raise RegistryError(f"{what}: content does not match its digest (expected {digest}, got {found}): the "
                            f"registry or something between served other bytes")
    return data


def runtime_platform() -> tuple[str, str]:
    """(os, architecture) in OCI's terms for this machine: the binaries must run here."""
    machine = platform.machine().lower()
    return "linux", _ARCHITECTURES.get(machine, machine)


def select_platform(index: dict, os_name: str, architecture: str) -> dict:
    """The descriptor of `index` for os/architecture (attestation manifests, platform unknown/unknown, never
    match), or RegistryError listing the platforms the index has."""
    offered = []
    for descriptor in index.get("manifests") or []:
        wanted = descriptor.get("platform") or {}
        offered.append(f"{wanted.get('os')}/{wanted.get('architecture')}")
        if wanted.get("os") == os_name and wanted.get("architecture") == architecture:
            check_digest(descriptor.get("digest"), "index entry")
            return descriptor
    raise RegistryError(f"the image has no {os_name}/{architecture} manifest (it has: {', '.join(offered) or 'none'})")


def parse_manifest(body: bytes, media_type: str, what: str) -> dict:
    """A manifest or index as JSON, checked for the fields read later; its mediaType field (when present)
    wins over the Content-Type header, which registries fill loosely."""
    try:
        document = json.loads(body)
    except ValueError as error:
        raise RegistryError(f"{what}: not JSON ({error})") from None
    if not isinstance(document, dict) or document.get("schemaVersion") != 2:
        raise RegistryError(f"{what}: not an image manifest of schema version 2")
    kind = document.get("mediaType") or media_type
    if kind not in (*INDEXES, *MANIFESTS):
        kind = OCI_INDEX if "manifests" in document else OCI_MANIFEST if "layers" in document else kind
    if kind in INDEXES and not isinstance(document.get("manifests"), list):
        raise RegistryError(f"{what}: an index without a manifests list")
    if kind in MANIFESTS:
        if not isinstance(document.get("layers"), list) or not isinstance(document.get("config"), dict):
            raise RegistryError(f"{what}: a manifest without config and layers")
        for descriptor in [document["config"], *document["layers"]]:
            check_digest(descriptor.get("digest"), f"{what}: descriptor")
    if kind not in (*INDEXES, *MANIFESTS):
        raise RegistryError(f"{what}: unknown manifest type {kind!r}")
    document["mediaType"] = kind
    return document


def parse_challenge(header: str) -> dict[str, str] | None:
    """The parameters of a `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` header, or None
    for another scheme (Basic: a login, which certchaos does not do)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return dict(_CHALLENGE_PARAM.findall(rest))


def split_registry(text: str) -> tuple[str, str, str]:
    """--image-registry HOST[:PORT][/PREFIX], optionally with http:// or https:// (default): (scheme, host,
    prefix). The prefix goes before the image's repository (a mirror that keeps quay.io's under `quay/`)."""
    value = text.strip()
    scheme = "https"
    if "://" in value:
        scheme, _, value = value.partition("://")
        if scheme not in ("http", "https"):
            raise HarnessError(f"--image-registry {text}: scheme {scheme}:// is not one of http://, https://. "
                               f"Fix: give HOST[:PORT][/PREFIX], e.g. quay.io or mirror.example:5000/quay")
    host, _, prefix = value.partition("/")
    if not host or not re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?|\[[0-9a-fA-F:]+\](:\d+)?", host):
        raise HarnessError(f"--image-registry {text}: {host!r} is not a host[:port]. Fix: give HOST[:PORT][/PREFIX], "
                           f"e.g. quay.io or 127.0.0.1:5000")
    return scheme, host, prefix.strip("/")


def blob_cache() -> Path:
    return binaries.cache_dir() / "oci" / "blobs" / "sha256"


@dataclass(frozen=True)
class PulledImage:
    """One platform's image as pulled: what a journal records and what an OCI archive holds."""

    reference: str  # where it was pulled from, host/repository:tag
    digest: str  # the manifest's digest (the platform's, not the index's)
    index_digest: str | None  # the tag's index digest, when the tag names a multi-platform index
    manifest: bytes
    media_type: str
    config: dict
    layers: tuple[dict, ...]  # the manifest's layer descriptors, base first


class Registry:
    """One registry's /v2/ API, anonymous, with a bearer token per repository scope when asked for one."""

    def __init__(self, scheme: str, host: str, timeout: float = REQUEST_TIMEOUT):
        self.base = f"{scheme}://{host}"
        self.host = host
        self.timeout = timeout
        self._tokens: dict[str, str] = {}

    def _open(self, method: str, url: str, *, headers: dict | None = None, data: bytes | None = None,
              scope: str | None = None):
        for attempt in range(2):
            request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
            token = self._tokens.get(scope or "")
            if token:
                # Unredirected: a blob's redirect to a CDN must not carry the registry's token.
                request.add_unredirected_header("Authorization", f"Bearer {token}")
            try:
                return urllib.request.urlopen(request, timeout=self.timeout)
            except urllib.error.HTTPError as error:
                challenge = parse_challenge(error.headers.get("WWW-Authenticate", "")) if error.code == 401 else None
                if challenge is None or attempt or "realm" not in challenge:
                    raise
                self._tokens[scope or ""] = self._token(challenge, scope)
        raise AssertionError("unreachable")

    def _token(self, challenge: dict[str, str], scope: str | None) -> str:
        query = {key: value for key, value in (("service", challenge.get("service")),
                                               ("scope", challenge.get("scope") or scope)) if value}
        url = challenge["realm"] + ("?" + urllib.parse.urlencode(query) if query else "")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise RegistryError(f"registry {self.host}: anonymous token from {url} failed: {error}") from None
        token = answer.get("token") or answer.get("access_token")
        if not token:
            raise RegistryError(f"registry {self.host}: the token endpoint {url} gave no token (a login is needed; "
                                f"certchaos pulls anonymously: use a mirror that serves these images without one)")
        return token

    def _fail(self, error: Exception, what: str) -> RegistryError:
        if isinstance(error, urllib.error.HTTPError):
            return RegistryError(f"registry {self.host}: {what}: HTTP {error.code} {error.reason}")
        reason = getattr(error, "reason", error)
        return RegistryError(f"registry {self.base} does not answer ({what}: {reason}). Fix: check the address "
                             f"(--image-registry HOST[:PORT], http:// for a plain-HTTP mirror) and that it runs")

    def ping(self) -> None:
        """The registry answers /v2/ (200, or 401 asking for a token: both mean it speaks the API)."""
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{self.base}/v2/"), timeout=self.timeout):
                return
        except urllib.error.HTTPError as error:
            if error.code == 401:
                return
            raise self._fail(error, "GET /v2/") from None
        except (urllib.error.URLError, OSError) as error:
            raise self._fail(error, "GET /v2/") from None

    def manifest(self, repository: str, reference: str) -> tuple[str, str, bytes]:
        """(digest, media type, body) of repository:reference; by digest it is verified, by tag the body's
        digest must equal the registry's Docker-Content-Digest when it sends one."""
        what = f"{self.host}/{repository}:{reference}"
        scope = f"repository:{repository}:pull"
        try:
            with self._open("GET", f"{self.base}/v2/{repository}/manifests/{reference}",
                            headers={"Accept": ACCEPT}, scope=scope) as response:
                body = response.read()
                media_type = response.headers.get("Content-Type", "").split(";")[0]
                said = response.headers.get("Docker-Content-Digest")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                raise RegistryError(f"{what}: not found in the registry (HTTP 404)") from None
            raise self._fail(error, f"manifest {what}") from None
        except (urllib.error.URLError, OSError) as error:
            raise self._fail(error, f"manifest {what}") from None
        expected = reference if reference.startswith("sha256:") else said
        digest = digest_of(verify(body, expected, f"manifest {what}") if expected else body)
        return digest, media_type, body

    def image(self, repository: str, tag: str, platform_: tuple[str, str] | None = None) -> PulledImage:
        """The image repository:tag for this machine's platform (an index is resolved to its manifest), with
        its config read and verified."""
        os_name, architecture = platform_ or runtime_platform()
        what = f"{self.host}/{repository}:{tag}"
        digest, media_type, body = self.manifest(repository, tag)
        document = parse_manifest(body, media_type, f"manifest {what}")
        index_digest = None
        if document["mediaType"] in INDEXES:
            index_digest = digest
            try:
                descriptor = select_platform(document, os_name, architecture)
            except RegistryError as error:
                raise RegistryError(f"{what}: {error}") from None
            digest, media_type, body = self.manifest(repository, descriptor["digest"])
            document = parse_manifest(body, media_type, f"manifest {what}@{digest}")
            if document["mediaType"] not in MANIFESTS:
                raise RegistryError(f"{what}: the index entry for {os_name}/{architecture} is not an image manifest")
        config = json.loads(self.blob(repository, document["config"]["digest"]).read_bytes())
        return PulledImage(what, digest, index_digest, body, document["mediaType"], config,
                           tuple(document["layers"]))

    def blob(self, repository: str, digest: str) -> Path:
        """The blob `digest` in the cache (fetched once, verified before it is kept)."""
        check_digest(digest, f"blob of {repository}")
        path = blob_cache() / digest.split(":", 1)[1]
        if path.is_file():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".partial-", delete=False) as handle:
            try:
                with self._open("GET", f"{self.base}/v2/{repository}/blobs/{digest}",
                                scope=f"repository:{repository}:pull") as response:
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        hasher.update(chunk)
                        handle.write(chunk)
            except (urllib.error.URLError, OSError) as error:
                os.unlink(handle.name)
                raise self._fail(error, f"blob {repository}@{digest}") from None
        if "sha256:" + hasher.hexdigest() != digest:
            os.unlink(handle.name)
            raise RegistryError(f"blob {self.host}/{repository}@{digest}: content does not match its digest "
                                f"(got sha256:{hasher.hexdigest()})")
        os.replace(handle.name, path)
        return path

    # -- push: only to fill a local registry ----------------------------------------------------------
    def push_blob(self, repository: str, data: bytes) -> str:
        digest = digest_of(data)
        scope = f"repository:{repository}:pull,push"
        try:
            with self._open("HEAD", f"{self.base}/v2/{repository}/blobs/{digest}", scope=scope):
                return digest  # already there
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise self._fail(error, f"HEAD blob {digest}") from None
        try:
            with self._open("POST", f"{self.base}/v2/{repository}/blobs/uploads/", data=b"", scope=scope) as started:
                location = urllib.parse.urljoin(self.base, started.headers["Location"])
            separator = "&" if "?" in location else "?"
            with self._open("PUT", f"{location}{separator}digest={digest}", data=data, scope=scope,
                            headers={"Content-Type": "application/octet-stream"}):
                return digest
        except (urllib.error.URLError, OSError) as error:
            raise self._fail(error, f"upload of blob {digest} to {repository}") from None

    def push_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        try:
            with self._open("PUT", f"{self.base}/v2/{repository}/manifests/{reference}", data=body,
                            headers={"Content-Type": media_type}, scope=f"repository:{repository}:pull,push"):
                return digest_of(body)
        except (urllib.error.URLError, OSError) as error:
            raise self._fail(error, f"manifest {repository}:{reference}") from None


def _opened_layer(path: Path, media_type: str) -> tarfile.TarFile:
    if media_type.endswith("zstd"):
        raise RegistryError(f"layer {path.name}: zstd-compressed layers are not read here (gzip and plain tar are)")
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return tarfile.open(fileobj=gzip.open(path), mode="r|")
    return tarfile.open(path, mode="r|")


def _layer_member(layer: tarfile.TarFile, target: str) -> tuple[str, bytes | None]:
    """What one layer says of `target` (a path without leading /): ("file", bytes), ("link", None) with the
    link's target in place of the bytes' meaning, ("deleted", None), or ("absent", None)."""
    parts = target.split("/")
    whiteouts = {"/".join(parts[:i] + [".wh." + parts[i]]) for i in range(len(parts))}
    opaque = {"/".join(parts[:i] + [".wh..wh..opq"]) for i in range(1, len(parts))}
    outcome: tuple[str, bytes | None] = ("absent", None)
    for member in layer:
        name = member.name.lstrip("./") if member.name not in (".", "./") else ""
        name = name.lstrip("/")
        if name in whiteouts or name in opaque:
            outcome = ("deleted", None)
        elif name == target:
            if member.issym():
                outcome = ("link", member.linkname.encode())
            elif member.isfile():
                outcome = ("file", layer.extractfile(member).read())
    return outcome


def entrypoint(config: dict) -> str:
    """The program an image runs: its config's Entrypoint, else its Cmd, first element."""
    settings = config.get("config") or {}
    command = (settings.get("Entrypoint") or []) + (settings.get("Cmd") or [])
    if not command:
        raise RegistryError("the image's config names no Entrypoint or Cmd: no binary to take out")
    return command[0]


def extract_file(layers: list[tuple[Path, str]], path: str) -> bytes:
    """The file at absolute `path` in the filesystem the layers (base first: cached blob, media type) make:
    each layer replaces, deletes (whiteout) or keeps what the ones below said; a symlink is followed (within
    the image) up to 8 times."""
    target = path.lstrip("/")
    for _ in range(8):
        state: tuple[str, bytes | None] = ("absent", None)
        for blob, media_type in layers:
            with _opened_layer(blob, media_type) as layer:
                said = _layer_member(layer, target)
            if said[0] != "absent":
                state = said
        kind, content = state
        if kind == "file":
            return content
        if kind != "link":
            raise RegistryError(f"{path}: not in the image's layers" + (" (deleted by a whiteout)"
                                                                        if kind == "deleted" else ""))
        link = content.decode()
        target = os.path.normpath(os.path.join(os.path.dirname("/" + target), link)).lstrip("/")
    raise RegistryError(f"{path}: more than 8 symlinks deep")


def write_oci_archive(archive: Path, name: str, image: PulledImage, blobs: dict[str, Path]) -> None:
    """An OCI image layout as a tar (what `ctr images import` / `kind load image-archive` read), holding the
    pulled manifest byte for byte (so its digest is the registry's) under `name`, e.g. quay.io/x/y:v1."""
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        "mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest),
        "annotations": {"io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}}]}
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    with tarfile.open(partial, "w") as tar:
        def add_bytes(member: str, data: bytes) -> None:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add_bytes("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        add_bytes("index.json", json.dumps(index).encode())
        add_bytes(f"blobs/sha256/{image.digest.split(':', 1)[1]}", image.manifest)
        for digest, path in blobs.items():
            tar.add(path, arcname=f"blobs/sha256/{digest.split(':', 1)[1]}")
    partial.replace(archive)
