"""Helm charts rendered by the real helm: `helm template` of the pinned helm (built from its Go module,
see versions.toml) over a chart directory, returning the documents it would install.

The local provider applies only the RBAC of cert-manager's chart (it runs the binaries itself); the kind
provider installs the whole chart with the same helm. helm runs with throwaway config, cache and data
dirs, so it neither reads nor writes the user's ~/.config/helm or repositories.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping

import yaml

from harness.stack.leftovers import owned_prefix
from harness.errors import HarnessError
from harness.stack import binaries

# A template renders in well under a second; 60 s means helm hangs (or the machine is swapping).
RENDER_TIMEOUT = 60.0


def isolated_env(scratch: str | os.PathLike, base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: ours) with helm's config, cache and data dirs under `scratch`: never the user's."""
    return {**(os.environ if base is None else base),
            **{key: str(Path(scratch, key.lower())) for key in ("HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME")}}


def render(chart: Path, release: str, namespace: str, values: Mapping, *, kube_version: str,
           bin_dir: str | os.PathLike | None = None) -> list[dict]:
    """The documents `helm template <release> <chart> --namespace <namespace>` renders with `values`
    for a cluster of `kube_version` (the chart's kubeVersion constraint is checked against it)."""
    from harness.stack.kube import load_documents  # here: `official` imports helm, and the CLI imports official

    helm = binaries.binary("helm", bin_dir)
    with tempfile.TemporaryDirectory(prefix=owned_prefix("helm")) as scratch:
        values_file = Path(scratch, "values.yaml")
        values_file.write_text(yaml.safe_dump(dict(values)))
        env = isolated_env(scratch)
        command = [str(helm), "template", release, str(chart), "--namespace", namespace,
                   "--values", str(values_file), "--kube-version", kube_version]
        try:
            result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=RENDER_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"helm template did not finish within {RENDER_TIMEOUT:.0f} s: {' '.join(command)}") from None
    if result.returncode != 0:
        raise HarnessError(f"helm template failed (exit {result.returncode}): {result.stderr.strip()}\n"
                           f"Command: {' '.join(command)}")
    return load_documents(result.stdout)
