"""Where the binaries of a cert-manager version come from for an upgrade check: the user's bin dir, the
lab's default build (the cache), or a pinned extra version built into a bin dir of its own.

A pinned extra version (versions.toml `[cert-manager-versions."vX"]`) is built from its wrapper module
(gomodules/<module>) into $CERTCHAOS_CACHE/versions/cert-manager-<version>/, named like the components,
with that version's CRDs (crds/) and chart (chart/) beside them, so the directory is a valid --bin-dir.
A half-built directory is never left in the cache (staged, then renamed).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from harness.errors import HarnessError
from harness.lab import providers
from harness.stack import binaries, certmanager, official
from harness.stack import versions as stack_versions
from harness.stack.gotoolchain import require_go
from harness.stack.kube import load_documents

# What an upgrade check restarts (controller, webhook, cainjector) and uses to renew (cmctl).
COMPONENTS = ("cert-manager-controller", "cert-manager-webhook", "cert-manager-cainjector", "cmctl")
# A pinned build also holds the HTTP-01 solver: on kind its image is what solver pods of the version run.
PINNED = (*COMPONENTS, "cert-manager-acmesolver")
MANIFEST = stack_versions.BUILD_MANIFEST


@dataclass(frozen=True)
class VersionBinaries:
    version: str
    bin_dir: Path | None  # None: the lab's default build (the binary cache)
    source: str  # "bin-dir", "cache" or "pinned"


def default_version() -> str:
    return binaries.load_components()["cert-manager-controller"].version


def pinned_versions() -> dict[str, dict]:
    """versions.toml's extra cert-manager versions: version -> {module, ldflags}."""
    return binaries._versions().get("cert-manager-versions", {})


def packages(version: str) -> dict[str, str]:
    """Component -> Go package a pinned version builds: its own `packages` (a certchaos-wired build: no cmctl,
    the lab's renews, as for official images after v1.14), else the default components' packages."""
    spec = pinned_versions()[version]
    components = binaries.load_components()
    return spec.get("packages") or {name: components[name].package for name in PINNED}


def without_cmctl(folder: Path) -> bool:
    """A bin dir whose cert-manager comes without cmctl: official artifacts, or a certchaos-wired build."""
    return official.describe(folder) is not None or \
        (stack_versions.pinned_build(folder) or {}).get("build") == stack_versions.WIRED


def known_versions() -> list[str]:
    return sorted({default_version(), *pinned_versions()})


def version_dir(version: str) -> Path:
    return binaries.cache_dir() / "versions" / f"cert-manager-{version}"


def build_command(source: str, target: str, provider: str = "local") -> str:
    """The command that builds both sides (and, where the provider runs images, their images)."""
    chosen = "" if provider == providers.DEFAULT else f" --provider {provider}"
    return f"certchaos upgrade-check --from {source} --to {target} --build-only{chosen}"


def is_built(version: str) -> bool:
    if version == default_version():
        components = binaries.load_components()
        return all(os.access(components[name].cached, os.X_OK) for name in COMPONENTS)
    return not _missing(version, version_dir(version))


def _missing(version: str, folder: Path) -> list[str]:
    """The binaries a pinned build dir lacks (all of them when it has no manifest: never completed)."""
    wanted = list(packages(version))
    if not (folder / MANIFEST).is_file():
        return wanted
    return [name for name in wanted if not os.access(folder / name, os.X_OK)]


def locate(version: str, bin_dir: str | os.PathLike | None, *, build_hint: str) -> VersionBinaries:
    """The binaries of `version` without building anything: the user's bin dir (validated: it must hold
    all of COMPONENTS), else the cache; HarnessError naming `build_hint` when a pinned version is not
    built, or naming --bin-dir-* when the version is not pinned at all."""
    if bin_dir is not None:
        folder = binaries.validate_bin_dir(Path(bin_dir).expanduser().resolve())
        # Official images after v1.14 have no cmctl (it left for its own repository): the lab's cmctl renews then.
        missing = [name for name in COMPONENTS if not os.access(folder / name, os.X_OK)
                   and not (name == "cmctl" and without_cmctl(folder))]
        if missing:
            raise HarnessError(f"cert-manager {version}: bin dir {folder} lacks executable {', '.join(missing)}. "
                               f"Fix: put all of {', '.join(COMPONENTS)} there (and crds/ of that version)")
        return VersionBinaries(version, folder, "bin-dir")
    if version not in known_versions():
        raise HarnessError(f"cert-manager {version}: no binaries: the pinned versions are "
                           f"{', '.join(known_versions())}. Fix: build {version}'s controller, webhook, cainjector "
                           f"and cmctl yourself and pass their directory (with crds/) as --bin-dir-from/--bin-dir-to")
    if not is_built(version):
        raise HarnessError(f"cert-manager {version}: not built yet. Fix: run `{build_hint}` (needs Go)")
    if version == default_version():
        return VersionBinaries(version, None, "cache")
    return VersionBinaries(version, version_dir(version), "pinned")


def require_solver(side: VersionBinaries, why: str) -> None:
    """A user's bin dir must hold the HTTP-01 solver when solver pods will run (its image is built from it);
    official artifacts bring their own image, a pinned build and the cache build theirs."""
    folder = side.bin_dir
    if side.source != "bin-dir" or official.describe(folder) is not None:
        return
    if not os.access(folder / "cert-manager-acmesolver", os.X_OK):
        raise HarnessError(f"cert-manager {side.version}: {why}, and bin dir {folder} lacks executable "
                           f"cert-manager-acmesolver (the solver pods' image is built from it). Fix: build that "
                           f"version's cmd/acmesolver into {folder}")


def build(version: str, *, out: TextIO = sys.stderr) -> Path | None:
    """Build `version` if it is missing; returns its bin dir (None for the lab's default version)."""
    if version == default_version():
        missing = [name for name in COMPONENTS if not is_built(version)]
        binaries.build(COMPONENTS if missing else [], out=out)
        return None
    if version not in pinned_versions():
        raise HarnessError(f"cert-manager {version} is not pinned (pinned: {', '.join(known_versions())}); "
                           f"pass your own build's directory as --bin-dir-from/--bin-dir-to")
    target = version_dir(version)
    missing = _missing(version, target)
    if not missing:
        return target
    go = require_go(out)
    spec = pinned_versions()[version]
    module_dir = binaries.GOMODULES / spec["module"]
    package = packages(version)
    started = time.monotonic()
    print(f"building cert-manager {version} ({', '.join(missing)}) from gomodules/{spec['module']} ...",
          file=out, flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=target.parent) as scratch:
        staged = Path(scratch, "out")
        staged.mkdir()
        command = [go, "build", "-v", "-trimpath", "-ldflags", " ".join(f"-X {s}" for s in spec.get("ldflags", [])),
                   "-o", str(staged) + "/", *[package[name] for name in missing]]
        env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=readonly")
        returncode = binaries.go_build_with_progress(command, module_dir, env, out, label=f"cert-manager {version}")
        if returncode != 0:
            raise HarnessError(f"go build of cert-manager {version} failed (exit {returncode}); the output above "
                               f"says why. Command: {' '.join(command)} in {module_dir}")
        for name in missing:
            shutil.move(staged / binaries.go_binary_name(package[name]), staged / name)
        if (target / MANIFEST).is_file():
            # A build of an older harness (without the solver): only what it lacks joins it, each file at once.
            manifest = json.loads((target / MANIFEST).read_text())
            for name in missing:
                os.replace(staged / name, target / name)
            manifest["binaries"] = list(package)
            (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        else:
            copy_manifests(version, staged)
            (staged / MANIFEST).write_text(json.dumps({
                "version": version, "module": spec["module"], "binaries": list(package),
                **({"build": spec["build"]} if "build" in spec else {}),
                "build_seconds": round(time.monotonic() - started, 1)}, indent=2) + "\n")
            if target.exists():
                shutil.rmtree(target)
            staged.rename(target)
    print(f"built cert-manager {version} in {time.monotonic() - started:.0f}s -> {target}", file=out, flush=True)
    return target


def copy_manifests(version: str, folder: Path) -> None:
    """`version`'s chart (Chart.yaml rendered) into folder/chart and its CRDs into folder/crds: deploy/crds up to
    v1.18; from v1.19 on the module has none there, and they are rendered from the chart's templates."""
    source = certmanager._module_dir("CRDs and chart", version, "install Go, or pass your own --bin-dir-*")
    _copy_chart(version, source, folder / "chart")
    files = sorted(Path(source, "deploy", "crds").glob("crd-*.yaml"))
    if not files:
        official.render_crds(folder / "chart", folder / "crds")
        return
    (folder / "crds").mkdir()
    for path in files:
        shutil.copyfile(path, folder / "crds" / path.name)


def _copy_chart(version: str, source: str | Path, chart: Path) -> None:
    """The module's chart into `chart`, writable, its Chart.yaml rendered for `version`."""
    shutil.copytree(Path(source, "deploy", "charts", "cert-manager"), chart, copy_function=shutil.copyfile)
    for path in [chart, *chart.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # the module cache is read-only
    template = chart / "Chart.template.yaml"
    (chart / "Chart.yaml").write_text(certmanager.render_chart_metadata(template.read_text(), version))
    template.unlink()


def crd_documents(version: str, bin_dir: str | os.PathLike | None) -> list[dict]:
    """The CRDs of `version` (what a setup is validated against), without building anything: the user's
    bin dir's crds/ (required there: the cache holds another version's), the cache for the default
    version, else the pinned version's module source."""
    if bin_dir is not None:
        folder = Path(bin_dir).expanduser().resolve()
        if not (folder / "crds").is_dir():
            raise HarnessError(f"cert-manager {version}: bin dir {folder} has no crds/ directory. Fix: copy that "
                               f"version's deploy/crds/*.yaml (or its cert-manager.crds.yaml) into {folder}/crds")
        return certmanager.crds(folder)
    if version == default_version() or is_built(version):
        return certmanager.crds(None if version == default_version() else version_dir(version))
    if version not in pinned_versions():
        locate(version, None, build_hint="")  # raises the "no binaries" error naming --bin-dir-*
    with tempfile.TemporaryDirectory(prefix="crds-") as scratch:
        copy_manifests(version, Path(scratch))
        documents = []
        for path in sorted(Path(scratch, "crds").glob("*.yaml")):
            documents += load_documents(certmanager.render_crd(path.read_text()))
    return [doc for doc in documents if doc.get("kind") == "CustomResourceDefinition"]


def _side_images(side: VersionBinaries) -> tuple[str, tuple]:
    from harness.stack.kind import images

    if side.bin_dir is None:
        version = images.chart_version(certmanager.chart_dir(None))
    else:
        version = images.bin_dir_version(side.bin_dir, f"cert-manager {side.version}")
    return version, images.cert_manager_images(version, side.bin_dir)


def build_images(side: VersionBinaries, *, out: TextIO = sys.stderr) -> None:
    """The kind images of one side, built when missing or stale (the lab's version: only checked, they are
    `certchaos images build`'s). Tagged with the version of the side's chart (its appVersion)."""
    from harness.stack.kind import images
    from harness.stack.kind.engine import DockerEngine

    version, _ = _side_images(side)
    with DockerEngine() as engine:
        images.Builder(engine, out=out).build_cert_manager(version, side.bin_dir)


def check_images(side: VersionBinaries, *, build_hint: str) -> None:
    """--no-build on kind: the side's images must exist and be current, else the command that builds them."""
    from harness.stack.kind import images
    from harness.stack.kind.engine import DockerEngine

    version, wanted = _side_images(side)
    with DockerEngine() as engine:
        stale = images.Builder(engine).outdated(wanted)
    if stale:
        fix = f"sudo {images.BUILD_COMMAND}" if version == images.CERT_MANAGER else build_hint
        raise HarnessError(f"cert-manager {side.version}: image(s) {', '.join(stale)} not built. Fix: run `{fix}`")
