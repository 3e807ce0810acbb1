"""How the team reaches the lab: the kubeconfig, kubectl and cmctl built here, the `certchaos` consoles,
Prometheus and Alertmanager; the same environment runs a runbook's steps."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.errors import MissingBinary
from harness.lab.lab import LAB_ENV, LabInfo
from harness.stack import binaries

TOOLS = ("kubectl", "cmctl")
NAMESPACE_ENV = "GAMEDAY_NAMESPACE"


def make_tools(directory: Path, bin_dir: str | None = None) -> dict[str, str]:
    """A directory for PATH with kubectl and cmctl (links to the built binaries) and a `certchaos` that runs
    this checkout's harness with this Python. Returns tool -> path, or "missing: <fix>" for one not built."""
    directory.mkdir(parents=True, exist_ok=True)
    found = {}
    for tool in TOOLS:
        try:
            target = binaries.resolve(tool, bin_dir).path
        except MissingBinary as error:
            found[tool] = f"missing: {error.fix}"
            continue
        link = directory / tool
        link.unlink(missing_ok=True)
        link.symlink_to(target)
        found[tool] = str(target)
    wrapper = directory / "certchaos"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m harness.cli \"$@\"\n")
    wrapper.chmod(0o755)
    found["certchaos"] = str(wrapper)
    return found


def operator_env(info: LabInfo, lab_json: Path, namespace: str, tools: Path) -> dict[str, str]:
    """The environment of the team's shell and of runbook steps."""
    root = str(Path(__file__).resolve().parents[2])  # so the certchaos wrapper imports this checkout
    python_path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "KUBECONFIG": info.kubeconfig, LAB_ENV: str(lab_json), NAMESPACE_ENV: namespace,
            "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": python_path}


def access_text(info: LabInfo, lab_json: Path, namespace: str, tools: Path, found: dict[str, str]) -> str:
    lines = ["How to reach the lab (paste into your shell):",
             f"  export KUBECONFIG={info.kubeconfig}",
             f"  export {LAB_ENV}={lab_json}",
             f"  export PATH={tools}:$PATH",
             f"  export {NAMESPACE_ENV}={namespace}   # the workload: Certificates, Issuers, Secrets"]
    lines += [f"  {tool:<9} {path}" for tool, path in found.items()]
    if info.alerting:
        lines += [f"  Prometheus   {info.alerting.prometheus_url}",
                  f"  Alertmanager {info.alerting.alertmanager_url}"]
    lines += ["  consoles: `certchaos dns keys` (the DNS provider), `certchaos lab status` (network paths)",
              "Commands here: ack | note TEXT | fixed | reveal | quit"]
    return "\n".join(lines)
