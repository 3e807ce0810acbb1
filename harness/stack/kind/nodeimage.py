"""Which node image a kind cluster of a non-default Kubernetes boots: kind's official one (kindest/node at the
digest versions.toml pins, `kind_node_image`) when it can be pulled, as a user's CI usually can; otherwise the
one `certchaos images build --kubernetes VERSION` made here (images.py), which is what happens without a
registry. The default Kubernetes always boots ours: its node files are what the catalogue's timings were
measured on."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from harness.stack import binaries
from harness.stack.kind import images
from harness.stack.kind.engine import DockerEngine

# A node image is ~1 GB unpacked; 10 min covers a slow mirror. A registry that refuses answers in a second.
PULL_TIMEOUT = 600.0


@dataclass(frozen=True)
class NodeImage:
    """The image a cluster boots, where it came from ("official" or "built here"), and why (for the journal)."""

    tag: str
    source: str
    reason: str

    def facts(self) -> dict:
        return {"version": self.tag, "source": self.source, "reason": self.reason, "path": self.tag}


def official(kubernetes: str) -> str | None:
    """kind's official node image of `kubernetes` (name@digest) as versions.toml pins it; None when none is."""
    return binaries.kubernetes_settings(kubernetes).get("kind_node_image")


def choose(engine: DockerEngine, kubernetes: str, reference: str | None = None) -> NodeImage:
    """The official image `reference` (default: the pinned one) if Docker has it or can pull it, else ours."""
    reference = reference if reference is not None else official(kubernetes)
    if not reference:
        return NodeImage(images.node_image(kubernetes), "built here",
                         f"no official kind node image is pinned for {kubernetes} (harness/stack/versions.toml)")
    if engine.docker("image", "inspect", reference, check=False).returncode == 0:
        return NodeImage(reference, "official", "already pulled")
    try:
        pulled = engine.docker("pull", reference, check=False, timeout=PULL_TIMEOUT)
    except subprocess.TimeoutExpired:
        failure = f"no answer in {PULL_TIMEOUT:.0f} s"
    else:
        if pulled.returncode == 0:
            return NodeImage(reference, "official", "pulled")
        said = (pulled.stderr or pulled.stdout or "").strip().splitlines()
        failure = said[-1] if said else f"exit {pulled.returncode}"
    return NodeImage(images.node_image(kubernetes), "built here", f"`docker pull {reference}` failed: {failure}")
