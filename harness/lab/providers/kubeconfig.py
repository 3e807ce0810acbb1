"""The lab on the "kubeconfig" provider: an existing cluster (a staging one, for a game day), cert-manager already
installed there. The lab is the cluster alone: no fake DNS, Pebble, Toxiproxy or alerting, since the cluster's
cert-manager cannot reach them; so only what needs nothing but the Kubernetes API runs there (CAPABILITIES),
and every scenario that needs more is not applicable, with the capability it lacks as the reason.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable

from harness.errors import HarnessError
from harness.lab.info import LabInfo
from harness.lab.providers.seam import LabWiring, ProviderOptions, Wired
from harness.stack.protocol import EXISTING

if TYPE_CHECKING:
    from harness.stack.existing import ExistingCluster

NAME = "kubeconfig"
SUMMARY = "an existing cluster (--kubeconfig PATH) with cert-manager installed; certchaos installs and deletes nothing"
CAPABILITIES = EXISTING
OPTIONS: frozenset[str] = frozenset({"kubeconfig"})


def validate(options: ProviderOptions) -> None:
    """The kubeconfig exists and parses (nothing is contacted yet)."""
    from harness.stack.existing import check_kubeconfig

    check_kubeconfig(options.kubeconfig)


def make_stack(options: ProviderOptions, run_dir: str | os.PathLike | None = None) -> ExistingCluster:
    from harness.stack.existing import ExistingCluster

    return ExistingCluster(options.kubeconfig)


def start_lab(wiring: LabWiring) -> Wired:
    from harness.stack.existing import ExistingCluster

    stack = wiring.started(ExistingCluster(wiring.options.kubeconfig).start())
    info = LabInfo(kubeconfig=str(stack.kubeconfig), metrics_url=None, dns_control_url=None, dns_authoritative=None,
                   zone=None, pebble_listen=None, pebble_management_url=None, pebble_ca_bundle_path=None,
                   toxiproxy_url=None, controller_pid_file=None, webhook=None, webhook_ca_bundle=None,
                   components=stack.versions(), provider=NAME, capabilities=CAPABILITIES)
    return Wired(info, stack)


def upgrade(stack: ExistingCluster, bin_dir, on_step: Callable[[str], None]) -> None:
    raise HarnessError("the kubeconfig provider upgrades nothing (the cluster is the user's). Fix: run the "
                       "upgrade check with --provider local or kind")
