"""The record of one DNS message while it is handled, shared by the wire handler, resolvers and updates."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from fakes.dns.log import LogEntry


@dataclass(slots=True)
class Exchange:
    """One message being handled: who asked over which view and transport, and what came of it. It
    plays dnslib's per-request handler object for resolvers (they read the view, write the outcome)."""

    view: str
    transport: str
    client: str
    kind: str = "query"
    name: str | None = None
    rtype: str | None = None
    rcode: str | None = None
    answers: tuple[str, ...] = ()
    reason: str | None = None
    key: str | None = None
    changes: tuple[str, ...] = ()
    tsig_error: str | None = None
    delay: float = 0.0  # seconds to hold the reply back (latency faults)
    valid_until: float = math.inf  # on the server clock: how long the packed answer may be reused

    def entry(self) -> LogEntry:
        return LogEntry(
            time.time(), self.view, self.client, self.transport, self.kind, self.name, self.rtype,
            self.rcode, self.answers, self.reason, self.key, self.changes, self.tsig_error,
        )  # fmt: skip
