"""The Go the builds use: PATH's when new enough, else the pinned one fetched from a Go module proxy, verified.

The fetch runs against a real HTTP server on loopback serving a small toolchain-shaped module zip; the hash
function is checked against real Go's own `.ziphash` files where a module cache is at hand.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.stack import gotoolchain


def test_min_go_is_the_newest_go_line_of_the_wrapper_modules():
    assert gotoolchain.MIN_GO == max(gotoolchain.module_go_lines().values())
    assert gotoolchain.platform_name() in gotoolchain.PINNED_SUMS  # this machine can bootstrap


def _real_ziphashes(limit: int = 3) -> list[Path]:
    go = gotoolchain.find_go()
    if go is None:
        return []
    cache = subprocess.run([go, "env", "GOMODCACHE"], capture_output=True, text=True).stdout.strip()
    found = []
    for ziphash in Path(cache, "cache", "download").rglob("*.ziphash"):
        if ziphash.with_suffix(".zip").is_file() and ziphash.with_suffix(".zip").stat().st_size < 200_000:
            found.append(ziphash)
            if len(found) == limit:
                break
    return found


def test_the_zip_hash_is_gos_own():
    ziphashes = _real_ziphashes()
    if not ziphashes:
        pytest.skip("no Go module cache with downloaded zips here")
    for ziphash in ziphashes:
        assert gotoolchain.dirhash_h1(ziphash.with_suffix(".zip")) == ziphash.read_text().strip(), ziphash


def _fake_go(folder: Path, version: str) -> Path:
    """A `go` that says it is `version`: stands in for Debian's golang-go 1.19 on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    go = folder / "go"
    go.write_text(f"#!/bin/sh\necho {version}\n")
    go.chmod(0o755)
    return go


def _toolchain_zip() -> bytes:
    prefix = f"golang.org/toolchain@v0.0.1-go{gotoolchain.PINNED}.{gotoolchain.platform_name()}/"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(prefix + "bin/go", f"#!/bin/sh\necho go{gotoolchain.PINNED}\n")
        archive.writestr(prefix + "pkg/tool/linux_amd64/compile", "#!/bin/sh\n")
        archive.writestr(prefix + "src/_go.mod", "module std\n")
        archive.writestr(prefix + "src/cmd/_go.mod", "module cmd\n")
        archive.writestr(prefix + "VERSION", f"go{gotoolchain.PINNED}\n")
    return buffer.getvalue()


@pytest.fixture
def proxy():
    """A Go module proxy on loopback serving only the pinned toolchain zip; yields (url, requested paths)."""
    body, requested = _toolchain_zip(), []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requested.append(self.path)
            wanted = f"-go{gotoolchain.PINNED}.{gotoolchain.platform_name()}.zip"
            ok = not self.path.startswith("/missing/") and self.path.endswith(wanted)
            self.send_response(200 if ok else 404)
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requested
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def stock(tmp_path, monkeypatch):
    """No usable Go: PATH holds only a go1.19, the cache is empty."""
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", f"{_fake_go(tmp_path / 'old', 'go1.19.8').parent}:/usr/bin:/bin")
    return tmp_path


def test_a_new_enough_go_on_path_is_used_as_it_is(tmp_path, monkeypatch):
    go = _fake_go(tmp_path / "new", "go1.26.0")
    monkeypatch.setenv("PATH", f"{go.parent}:/usr/bin:/bin")
    monkeypatch.setenv("CERTCHAOS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GOPROXY", "off")  # nothing may be fetched
    assert gotoolchain.require_go(io.StringIO()) == str(go)


def test_without_a_new_enough_go_the_pinned_one_is_fetched_verified_and_unpacked(stock, proxy, monkeypatch):
    url, requested = proxy
    monkeypatch.setenv("GOPROXY", f"{url}/missing|{url},direct")  # the first answers 404: the next is tried
    zip_path = stock / "served.zip"
    zip_path.write_bytes(_toolchain_zip())
    monkeypatch.setitem(gotoolchain.PINNED_SUMS, gotoolchain.platform_name(), gotoolchain.dirhash_h1(zip_path))
    assert gotoolchain.find_go() is None  # go1.19 on PATH does not count
    out = io.StringIO()
    go = Path(gotoolchain.require_go(out))
    assert "no `go` on PATH" not in out.getvalue() and "go1.19" in out.getvalue()
    assert go == gotoolchain.pinned_root() / "bin" / "go"
    assert subprocess.run([go], capture_output=True, text=True).stdout.strip() == f"go{gotoolchain.PINNED}"
    root = gotoolchain.pinned_root()
    assert os.stat(root / "pkg/tool/linux_amd64/compile").st_mode & stat.S_IXUSR
    assert not os.stat(root / "VERSION").st_mode & stat.S_IXUSR
    assert (root / "src/go.mod").read_text() == "module std\n" and (root / "src/cmd/go.mod").is_file()
    assert len(requested) == 2
    assert gotoolchain.require_go(io.StringIO()) == str(go) and len(requested) == 2  # cached: no second fetch
    assert not list(root.parent.glob("fetch-*"))  # the download's scratch dir is gone


def test_a_zip_whose_hash_differs_from_the_pinned_one_is_never_unpacked(stock, proxy, monkeypatch):
    url, _ = proxy
    monkeypatch.setenv("GOPROXY", url)
    monkeypatch.setitem(gotoolchain.PINNED_SUMS, gotoolchain.platform_name(), "h1:AAAA")
    with pytest.raises(HarnessError, match=r"has hash h1:\S+, pinned is h1:AAAA: not unpacked") as error:
        gotoolchain.require_go(io.StringIO())
    assert f"Fix: install Go >= {gotoolchain.MIN_GO[0]}.{gotoolchain.MIN_GO[1]}" in str(error.value)
    assert gotoolchain.find_go() is None and not gotoolchain.pinned_root().exists()


def test_an_unreachable_proxy_is_one_error_naming_what_is_on_path_and_what_to_install(stock, monkeypatch):
    monkeypatch.setenv("GOPROXY", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(HarnessError) as error:
        gotoolchain.require_go(io.StringIO())
    message = str(error.value)
    assert "\n" not in message and "is go1.19" in message and "127.0.0.1:9" in message
    assert message.endswith(gotoolchain.FIX)


def test_goproxy_off_or_direct_only_fetches_nothing(stock, monkeypatch):
    monkeypatch.setenv("GOPROXY", "direct")
    with pytest.raises(HarnessError, match="names no HTTP"):
        gotoolchain.require_go(io.StringIO())
