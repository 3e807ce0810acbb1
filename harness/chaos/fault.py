"""What a fault is: a small object that breaks the stack the way production breaks, and undoes it.

A fault never asserts; whether the system noticed is for expectations to say. Its repr is valid Python
(dataclasses give that for free) so a failing Hypothesis example or a journal entry reads as a program.
Concrete faults live in one module per thing they break: dns_faults (the DNS provider), proxy_faults
(anything behind a Toxiproxy proxy: the CA, the webhook), acme_faults (the CA's answers, through the ACME
fault layer), process_faults (cert-manager's processes) and ingress_faults (the path of an HTTP-01 validation:
issuer's solver, solver pods' nodes, A record, controller).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable


@runtime_checkable
class Fault(Protocol):
    """What the scenario run needs from a fault."""

    def apply(self) -> None: ...

    def revert(self) -> None: ...

    def describe(self) -> str: ...


class BaseFault(ABC):
    """Base for concrete faults: implement apply and revert; describe defaults to the docstring's first line."""

    @abstractmethod
    def apply(self) -> None: ...

    @abstractmethod
    def revert(self) -> None:
        """Undo apply. Called exactly once per apply, also when apply raised halfway."""

    def describe(self) -> str:
        doc = (type(self).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else repr(self)


def _qualified(function: Callable[[], None]) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"


@dataclass(frozen=True, repr=False)
class CallableFault(BaseFault):
    """A fault made of two callables; for tests and one-off game-day steps."""

    name: str
    on_apply: Callable[[], None]
    on_revert: Callable[[], None]

    def apply(self) -> None:
        self.on_apply()

    def revert(self) -> None:
        self.on_revert()

    def describe(self) -> str:
        return self.name

    def __repr__(self) -> str:
        # Valid Python when the callables are module-level functions.
        return (f"CallableFault({self.name!r}, on_apply={_qualified(self.on_apply)}, "
                f"on_revert={_qualified(self.on_revert)})")


@dataclass(repr=False)
class DescribedFault(BaseFault):
    """A dataclass fault whose repr leaves out clients (not worth a journal line) and secrets (must not
    get into one)."""

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                          if not k.startswith("_") and k not in ("api", "dns", "proxy", "aws", "front") and "secret" not in k)
        return f"{type(self).__name__}({shown})"
