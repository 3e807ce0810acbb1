"""pytest fixtures for the running stack: session-scoped stack and API client, a namespace per test.

Loaded by the certchaos pytest plugin; the options they read (--provider, --bin-dir, --keep-stack) are
registered there.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from typing import Iterator

import pytest
from kubernetes import client

from harness.errors import HarnessError
from harness.kube import ensure_namespace


def make_stack(config: pytest.Config):
    provider = config.getoption("--provider", default="local")
    bin_dir = config.getoption("--bin-dir", default=None)
    if provider == "local":
        from harness.providers.local import LocalStack

        keep = config.getoption("--keep-stack", default=False)
        run_dir = tempfile.mkdtemp(prefix="certchaos-stack-") if keep else None
        return LocalStack(bin_dir=bin_dir, run_dir=run_dir)
    raise HarnessError(f"--provider {provider!r}: unknown provider; choose local")


@pytest.fixture(scope="session")
def stack(pytestconfig: pytest.Config) -> Iterator[object]:
    """The running stack (local processes by default), started once per session and stopped at its end.
    With --keep-stack its run dir (logs, kubeconfig, certs) is kept for inspection."""
    running = make_stack(pytestconfig)
    with running:
        yield running


@pytest.fixture(scope="session")
def kube(stack) -> client.ApiClient:
    """A kubernetes ApiClient for the stack's admin (system:masters)."""
    return stack.api()


@pytest.fixture
def namespace(kube: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test; deleted (in the background) afterwards."""
    slug = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug}-{uuid.uuid4().hex[:5]}"
    ensure_namespace(kube, name)
    yield name
    client.CoreV1Api(kube).delete_namespace(name, propagation_policy="Background")
