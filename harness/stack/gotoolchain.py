"""The Go toolchain every build uses: a new enough `go` on PATH, else the pinned Go fetched into the cache.

A stock Debian or Ubuntu has no Go, or one too old (Debian 12's golang-go is 1.19; the wrapper modules need
MIN_GO). The Go module proxy serves each Go release as the module golang.org/toolchain, as Go's own
GOTOOLCHAIN switch fetches it: this module does the same in Python, so no Go is needed to get Go. The zip is
verified against its pinned go.sum hash (h1:, checked against the checksum database when pinned) before it is
unpacked into $CERTCHAOS_CACHE/go/go<version>.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import TextIO

from harness.errors import HarnessError
from harness.stack.binaries import GOMODULES, cache_dir

# The newest `go` line among the wrapper modules (gomodules/stakater-reloader: go 1.26.8); a unit test keeps it true.
MIN_GO = (1, 26)
# The Go fetched when PATH has none new enough: the release every binary was last built and tested with.
PINNED = "1.26.8"
# `go mod download -json golang.org/toolchain@v0.0.1-go1.26.8.<platform>` (verified by sum.golang.org).
PINNED_SUMS = {
    "linux-amd64": "h1:ZOmGe1OnfREDMIdb1Qi4G9JSuDPBLGExZMQ4nis1RXM=",
    "linux-arm64": "h1:sYL/O6MqS68ML0kjsQ36WoYIpJqkw60TxizWUYUKQMc=",
}
DEFAULT_PROXY = "https://proxy.golang.org"
FIX = f"install Go >= {MIN_GO[0]}.{MIN_GO[1]} (https://go.dev/dl/) and put its bin/ first on PATH"
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def go_version(go: str) -> tuple[int, int] | None:
    """(major, minor) of the toolchain `go`, from `go env GOVERSION`; None when it does not say."""
    said = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, GOTOOLCHAIN="local")).stdout.strip()
    found = re.match(r"go(\d+)\.(\d+)", said)
    return (int(found.group(1)), int(found.group(2))) if found else None


def module_go_lines(root: Path = GOMODULES) -> dict[str, tuple[int, int]]:
    """Each wrapper module's `go` line as (major, minor): the oldest Go that builds it."""
    lines = {}
    for go_mod in sorted(root.glob("*/go.mod")):
        found = re.search(r"^go (\d+)\.(\d+)", go_mod.read_text(), re.MULTILINE)
        if found:
            lines[go_mod.parent.name] = (int(found.group(1)), int(found.group(2)))
    return lines


def platform_name() -> str:
    return f"{sys.platform}-{_ARCH.get(platform.machine().lower(), platform.machine().lower())}"


def pinned_root() -> Path:
    return cache_dir() / "go" / f"go{PINNED}"


def find_go() -> str | None:
    """A Go new enough to build the wrapper modules without fetching anything: `go` on PATH if it is at least
    MIN_GO, else the pinned Go when already fetched; None when neither."""
    on_path = shutil.which("go")
    if on_path is not None and (go_version(on_path) or (0, 0)) >= MIN_GO:
        return on_path
    pinned = pinned_root() / "bin" / "go"
    return str(pinned) if os.access(pinned, os.X_OK) else None


def require_go(out: TextIO = sys.stderr) -> str:
    """find_go(), else the pinned Go fetched from the Go module proxy; else one error naming what to install."""
    go = find_go()
    if go is not None:
        return go
    on_path = shutil.which("go")
    found = f"{on_path} is go{'.'.join(map(str, go_version(on_path) or ('?',)))}" if on_path else "no `go` on PATH"
    print(f"Go >= {MIN_GO[0]}.{MIN_GO[1]} is needed and {found}: fetching Go {PINNED} into {pinned_root()}",
          file=out, flush=True)
    try:
        fetch_pinned()
    except HarnessError as error:
        raise HarnessError(f"building needs Go >= {MIN_GO[0]}.{MIN_GO[1]}: {found}, and fetching Go {PINNED} "
                           f"failed: {error}. Fix: {FIX}") from None
    return str(pinned_root() / "bin" / "go")


def proxies() -> list[str]:
    """The HTTP(S) proxies of $GOPROXY in order (`direct` and `off` fetch no toolchain zip)."""
    value = os.environ.get("GOPROXY") or DEFAULT_PROXY
    return [entry.rstrip("/") for entry in re.split(r"[,|]", value) if entry.startswith(("https://", "http://"))]


def dirhash_h1(zip_path: Path) -> str:
    """Go's go.sum hash of a module zip (golang.org/x/mod/sumdb/dirhash.HashZip with Hash1)."""
    summary = hashlib.sha256()
    with zipfile.ZipFile(zip_path) as archive:
        for name in sorted(archive.namelist()):
            file_hash = hashlib.sha256()
            with archive.open(name) as member:
                for chunk in iter(lambda: member.read(1 << 20), b""):
                    file_hash.update(chunk)
            summary.update(f"{file_hash.hexdigest()}  {name}\n".encode())
    return "h1:" + base64.b64encode(summary.digest()).decode()


def fetch_pinned() -> Path:
    """Download, verify and unpack the pinned Go; returns its GOROOT. Raises HarnessError saying why not."""
    target = pinned_root()
    expected = PINNED_SUMS.get(platform_name())
    if expected is None:
        raise HarnessError(f"no pinned Go for {platform_name()} (pinned: {', '.join(PINNED_SUMS)})")
    candidates = proxies()
    if not candidates:
        raise HarnessError(f"GOPROXY={os.environ.get('GOPROXY')!r} names no HTTP(S) proxy to fetch it from")
    version = f"v0.0.1-go{PINNED}.{platform_name()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fetch-", dir=target.parent) as scratch:
        zip_path = Path(scratch, "toolchain.zip")
        errors = []
        for proxy in candidates:
            url = f"{proxy}/golang.org/toolchain/@v/{version}.zip"
            try:
                with urllib.request.urlopen(url, timeout=120) as response, open(zip_path, "wb") as sink:
                    shutil.copyfileobj(response, sink, 1 << 20)  # ~70 MB
                break
            except (urllib.error.URLError, OSError) as error:
                errors.append(f"{url}: {error}")
        else:
            raise HarnessError("; ".join(errors))
        found = dirhash_h1(zip_path)
        if found != expected:
            raise HarnessError(f"{url} has hash {found}, pinned is {expected}: not unpacked")
        unpacked = Path(scratch, "root")
        _unpack(zip_path, f"golang.org/toolchain@{version}/", unpacked)
        if target.exists():  # a half-unpacked one from a killed run: never used, since bin/go comes last
            shutil.rmtree(target)
        unpacked.rename(target)
    return target


def _unpack(zip_path: Path, prefix: str, root: Path) -> None:
    """Unpack as Go's toolchain switch does: exec bits on bin/ and pkg/tool/, each _go.mod copied to go.mod
    (the module zip renames them so the std sources do not count as nested modules)."""
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(prefix) or info.is_dir():
                raise HarnessError(f"unexpected entry {info.filename!r} in the toolchain zip")
            relative = info.filename[len(prefix):]
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as member, open(path, "wb") as sink:
                shutil.copyfileobj(member, sink, 1 << 20)
            executable = relative.startswith(("bin/", "pkg/tool/")) or (info.external_attr >> 16) & 0o111
            path.chmod(0o755 if executable else 0o644)
            if path.name == "_go.mod":
                shutil.copyfile(path, path.with_name("go.mod"))


def module_source(module: str, version: str, what: str, fix: str) -> Path:
    """The unpacked source of Go module `module`@`version` in the module cache (downloaded through the Go
    proxy if needed): where a component's manifests, CRDs or chart are read from, never copied into the repo."""
    try:
        go = require_go()
    except HarnessError as error:
        raise HarnessError(f"{what}: not cached, and fetching them needs Go: {error}; or {fix}") from None
    result = subprocess.run([go, "mod", "download", "-json", f"{module}@{version}"], capture_output=True, text=True)
    info = json.loads(result.stdout or "{}")
    if result.returncode != 0 or "Dir" not in info:
        raise HarnessError(f"{what}: `go mod download {module}@{version}` failed: "
                           f"{info.get('Error') or result.stderr.strip()}")
    return Path(info["Dir"])
