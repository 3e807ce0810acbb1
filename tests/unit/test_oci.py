"""The OCI registry client: digests, manifests and indexes, layers and whiteouts, and the HTTP API (anonymous
bearer tokens, a registry that serves other bytes than their digest names) against a small server here."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from harness.errors import HarnessError
from harness.stack import oci

ARCHES = st.sampled_from(["amd64", "arm64", "ppc64le", "s390x", "unknown"])
OSES = st.sampled_from(["linux", "windows", "unknown"])


@given(st.binary(max_size=512))
def test_verify_accepts_exactly_the_bytes_the_digest_names(data):
    assert oci.verify(data, oci.digest_of(data), "blob") == data


@given(st.binary(max_size=256), st.binary(max_size=256))
def test_verify_refuses_other_bytes(data, other):
    if data == other:
        return
    with pytest.raises(oci.RegistryError, match="does not match its digest"):
        oci.verify(other, oci.digest_of(data), "blob")


@pytest.mark.parametrize("digest", ["sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha512:" + "a" * 128, "a" * 64,
                                    None, "sha256:" + "g" * 64])
def test_a_digest_that_is_not_canonical_sha256_is_refused(digest):
    with pytest.raises(oci.RegistryError, match="not a sha256 digest"):
        oci.check_digest(digest, "descriptor")


def _descriptor(os_name: str, arch: str, n: int) -> dict:
    return {"mediaType": oci.OCI_MANIFEST, "digest": "sha256:" + f"{n:064x}", "size": 1,
            "platform": {"os": os_name, "architecture": arch}}


@given(st.lists(st.tuples(OSES, ARCHES), max_size=6), OSES, ARCHES)
def test_select_platform_takes_the_first_entry_of_that_platform_or_names_what_there_is(platforms, os_name, arch):
    index = {"schemaVersion": 2, "manifests": [_descriptor(o, a, n) for n, (o, a) in enumerate(platforms)]}
    if (os_name, arch) in platforms:
        chosen = oci.select_platform(index, os_name, arch)
        assert chosen["digest"] == index["manifests"][platforms.index((os_name, arch))]["digest"]
    else:
        with pytest.raises(oci.RegistryError, match=f"no {os_name}/{arch} manifest") as raised:
            oci.select_platform(index, os_name, arch)
        for o, a in platforms:
            assert f"{o}/{a}" in str(raised.value)


MANIFEST = {"schemaVersion": 2, "config": {"mediaType": oci.OCI_CONFIG, "digest": "sha256:" + "1" * 64, "size": 2},
            "layers": [{"mediaType": oci.OCI_LAYER_GZIP, "digest": "sha256:" + "2" * 64, "size": 3}]}


@pytest.mark.parametrize("media_type", [oci.OCI_MANIFEST, oci.DOCKER_MANIFEST, "application/json", ""])
def test_a_manifest_is_read_whatever_content_type_the_registry_sends(media_type):
    assert oci.parse_manifest(json.dumps(MANIFEST).encode(), media_type, "m")["mediaType"] in oci.MANIFESTS


def test_an_index_is_recognised_by_its_manifests_list():
    index = {"schemaVersion": 2, "manifests": [_descriptor("linux", "amd64", 1)]}
    assert oci.parse_manifest(json.dumps(index).encode(), "", "i")["mediaType"] == oci.OCI_INDEX


@pytest.mark.parametrize("body,message", [
    (b"{", "not JSON"), (json.dumps({"schemaVersion": 1}).encode(), "schema version 2"),
    (json.dumps({**MANIFEST, "config": None}).encode(), "without config and layers"),
    (json.dumps({**MANIFEST, "layers": [{"digest": "md5:x"}]}).encode(), "not a sha256 digest"),
    (json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": {}}).encode(), "without a manifests"),
])
def test_a_malformed_manifest_is_one_clear_error(body, message):
    with pytest.raises(oci.RegistryError, match=message):
        oci.parse_manifest(body, oci.OCI_MANIFEST, "m")


def test_a_bearer_challenge_is_parsed_and_basic_is_not_answered():
    header = 'Bearer realm="https://quay.io/v2/auth",service="quay.io",scope="repository:jetstack/x:pull"'
    assert oci.parse_challenge(header) == {"realm": "https://quay.io/v2/auth", "service": "quay.io",
                                           "scope": "repository:jetstack/x:pull"}
    assert oci.parse_challenge('Basic realm="registry"') is None


@pytest.mark.parametrize("text,expected", [
    ("quay.io", ("https", "quay.io", "")), ("http://127.0.0.1:5000", ("http", "127.0.0.1:5000", "")),
    ("mirror.example:5000/quay/", ("https", "mirror.example:5000", "quay")),
])
def test_an_image_registry_is_host_port_and_prefix(text, expected):
    assert oci.split_registry(text) == expected


@pytest.mark.parametrize("text", ["ftp://quay.io", "", "http://", "bad host"])
def test_a_malformed_image_registry_is_refused(text):
    with pytest.raises(HarnessError, match="--image-registry"):
        oci.split_registry(text)


# -- layers ---------------------------------------------------------------------------------------------

def _layer(tmp_path: Path, name: str, entries: list[tuple[str, bytes | str | None]], compress: bool) -> Path:
    """A layer tar: (path, bytes) a file, (path, str) a symlink to str, (path, None) a whiteout of path."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, content in entries:
            if content is None:
                parent, _, base = path.rpartition("/")
                info = tarfile.TarInfo(f"{parent}/.wh.{base}" if parent else f".wh.{base}")
                tar.addfile(info, io.BytesIO(b""))
            elif isinstance(content, str):
                info = tarfile.TarInfo(path)
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info = tarfile.TarInfo(path)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    data = gzip.compress(buffer.getvalue()) if compress else buffer.getvalue()
    path = tmp_path / name
    path.write_bytes(data)
    return path


OPS = st.lists(st.tuples(st.sampled_from(["write", "delete", "other", "delete-parent"]), st.binary(max_size=8),
                         st.booleans()), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None)
@given(OPS)
def test_the_file_is_what_the_topmost_layer_that_touches_it_says(tmp_path_factory, ops):
    tmp_path = tmp_path_factory.mktemp("layers")
    model: bytes | None = None
    layers = []
    for n, (op, content, compress) in enumerate(ops):
        if op == "write":
            entries, model = [("app/bin/controller", content)], content
        elif op == "delete":
            entries, model = [("app/bin/controller", None)], None
        elif op == "delete-parent":
            entries, model = [("app/bin", None)], None
        else:
            entries = [("app/bin/other", content)]
        layers.append((_layer(tmp_path, f"l{n}", entries, compress), oci.OCI_LAYER_GZIP))
    if model is None:
        with pytest.raises(oci.RegistryError, match="not in the image"):
            oci.extract_file(layers, "/app/bin/controller")
    else:
        assert oci.extract_file(layers, "/app/bin/controller") == model


def test_a_symlinked_entrypoint_is_followed_within_the_image(tmp_path):
    layers = [(_layer(tmp_path, "a", [("usr/local/bin/real", b"ELF"), ("app/controller", "../usr/local/bin/real")],
                      True), oci.OCI_LAYER_GZIP)]
    assert oci.extract_file(layers, "/app/controller") == b"ELF"


def test_the_entrypoint_is_the_first_word_of_entrypoint_then_cmd():
    assert oci.entrypoint({"config": {"Entrypoint": ["/app/cmd/controller/controller"], "Cmd": ["--v=2"]}}) == \
        "/app/cmd/controller/controller"
    assert oci.entrypoint({"config": {"Cmd": ["/ko-app/webhook"]}}) == "/ko-app/webhook"
    with pytest.raises(oci.RegistryError, match="no Entrypoint or Cmd"):
        oci.entrypoint({"config": {}})


# -- the HTTP API, against a registry of a few objects served here ----------------------------------------

class FakeRegistry(BaseHTTPRequestHandler):
    """Serves `objects` (path -> (content type, bytes)); with `token`, only to a request bearing it."""

    objects: dict[str, tuple[str, bytes]] = {}
    token: str | None = None
    digest_header: dict[str, str] = {}
    requests: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.requests.append(self.path)
        if self.path.startswith("/token"):
            return self._send(200, "application/json", json.dumps({"token": self.token}).encode())
        if self.token and self.path != "/v2/" and self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_response(401)
            host = self.headers["Host"]
            self.send_header("WWW-Authenticate", f'Bearer realm="http://{host}/token",service="fake"')
            self.end_headers()
            return
        if self.path == "/v2/":
            return self._send(200, "application/json", b"{}")
        if self.path not in self.objects:
            return self._send(404, "text/plain", b"not found")
        content_type, body = self.objects[self.path]
        self._send(200, content_type, body, self.digest_header.get(self.path))

    def _send(self, code, content_type, body, digest=None):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A FakeRegistry on 127.0.0.1 and a client for it; the blob cache in tmp_path."""
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "cache"))
    handler = type("Handler", (FakeRegistry,), {"objects": {}, "token": None, "digest_header": {}, "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, oci.Registry("http", f"127.0.0.1:{server.server_address[1]}", timeout=5)
    server.shutdown()
    server.server_close()
    thread.join()


def _publish(handler, repository: str, tag: str, files: dict[str, bytes]) -> tuple[str, str]:
    """An image of `files` in one gzip layer, in a linux/amd64 + linux/arm64 index tagged `tag`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    layer = gzip.compress(buffer.getvalue())
    config = json.dumps({"config": {"Entrypoint": ["/" + next(iter(files))]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                           "config": {"mediaType": oci.OCI_CONFIG, "digest": oci.digest_of(config), "size": 1},
                           "layers": [{"mediaType": oci.OCI_LAYER_GZIP, "digest": oci.digest_of(layer),
                                       "size": len(layer)}]}).encode()
    index = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [
        _descriptor("linux", "arm64", 7), {**_descriptor("linux", "amd64", 0), "digest": oci.digest_of(manifest)}]}
    ).encode()
    base = f"/v2/{repository}"
    handler.objects.update({
        f"{base}/manifests/{tag}": (oci.OCI_INDEX, index),
        f"{base}/manifests/{oci.digest_of(manifest)}": (oci.OCI_MANIFEST, manifest),
        f"{base}/blobs/{oci.digest_of(config)}": ("application/octet-stream", config),
        f"{base}/blobs/{oci.digest_of(layer)}": ("application/octet-stream", layer)})
    return oci.digest_of(index), oci.digest_of(manifest)


def test_an_image_is_pulled_anonymously_through_its_index_and_its_binary_taken_out(registry):
    handler, client = registry
    handler.token = "anonymous-token"
    index_digest, manifest_digest = _publish(handler, "jetstack/cert-manager-controller", "v1.11.5",
                                             {"app/controller": b"\x7fELF controller"})
    image = client.image("jetstack/cert-manager-controller", "v1.11.5", ("linux", "amd64"))
    assert (image.index_digest, image.digest) == (index_digest, manifest_digest)
    layers = [(client.blob("jetstack/cert-manager-controller", d["digest"]), d["mediaType"]) for d in image.layers]
    assert oci.extract_file(layers, oci.entrypoint(image.config)) == b"\x7fELF controller"
    assert any(path.startswith("/token") for path in handler.requests)  # the 401 was answered with a token


def test_a_blob_that_is_not_what_its_digest_names_is_refused_and_not_cached(registry):
    handler, client = registry
    wanted = oci.digest_of(b"the real layer")
    handler.objects[f"/v2/x/blobs/{wanted}"] = ("application/octet-stream", b"something else")
    with pytest.raises(oci.RegistryError, match="does not match its digest"):
        client.blob("x", wanted)
    assert not list(oci.blob_cache().glob("*"))


def test_a_manifest_whose_registry_digest_disagrees_is_refused(registry):
    handler, client = registry
    _publish(handler, "x", "v1", {"bin": b"1"})
    handler.digest_header["/v2/x/manifests/v1"] = oci.digest_of(b"another index")
    with pytest.raises(oci.RegistryError, match="does not match its digest"):
        client.image("x", "v1", ("linux", "amd64"))


def test_a_platform_the_index_lacks_and_a_missing_tag_are_clear_errors(registry):
    handler, client = registry
    _publish(handler, "x", "v1", {"bin": b"1"})
    with pytest.raises(oci.RegistryError, match="no linux/s390x manifest .*linux/arm64, linux/amd64"):
        client.image("x", "v1", ("linux", "s390x"))
    with pytest.raises(oci.RegistryError, match="not found in the registry"):
        client.image("x", "v2", ("linux", "amd64"))


def test_a_registry_that_does_not_answer_says_so_with_the_fix():
    with pytest.raises(oci.RegistryError, match="does not answer .*Fix: check the address"):
        oci.Registry("http", "127.0.0.1:9", timeout=2).ping()


def test_an_oci_archive_holds_the_manifest_byte_for_byte_under_the_official_name(registry, tmp_path):
    handler, client = registry
    _publish(handler, "x", "v1", {"bin": b"1"})
    image = client.image("x", "v1", ("linux", "amd64"))
    blobs = {d["digest"]: client.blob("x", d["digest"]) for d in [*image.layers]}
    blobs[oci.parse_manifest(image.manifest, image.media_type, "m")["config"]["digest"]] = \
        client.blob("x", oci.parse_manifest(image.manifest, image.media_type, "m")["config"]["digest"])
    archive = tmp_path / "image.tar"
    oci.write_oci_archive(archive, "quay.io/jetstack/cert-manager-x:v1", image, blobs)
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))
        assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == "quay.io/jetstack/cert-manager-x:v1"
        stored = tar.extractfile(f"blobs/sha256/{image.digest.split(':')[1]}").read()
        assert oci.digest_of(stored) == image.digest == index["manifests"][0]["digest"]
        for digest in blobs:
            assert oci.digest_of(tar.extractfile(f"blobs/sha256/{digest.split(':')[1]}").read()) == digest
