"""Building a mutant: a copy of the pinned cert-manager source, the mutant's edits, one `go build`.

Go refuses -overlay for files in the module cache, so the module is copied and an alternate go.mod (the
wrapper's plus `replace github.com/cert-manager/cert-manager => <copy>`, with its go.sum next to it under
the same base name) is passed with -modfile: the wrapper's pinned dependency graph stays as it is. Only the
binaries the mutant changes are built, into $CERTCHAOS_CACHE/mutants/cert-manager-<version>-<patch hash>/,
named like the components, so that directory is the mutant's --bin-dir; a cached build is never redone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from harness.errors import HarnessError
from harness.mutants import patch
from harness.mutants.catalogue import Mutant
from harness.stack import binaries
from harness.stack.gotoolchain import require_go

MODULE = "github.com/cert-manager/cert-manager"
WRAPPER = binaries.GOMODULES / "cert-manager"
MANIFEST = "mutant.json"
# A mutant rebuilds one or two cert-manager commands: ~2.5 min on 2 shared cores (the first one of a cold
# Go build cache up to ~8). A build still running after this is stuck, not slow.
BUILD_TIMEOUT = 30 * 60
LOG_TAIL = 30  # lines of a failed build's output carried in the error


class BuildFailed(HarnessError):
    def __init__(self, mutant: str, command: list[str], returncode: int, output: str):
        self.mutant = mutant
        tail = "\n".join("    " + line for line in output.strip().splitlines()[-LOG_TAIL:])
        super().__init__(f"mutant {mutant}: go build failed (exit {returncode}): {' '.join(command)}\n{tail}")


@dataclass(frozen=True)
class Built:
    mutant: Mutant
    bin_dir: Path
    seconds: float  # build time now; 0 when it came from the cache
    cached: bool


def source_version() -> str:
    """The cert-manager version the mutants patch: the pinned one (versions.toml)."""
    return binaries.load_components()["cert-manager-controller"].version


def mutant_dir(mutant: Mutant, version: str | None = None) -> Path:
    """Cache key: (source version, patch hash); the directory is the mutant's --bin-dir."""
    return binaries.cache_dir() / "mutants" / f"cert-manager-{version or source_version()}-{mutant.patch_hash}"


def is_built(mutant: Mutant) -> bool:
    folder = mutant_dir(mutant)
    return (folder / MANIFEST).is_file() and all(os.access(folder / name, os.X_OK) for name in mutant.binaries)


def _go() -> str:
    return require_go()


def pristine_source(go: str, version: str) -> Path:
    """The pinned module's directory in the Go module cache (downloaded through the proxy if missing)."""
    result = subprocess.run([go, "mod", "download", "-json", f"{MODULE}@{version}"], cwd=WRAPPER,
                            capture_output=True, text=True, timeout=600)  # a cold download of 12 MB
    try:
        folder = Path(json.loads(result.stdout)["Dir"])
    except (ValueError, KeyError):
        raise HarnessError(f"cannot find {MODULE}@{version} in the Go module cache: `go mod download` said "
                           f"{(result.stdout + result.stderr).strip()[-400:]}. Fix: check GOPROXY/GOFLAGS") from None
    return folder


def pinned_source() -> Path:
    """The pinned cert-manager source the mutants patch, read-only (the generator reads it)."""
    return pristine_source(_go(), source_version())


def copy_source(source: Path, target: Path) -> Path:
    """A writable copy of the module (the module cache's files and directories are read-only)."""
    shutil.copytree(source, target, copy_function=shutil.copyfile, symlinks=True)
    for folder, _, _ in os.walk(target):
        os.chmod(folder, 0o755)
    return target


def alternate_modfile(scratch: Path, copy: Path) -> Path:
    """The wrapper's go.mod with the module replaced by `copy`, and its go.sum beside it (same base name)."""
    modfile = scratch / "mutant.go.mod"
    modfile.write_text((WRAPPER / "go.mod").read_text() + f"\nreplace {MODULE} => {copy}\n")
    shutil.copyfile(WRAPPER / "go.sum", scratch / "mutant.go.sum")
    return modfile


def build(mutant: Mutant, *, force: bool = False, out: TextIO | None = None) -> Built:
    """The mutant's bin dir, built now unless cached; PatchDoesNotApply or BuildFailed when it cannot be."""
    out = out or sys.stderr
    target = mutant_dir(mutant)
    if is_built(mutant) and not force:
        return Built(mutant, target, 0.0, cached=True)
    go = _go()
    version = source_version()
    components = binaries.load_components()
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=target.parent) as scratch_name:
        scratch = Path(scratch_name)
        copy = copy_source(pristine_source(go, version), scratch / "cert-manager")
        patch.apply(mutant, copy)  # raises before anything is compiled
        stamps = binaries._versions().get("modules", {}).get("cert-manager", {}).get("ldflags", [])
        # The version names the mutant, so `doctor` and the journals show which binary ran.
        ldflags = " ".join(f"-X {stamp}-mutant.{mutant.name}" if stamp.endswith(version) else f"-X {stamp}"
                           for stamp in stamps)
        staged = scratch / "out"
        staged.mkdir()
        command = [go, "build", f"-modfile={alternate_modfile(scratch, copy)}", "-trimpath", "-ldflags", ldflags,
                   "-o", str(staged) + "/", *[components[name].package for name in mutant.binaries]]
        print(f"mutant {mutant.name}: building {', '.join(mutant.binaries)} ...", file=out, flush=True)
        env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=readonly")
        try:
            result = subprocess.run(command, cwd=WRAPPER, env=env, capture_output=True, text=True,
                                    timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired as timeout:
            raise BuildFailed(mutant.name, command, -1, f"no result after {BUILD_TIMEOUT} s\n{timeout.output or ''}")
        if result.returncode != 0:
            raise BuildFailed(mutant.name, command, result.returncode, result.stdout + result.stderr)
        for name in mutant.binaries:
            shutil.move(staged / components[name].package.rsplit("/", 1)[1], staged / name)
        seconds = time.monotonic() - started
        (staged / MANIFEST).write_text(json.dumps({
            "mutant": mutant.name, "patch_hash": mutant.patch_hash, "source": f"{MODULE}@{version}",
            "binaries": list(mutant.binaries), "files": list(mutant.files), "build_seconds": round(seconds, 1),
        }, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)  # same filesystem: the cache never holds a half-written mutant
    print(f"mutant {mutant.name}: built in {seconds:.0f}s -> {target}", file=out, flush=True)
    return Built(mutant, target, seconds, cached=False)
