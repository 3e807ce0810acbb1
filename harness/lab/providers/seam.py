"""The shape every lab provider module has (local.py, kind.py, kubeconfig.py: siblings), and the options they share.

A provider module holds, one line of docstring each:
    NAME, SUMMARY              its --provider name and one line of help
    CAPABILITIES               what its stack offers (harness.stack.protocol.Capabilities)
    validate(options)          everything about the options that can be wrong, before anything starts
    make_stack(options, run_dir)   its Stack, not started (the `stack` fixture, `certchaos stack up`)
    start_lab(wiring)          the lab's servers and its stack started, registered with `wiring.started`;
                               returns Wired(info, stack): what the lab needs, never writing into it
    upgrade(stack, bin_dir, on_step)   cert-manager upgraded in place, as a user would on this provider
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from harness.errors import HarnessError
from harness.stack.protocol import DESCRIPTIONS, Capabilities, Stack

if TYPE_CHECKING:
    from harness.lab.info import LabInfo


@dataclass(frozen=True)
class ProviderOptions:
    """What a user may ask of a provider; each option needs a capability (NEEDS) or a provider that takes it."""

    bin_dir: str | os.PathLike | None = None
    values: str | os.PathLike | None = None  # Helm values for cert-manager's chart, after ours
    workers: int = 0  # worker nodes beside the control plane
    trust_acme_ca: bool = False  # Pebble's CA joins the controller's trust roots at install (chart values)
    reloader_image: str | None = None  # Stakater Reloader's image for the reload scenarios
    kubeconfig: str | os.PathLike | None = None  # an existing cluster's kubeconfig
    alert_rules: str | os.PathLike | None = None  # the user's rules for the lab's Prometheus
    kubernetes: str | None = None  # another Kubernetes than the lab's default (harness.stack.binaries)


# option -> (its command-line spelling, the capability it needs; None: only a provider that reads it)
NEEDS = {"values": ("--values", "helm_values"), "workers": ("--worker-nodes", "multi_node"),
         "trust_acme_ca": ("trust_acme_ca", "helm_values"), "reloader_image": ("--reloader-image", "nodes"),
         "kubeconfig": ("--kubeconfig", None), "alert_rules": ("--alert-rules", "lab_network"),
         "kubernetes": ("--kubernetes", None)}


@dataclass(frozen=True)
class LabWiring:
    """What a provider's start_lab gets from the lab: where, with what, and how to register a stop."""

    run_dir: Path
    options: ProviderOptions
    alerting: Any  # harness.alerts.pipeline.AlertPipeline (rules checked), or None without lab_network
    started: Callable  # started(thing, stop=None) -> thing: its stop runs when the lab stops (newest first)
    zone: str
    nameservers: dict  # the fake DNS's listeners: name -> (view, (host, port)) (harness.lab.lab.NAMESERVERS)
    validity: int  # Pebble's certificate validity, seconds


@dataclass(frozen=True)
class Wired:
    """What start_lab returns: the lab's description and the running stack (for upgrades)."""

    info: LabInfo
    stack: Stack


class Provider(Protocol):
    """A lab provider module (see this module's docstring)."""

    NAME: str
    SUMMARY: str
    CAPABILITIES: Capabilities
    OPTIONS: frozenset[str]  # the options of NEEDS it reads itself, beyond those its capabilities allow

    def validate(self, options: ProviderOptions) -> None: ...
    def make_stack(self, options: ProviderOptions, run_dir: str | os.PathLike | None = None) -> Stack: ...
    def start_lab(self, wiring: LabWiring) -> Wired: ...
    def upgrade(self, stack: Stack, bin_dir: str | os.PathLike | None, on_step: Callable[[str], None]) -> None: ...


def refuse_unsupported(provider: Provider, options: ProviderOptions, others: dict[str, Provider]) -> None:
    """One HarnessError for the first option the provider cannot honour, naming the providers that can."""
    for field in fields(options):
        spelling, need = NEEDS.get(field.name, (None, None))
        value = getattr(options, field.name)
        if spelling is None or not value:
            continue
        if field.name in provider.OPTIONS or (need is not None and getattr(provider.CAPABILITIES, need)):
            continue
        able = [name for name, other in others.items()
                if field.name in other.OPTIONS or (need is not None and getattr(other.CAPABILITIES, need))]
        shown = f"{spelling} {value}" if not isinstance(value, bool) else spelling
        why = f"lacks {DESCRIPTIONS[need]}" if need else "does not read it"
        raise HarnessError(f"{shown} is for --provider {' or '.join(able)}: the {provider.NAME} provider {why}. "
                           f"Fix: add --provider {able[0]}, or drop {spelling}")
