"""The version of a binary as it runs, asked of the binary, never taken from the pin: a journal said Pebble v2.10.3
while Debian's 2.4.0 ran (the pin was reported for whatever binary was found).

In order: its version flag (`--version`, ...: Component.version_args), when it names a version ("dev" and
"git", what a plain `go build` leaves, do not); else the Go build info the binary carries (the version of
the module that holds its package, as `go version -m` reads it); else, for a file of a Debian package, the
package's version (dpkg-query); else "unknown". Each answer says where it came from (`version_from`), and
`origin` says where the binary came from (built from gomodules/X, the Debian package P, the user's bin dir).
"""

from __future__ import annotations

import functools
import json
import mmap
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.stack import official
from harness.stack.binaries import Component, Resolved

WIRED = "certchaos-wired"  # a release's packages under our own main (gomodules/*-wired), never its own binary
BUILD_MANIFEST = "version.json"  # what a pinned build's dir says of it (harness/upgrade/versions.py writes it)
_VERSION = re.compile(r"v?\d+\.\d+\.\d+[\w.+~-]*")
_BUILDINFO_MAGIC = b"\xff Go buildinf:"
VERSION_TIMEOUT = 10.0  # seconds: a version flag answers at once; a loaded machine starts a Go binary in ~1 s


@dataclass(frozen=True)
class Reported:
    version: str
    version_from: str  # "`pebble -version`", "Go build info: module M", "dpkg: package P", "nothing answered"


def version_in_output(text: str) -> str | None:
    """The first version (x.y.z, with v or a suffix such as +ds) in a version flag's output, else None
    ("Pebble version: dev", "toxiproxy-server version git": a build that was not stamped)."""
    found = _VERSION.search(text)
    return found.group(0) if found else None


def _uvarint(data, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


def go_modinfo(path: Path) -> str | None:
    """The module info a Go >= 1.18 binary carries (`go version -m`'s text: path, mod, dep, build lines),
    or None when it has none (not Go, an older Go, a GOPATH build)."""
    try:
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            start = data.find(_BUILDINFO_MAGIC)
            if start < 0 or len(data) < start + 32 or not data[start + 15] & 0x2:  # flag 2: strings inline
                return None
            offset = start + 32
            length, offset = _uvarint(data, offset)  # the Go version
            offset += length
            length, offset = _uvarint(data, offset)
            raw = bytes(data[offset:offset + length])
    except (OSError, ValueError, IndexError):
        return None
    # The text sits between two 16-byte sentinels.
    return raw[16:-16].decode(errors="replace") if len(raw) > 32 else None


def module_version(modinfo: str, package: str) -> tuple[str, str] | None:
    """(module, version) of the module that holds `package` (the longest module path that prefixes it),
    from the main module ("mod") or a dependency ("dep"); a replaced one's replacement version. A module
    replaced by a local directory keeps its required version, said of "M (replaced by a local copy)": how the
    mutants' and the coverage build's patched copies of a release are built."""
    modules: dict[str, str] = {}
    local: set[str] = set()
    last = None
    for line in modinfo.splitlines():
        fields = line.split("\t")
        if fields[0] in ("mod", "dep") and len(fields) >= 3:
            last = fields[1]
            modules[last] = fields[2]
        elif fields[0] == "=>" and last is not None and len(fields) >= 3:
            if fields[1].startswith(("/", "./", "../")):
                local.add(last)
            else:
                modules[last] = fields[2]
    owners = [module for module in modules if package == module or package.startswith(module + "/")]
    if not owners:
        return None
    module = max(owners, key=len)
    version = modules[module]
    if not _VERSION.fullmatch(version):
        return None  # "(devel)": a checkout, not a release
    return (f"{module} (replaced by a local copy)" if module in local else module), version


def dpkg_package(path: Path) -> tuple[str, str] | None:
    """(package, version) of the Debian package that installed `path` (its real path), or None."""
    real = str(Path(path).resolve())
    try:
        owner = subprocess.run(["dpkg-query", "-S", real], capture_output=True, text=True, timeout=VERSION_TIMEOUT)
        if owner.returncode != 0:
            return None
        package = owner.stdout.split(":", 1)[0].strip()
        version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                                 timeout=VERSION_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (package, version.stdout.strip()) if version.returncode == 0 and version.stdout.strip() else None


def _flag_version(path: Path, args: tuple[str, ...]) -> str | None:
    if not args:
        return None
    try:
        result = subprocess.run([str(path), *args], capture_output=True, text=True, timeout=VERSION_TIMEOUT,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return version_in_output(result.stdout + result.stderr) if result.returncode == 0 else None


@functools.lru_cache(maxsize=256)
def _asked(path: Path, stamp: tuple[int, int], component: Component) -> Reported:
    flag = _flag_version(path, component.version_args)
    if flag:
        return Reported(flag, f"`{path.name} {' '.join(component.version_args)}`")
    modinfo = go_modinfo(path) if component.package else None
    found = module_version(modinfo, component.package) if modinfo else None
    if found:
        return Reported(found[1], f"Go build info: module {found[0]}")
    package = dpkg_package(path)
    if package:
        return Reported(package[1], f"dpkg: package {package[0]}")
    return Reported("unknown", "nothing answered (no version flag, build info or package)")


def reported(resolved: Resolved) -> Reported:
    """What the binary `resolved` says its version is, and how that was learnt (asked once per file state)."""
    path = Path(resolved.path)
    try:
        stat = path.stat()
    except OSError:
        return Reported("unknown", f"{path}: not readable")
    said = _asked(path, (stat.st_size, stat.st_mtime_ns), resolved.component)
    if said.version == "unknown" and resolved.source == "cache":  # our own programs (pause, tlsserver): unstamped
        return Reported(resolved.component.version, "versions.toml pin: built here from our module, which does "
                                                    "not say its version")
    return said


def pinned_build(folder: Path) -> dict | None:
    """The manifest of a pinned build's dir (version, module, build: WIRED for ours), else None."""
    try:
        return json.loads((folder / BUILD_MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def origin(resolved: Resolved) -> str:
    """Where the binary came from, in words: built from our module, a Debian package, the user's bin dir, or
    an official image (`--cert-manager VERSION`: the image it was taken out of, by digest)."""
    component = resolved.component
    image = official.component_image(resolved.path.parent, component.name) if resolved.source == "bin-dir" else None
    if image is not None:
        return f"taken out of the image {image['pulled']}@{image['digest']} ({image['entrypoint']})"
    if resolved.source == "cache":
        return f"built from harness/stack/gomodules/{component.module} ({component.package})"
    if resolved.source == "bin-dir":
        built = pinned_build(resolved.path.parent) or {}
        if built.get("build") == WIRED:
            return (f"{WIRED}: cert-manager {built['version']}'s packages under certchaos's own main "
                    f"(harness/stack/gomodules/{built['module']}), not the release's binary ({resolved.path.parent})")
        return f"your bin dir ({resolved.path.parent})"
    package = dpkg_package(resolved.path)
    what = f"Debian package {package[0]}" if package else f"{resolved.path} (no package owns it)"
    return what + (" (the Go build is missing: the fallback)" if resolved.source == "apt-fallback" else "")


def facts(resolved: Resolved) -> dict[str, str]:
    """What a journal and doctor record of one component: the version that runs, how it was learnt, where the
    binary came from (source: cache, bin-dir, apt, apt-fallback; origin: in words) and its path."""
    said = reported(resolved)
    result = {"version": said.version, "version_from": said.version_from, "source": resolved.source,
              "origin": origin(resolved), "path": str(resolved.path)}
    image = official.component_image(resolved.path.parent, resolved.component.name) \
        if resolved.source == "bin-dir" else None
    if (pinned_build(resolved.path.parent) or {}).get("build") == WIRED and resolved.source == "bin-dir":
        result["build"] = WIRED
    if image is not None:  # the digests a user compares with what they deploy
        result.update(source="image", image=image["pulled"], digest=image["digest"],
                      index_digest=image["index_digest"], binary_sha256=image["binary_sha256"])
    return result
