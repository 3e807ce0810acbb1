"""How the team reaches the lab: the kubeconfig, kubectl and cmctl built here, the `certchaos` consoles, the
AWS CLI as the emulated account's administrator, Prometheus and Alertmanager; the same environment runs a
runbook's steps."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from harness.errors import MissingBinary
from harness.lab.info import AwsInfo
from harness.lab.lab import LAB_ENV, LabInfo
from harness.stack import binaries
from harness.stack.aws.emulator import REGION

TOOLS = ("kubectl", "cmctl")
AWS_FILES = {"AWS_CONFIG_FILE": "aws-config", "AWS_SHARED_CREDENTIALS_FILE": "aws-credentials"}  # in the tools dir
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
    # The AWS CLI of this Python's environment first (a venv's bin is not always on PATH), linked like kubectl.
    aws = shutil.which("aws", path=os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", ""))))
    if aws is None:
        found["aws"] = "missing: pip install awscli (the AWS account's console; a dependency of certchaos)"
    else:
        (directory / "aws").unlink(missing_ok=True)
        (directory / "aws").symlink_to(aws)
        found["aws"] = aws
    return found


def aws_profile(directory: Path, aws: AwsInfo) -> dict[str, str]:
    """The AWS CLI's config and credentials files in `directory` (mode 600: the administrator's key), its default
    profile signing as the emulated account's administrator against the lab's AWS API (moto, directly: `aws iam
    ...`, `aws route53 ...` as in production, only the endpoint differs). Returns the variables naming them."""
    directory.mkdir(parents=True, exist_ok=True)
    config, credentials = (directory / AWS_FILES[name] for name in AWS_FILES)
    for path, text in ((config, f"[default]\nregion = {REGION}\nendpoint_url = {aws.emulator_url}\n"),
                       (credentials, f"[default]\naws_access_key_id = {aws.admin_access_key_id}\n"
                                     f"aws_secret_access_key = {aws.admin_secret_access_key}\n")):
        path.touch(mode=0o600)
        path.write_text(text)
    return {name: str(directory / file) for name, file in AWS_FILES.items()}


def operator_env(info: LabInfo, lab_json: Path, namespace: str, tools: Path) -> dict[str, str]:
    """The environment of the team's shell and of runbook steps."""
    root = str(Path(__file__).resolve().parents[2])  # so the certchaos wrapper imports this checkout
    python_path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    # The caller's own AWS settings (a profile, keys, an endpoint) would win over the lab's files: none pass.
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    return {**inherited, "KUBECONFIG": info.kubeconfig, LAB_ENV: str(lab_json), NAMESPACE_ENV: namespace,
            "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": python_path,
            **(aws_profile(tools, info.aws) if info.aws else {})}


def access_text(info: LabInfo, lab_json: Path, namespace: str, tools: Path, found: dict[str, str]) -> str:
    lines = ["How to reach the lab (paste into your shell):",
             f"  export KUBECONFIG={info.kubeconfig}",
             f"  export {LAB_ENV}={lab_json}",
             f"  export PATH={tools}:$PATH",
             f"  export {NAMESPACE_ENV}={namespace}   # the workload: Certificates, Issuers, Secrets"]
    if info.aws:
        lines += [f"  export {name}={tools / file}" for name, file in AWS_FILES.items()]
    lines += [f"  {tool:<9} {path}" for tool, path in found.items()]
    if info.alerting:
        lines += [f"  Prometheus   {info.alerting.prometheus_url}",
                  f"  Alertmanager {info.alerting.alertmanager_url}"]
    lines += ["  consoles: `certchaos dns keys` (the DNS provider), `certchaos lab status` (network paths)"
              + (", `aws iam ...` (the AWS account, as its administrator)" if info.aws else ""),
              "Commands here: ack | note TEXT | fixed | reveal | quit"]
    return "\n".join(lines)
