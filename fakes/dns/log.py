"""The record of every message the server saw: the evidence scenarios assert on.

The logger role of dnslib's four (server, handler, resolver, logger): the handler hands it one entry
per message; tests and the control endpoint read and filter it.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Iterator, NamedTuple

from fakes.dns.zone import glob_pattern, matches_glob

# A ring, not a list: a game-day run at a few queries per second keeps days of history in 100k entries,
# while a benchmark or a resolver hammering the server drops the oldest instead of growing memory
# without bound (an entry is a few hundred bytes, so the ring stays below ~50 MB).
MAX_ENTRIES = 100_000


class LogEntry(NamedTuple):
    """One query or update and how it was answered.

    kind: "query", "update" or "invalid" (unparseable or not answerable). name/rtype: the question, or
    for updates the zone. rcode: the answer's rcode name, None when no answer was sent (dropped).
    answers: the answer records as zone-file lines. reason: why it was refused, faulted or dropped.
    A NamedTuple rather than a dataclass: one is made per query, and this is 5x cheaper to build.
    """

    time: float
    view: str
    client: str
    transport: str
    kind: str
    name: str | None
    rtype: str | None
    rcode: str | None
    answers: tuple[str, ...] = ()
    reason: str | None = None
    key: str | None = None
    changes: tuple[str, ...] = ()
    tsig_error: str | None = None

    def to_json(self) -> dict:
        return self._asdict()

    def touches(self, name_glob: str) -> bool:
        """Whether the question name, or for updates any changed owner name, matches the glob."""
        pattern = glob_pattern(name_glob)
        names = [self.name or ""] if self.kind != "update" else [c.split()[1] for c in self.changes]
        return any(matches_glob(name, pattern) for name in names)


class QueryLog:
    """Thread-safe bounded log; `queries()` and `updates()` filter it."""

    def __init__(self, maxlen: int = MAX_ENTRIES):
        self._entries: deque[LogEntry] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def record(self, entry: LogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LogEntry]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self.entries())

    def select(
        self,
        kind: str | None = None,
        name_glob: str | None = None,
        rtype: str | None = None,
        view: str | None = None,
        rcode: str | None = None,
        key: str | None = None,
        since: float | None = None,
    ) -> list[LogEntry]:
        """Entries matching every given filter (None: any). `since` is an epoch time."""
        key = None if key is None else key.lower().rstrip(".")
        return [
            e
            for e in self.entries()
            if (kind is None or e.kind == kind)
            and (view is None or e.view == view)
            and (rtype is None or e.rtype == rtype.upper())
            and (rcode is None or e.rcode == rcode.upper())
            and (key is None or e.key == key)
            and (since is None or e.time >= since)
            and (name_glob is None or e.touches(name_glob))
        ]

    def queries(self, name_glob: str | None = None, **filters) -> list[LogEntry]:
        return self.select(kind="query", name_glob=name_glob, **filters)

    def updates(self, name_glob: str | None = None, key: str | None = None, **filters) -> list[LogEntry]:
        return self.select(kind="update", name_glob=name_glob, key=key, **filters)
