"""Follows the fake DNS server's log into a journal: every query and update touching a scenario's zone."""

from __future__ import annotations

import threading

from harness.stack.dnscontrol import DnsControl

POLL_INTERVAL = 1.0  # seconds between log polls: finer than any deadline a scenario uses


class DnsLogFollower:
    """Polls the fake DNS log for entries touching `name_glob` and records each once."""

    def __init__(self, dns: DnsControl, name_glob: str, record, on_error, interval: float = POLL_INTERVAL):
        self.dns, self.name_glob, self.record, self.on_error, self.interval = dns, name_glob, record, on_error, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"dns-log {name_glob}", daemon=True)
        self._since: float | None = None

    def start(self) -> "DnsLogFollower":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while True:
                self.poll()
                if self._stop.wait(self.interval):
                    self.poll()  # what happened between the last poll and stop()
                    return
        except Exception as error:  # noqa: BLE001 - handed to the scenario, which raises it
            self.on_error(error)

    def poll(self) -> None:
        for entry in self.dns.log(name=self.name_glob, since=self._since):
            if self._since is not None and entry["time"] <= self._since:
                continue
            self._since = entry["time"]
            subject = f"DNS {entry['kind']} {entry.get('name') or ''} {entry.get('rtype') or ''}".strip()
            self.record(subject, {k: v for k, v in entry.items() if k != "kind" and v not in (None, [], ())})

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
