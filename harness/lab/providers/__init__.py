"""The provider registry: every --provider choice, the plugin and the upgrade check read it.

A new provider is a sibling module of the same shape (harness.lab.providers.seam) and one entry here.
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.lab.providers import kind, kubeconfig, local
from harness.lab.providers.seam import Provider, ProviderOptions, refuse_unsupported

PROVIDERS: dict[str, Provider] = {module.NAME: module for module in (local, kind, kubeconfig)}
NAMES: tuple[str, ...] = tuple(PROVIDERS)
DEFAULT = local.NAME


def provider(name: str) -> Provider:
    """The provider called `name`; an unknown one is one HarnessError listing the known."""
    if name not in PROVIDERS:
        raise HarnessError(f"provider {name!r}: use one of {', '.join(NAMES)}")
    return PROVIDERS[name]


def validate(name: str, options: ProviderOptions) -> Provider:
    """Every check of the options for this provider, before anything starts: the shared ones (an option the
    provider cannot honour), then its own. Returns the provider."""
    chosen = provider(name)
    refuse_unsupported(chosen, options, PROVIDERS)
    chosen.validate(options)
    return chosen


def providers_with(*needs: str) -> tuple[str, ...]:
    """Names of the providers that offer every capability in `needs`."""
    return tuple(name for name, each in PROVIDERS.items() if not each.CAPABILITIES.lacking(*needs))


def help_text() -> str:
    """One line per provider, for --provider's help."""
    return "; ".join(f"{name}: {each.SUMMARY}" for name, each in PROVIDERS.items())
