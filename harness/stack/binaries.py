"""Where each third-party binary comes from: a user's bin dir, the build cache, or Debian's package.

Go components are built from our wrapper modules (harness/stack/gomodules/<module>) into
$CERTCHAOS_CACHE (default ~/.cache/certchaos)/bin/<component>-<version>; only what is missing is built.
A user's own binaries (--bin-dir or $CERTCHAOS_BIN_DIR) win over everything, e.g. cert-manager
binaries built from a newer checkout. Another Kubernetes (`--kubernetes VERSION`, versions.toml
`[kubernetes-versions]`) swaps the components of the default Kubernetes module for those of its own wrapper
module: cached beside the default ones as <component>-<version>.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, TextIO

from harness.stack.leftovers import owned_prefix
from harness.errors import HarnessError, MissingBinary

HERE = Path(__file__).resolve().parent
VERSIONS_FILE = HERE / "versions.toml"
GOMODULES = HERE / "gomodules"

BUILD_COMMAND = "certchaos binaries build"
KUBERNETES_MODULE = "kubernetes"  # the wrapper module of the lab's default Kubernetes
ETCD_PACKAGE = "go.etcd.io/etcd/server/v3"  # the etcd a pinned Kubernetes brings (`etcd` in its versions.toml entry)


def cache_dir() -> Path:
    return Path(os.environ.get("CERTCHAOS_CACHE") or Path.home() / ".cache" / "certchaos")


def user_bin_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The user's bin dir (--bin-dir, else $CERTCHAOS_BIN_DIR), validated; None when neither is set.

    Every consumer (binaries, CRDs, doctor) gets the dir here, so a wrong one is an error everywhere and
    never a silent fallback to the cached binaries.
    """
    value = explicit or os.environ.get("CERTCHAOS_BIN_DIR")
    return validate_bin_dir(Path(value).expanduser()) if value else None


def validate_bin_dir(path: Path) -> Path:
    """`path` if it is a directory holding at least one file named like a known component, else HarnessError."""
    names = sorted(load_components())
    expected = f"files named like the components ({', '.join(names)})"
    if not path.exists():
        problem = "does not exist"
    elif not path.is_dir():
        problem = "is not a directory"
    elif not any((path / name).exists() for name in names):
        problem = "holds none of the component binaries"
    else:
        return path
    raise HarnessError(
        f"bin dir {path} {problem}: it should hold {expected}. Fix: point --bin-dir / CERTCHAOS_BIN_DIR at "
        f"the directory your binaries are in, or unset it to use the cached builds"
    )


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    module: str | None = None  # wrapper module under harness/stack/gomodules
    package: str | None = None  # Go package built from it
    apt: str | None = None  # Debian package that provides `path`
    path: str | None = None  # fixed path of an apt-provided binary
    apt_fallback: str | None = None  # Debian binary used when the Go build is missing
    optional: bool = False
    provider: str | None = None  # "kind": needed only by that provider, so not built or required by default
    version_args: tuple[str, ...] = ()
    build_option: str = ""  # another Kubernetes's: BUILD_COMMAND with this builds its missing components

    @property
    def cached(self) -> Path | None:
        if not self.module:
            return None
        return cache_dir() / "bin" / f"{self.name}-{self.version}"

    def fix(self) -> str:
        if self.module:
            provider = f" --provider {self.provider}" if self.provider else ""
            build = (f"{BUILD_COMMAND}{provider}{self.build_option}" if self.build_option
                     else f"{BUILD_COMMAND} {self.name}")
            return f"run `{build}` (needs Go), or put a `{self.name}` binary in --bin-dir"
        return f"run `apt-get install -y {self.apt}` (as root), or put a `{self.name}` binary in --bin-dir"


def _versions(path: Path = VERSIONS_FILE) -> dict:
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def default_kubernetes(path: Path = VERSIONS_FILE) -> str:
    """The Kubernetes the lab runs without --kubernetes: the version of its API server's component."""
    return _versions(path)["components"]["kube-apiserver"]["version"]


def kubernetes_versions(path: Path = VERSIONS_FILE) -> list[str]:
    """Every Kubernetes the lab can run: the default, then the pinned others (versions.toml), oldest first."""
    return [default_kubernetes(path), *_versions(path).get("kubernetes-versions", {})]


def kubernetes_settings(version: str, path: Path = VERSIONS_FILE) -> dict:
    """versions.toml's table of a pinned other Kubernetes ({} for the default or an unknown one)."""
    return _versions(path).get("kubernetes-versions", {}).get(version, {})


def check_kubernetes(version: str | None, path: Path = VERSIONS_FILE) -> None:
    """HarnessError, naming the versions there are, unless `version` (None: the default) is one of them."""
    if version is not None and version not in kubernetes_versions(path):
        raise HarnessError(f"--kubernetes {version}: not a Kubernetes the lab builds; it builds "
                           f"{', '.join(kubernetes_versions(path))} (harness/stack/versions.toml). Fix: give one of "
                           f"these, or drop --kubernetes for the default {default_kubernetes(path)}")


def load_components(path: Path = VERSIONS_FILE, kubernetes: str | None = None) -> dict[str, Component]:
    """Every component, those of the default Kubernetes module swapped for `kubernetes`'s (None: the default)."""
    table = _versions(path)
    components = {
        name: Component(name=name, **{**spec, "version_args": tuple(spec.get("version_args", ()))})
        for name, spec in table["components"].items()
    }
    if kubernetes is None or kubernetes == default_kubernetes(path):
        return components
    check_kubernetes(kubernetes, path)
    pinned = table["kubernetes-versions"][kubernetes]
    option = f" --kubernetes {kubernetes}"
    swapped = {name: replace(component, version=kubernetes, module=pinned["module"], build_option=option)
               for name, component in components.items() if component.module == KUBERNETES_MODULE}
    if "etcd" in pinned:  # its own etcd, built, instead of the default's (Debian's)
        swapped["etcd"] = replace(components["etcd"], version=pinned["etcd"], module=pinned["etcd_module"],
                                  package=ETCD_PACKAGE, apt=None, path=None, build_option=option)
    for name, spec in pinned.get("swap", {}).items():  # the kind node image's own tools (kind, CoreDNS)
        swapped[name] = replace(components[name], build_option=option, **spec)
    return {**components, **swapped}


@dataclass(frozen=True)
class Resolved:
    component: Component
    path: Path
    source: str  # "bin-dir", "cache", "apt" or "apt-fallback"


def candidates(component: Component, bin_dir: Path | None) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    if bin_dir is not None:
        found.append((bin_dir / component.name, "bin-dir"))
    if component.cached is not None:
        found.append((component.cached, "cache"))
    if component.path:
        found.append((Path(component.path), "apt"))
    if component.apt_fallback:
        found.append((Path(component.apt_fallback), "apt-fallback"))
    return found


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def resolve(name: str, bin_dir: str | os.PathLike | None = None, kubernetes: str | None = None) -> Resolved:
    """The binary to run for component `name` (of Kubernetes `kubernetes`, None: the default), or MissingBinary
    saying where it looked and the fix."""
    components = load_components(kubernetes=kubernetes)
    if name not in components:
        raise HarnessError(f"unknown component {name!r}; known: {', '.join(sorted(components))}")
    component = components[name]
    options = candidates(component, user_bin_dir(bin_dir))
    for path, source in options:
        if _executable(path):
            return Resolved(component, path, source)
        if source == "bin-dir" and path.exists():
            # The user meant this one: falling back to the cache would run something else in its name.
            raise MissingBinary(name, [str(path)], f"make it an executable file (`chmod +x {path}`) or remove it")
    raise MissingBinary(name, [str(path) for path, _ in options], component.fix())


def binary(name: str, bin_dir: str | os.PathLike | None = None, kubernetes: str | None = None) -> Path:
    return resolve(name, bin_dir, kubernetes).path


def go_binary_name(package: str) -> str:
    """The file `go build -o dir/` writes for `package`: its last element, or the one before a /vN suffix."""
    parts = package.split("/")
    return parts[-2] if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]) else parts[-1]


PROGRESS_EVERY = 15.0  # seconds between progress lines: a cold build runs for minutes, a line a screen
_PACKAGE_LINE = re.compile(r"^[\w.~+-]+(/[\w.~+-]+)*$")  # what `go build -v` prints per compiled package


def go_build_with_progress(command: list[str], cwd: Path, env: dict[str, str], out: TextIO, *, label: str,
                           every: float = PROGRESS_EVERY) -> int:
    """Run `go build -v ...`, printing every `every` seconds the elapsed time, the packages compiled so far
    against the `go list -deps` total, and the last one; everything else go prints (downloads, errors)
    passes through. Returns go's exit code; Ctrl-C or an error stops go's whole process group."""
    started = time.monotonic()
    packages = command[command.index("-o") + 2:]
    print(f"  {label}: listing the packages to build (a first build downloads the modules now) ...", file=out,
          flush=True)
    listing = subprocess.run([command[0], "list", "-deps", *packages], cwd=cwd, env=env, text=True,
                             capture_output=True)
    print(listing.stderr, end="", file=out, flush=True)
    total = len(listing.stdout.split()) if listing.returncode == 0 else None  # go build reports the real error
    compiled: list[str] = []

    def read(stream) -> None:
        for line in stream:
            if _PACKAGE_LINE.match(line.strip()):
                compiled.append(line.strip())
            else:
                print(line, end="", file=out, flush=True)

    process = subprocess.Popen(command, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    reader = threading.Thread(target=read, args=(process.stdout,), name="go-build-output", daemon=True)
    reader.start()
    try:
        while True:
            try:
                process.wait(timeout=every)
                break
            except subprocess.TimeoutExpired:
                of = f" of at most {total}" if total is not None else ""
                last = f", now {compiled[-1]}" if compiled else ""
                print(f"  {label}: {time.monotonic() - started:.0f}s, {len(compiled)}{of} packages compiled "
                      f"(cached ones are not rebuilt){last}", file=out, flush=True)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        reader.join()
    print(f"  {label}: {len(compiled)} packages compiled in {time.monotonic() - started:.0f}s", file=out, flush=True)
    return process.returncode


def build(
    names: Iterable[str] | None = None,
    *,
    force: bool = False,
    provider: str | None = None,
    kubernetes: str | None = None,
    out: TextIO = sys.stderr,
) -> list[Path]:
    """Build the Go components named (default: all the local provider needs, plus those of `provider`)
    that are not in the cache yet; return their paths. `kubernetes`: the Kubernetes components are that
    version's (None: the default).

    One `go build` per wrapper module, so shared packages compile once; progress goes to `out`.
    """
    components = load_components(kubernetes=kubernetes)
    wanted = list(names) if names else [
        n for n, c in components.items() if c.module and c.provider in (None, provider)
    ]
    unknown = [n for n in wanted if n not in components or not components[n].module]
    if unknown:
        buildable = sorted(n for n, c in components.items() if c.module)
        raise HarnessError(f"cannot build {', '.join(unknown)}: buildable components are {', '.join(buildable)}")
    todo = [components[n] for n in wanted if force or not _executable(components[n].cached)]
    if todo:
        from harness.stack.gotoolchain import require_go  # it imports this module

        go = require_go(out)
    by_module: dict[str, list[Component]] = {}
    for component in todo:
        by_module.setdefault(component.module, []).append(component)
    built: list[Path] = []
    for module, members in by_module.items():
        started = time.monotonic()
        print(f"building {', '.join(c.name for c in members)} from gomodules/{module} ...", file=out, flush=True)
        with tempfile.TemporaryDirectory(prefix=owned_prefix("build")) as scratch:
            settings = _versions().get("modules", {}).get(module, {})
            ldflags = " ".join([*settings.get("link_flags", []), *(f"-X {s}" for s in settings.get("ldflags", []))])
            command = [go, "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", scratch + "/",
                       *[c.package for c in members]]
            env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=readonly")
            returncode = go_build_with_progress(command, GOMODULES / module, env, out,
                                                label=", ".join(c.name for c in members))
            if returncode != 0:
                raise HarnessError(
                    f"go build of {', '.join(c.name for c in members)} failed (exit {returncode}); "
                    f"the output above says why. Command: {' '.join(command)} in {GOMODULES / module}"
                )
            for component in members:
                target = component.cached
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(os.path.join(scratch, go_binary_name(component.package)), target)
                built.append(target)
        print(f"built gomodules/{module} in {time.monotonic() - started:.0f}s", file=out, flush=True)
    return built

