"""What a scenario's journal observes while it runs: resource changes and Events of its namespace,
cert-manager's certificate and ACME metrics, and the fake DNS log of its zone.

Each observer runs on its own thread and records into the journal as things happen; a crashed observer
is reported through scenario.observer_failed, so it turns the verdict into harness-error instead of
passing silently.
"""

from __future__ import annotations

import threading

from harness import metrics
from harness.dnscontrol import DnsControl
from harness.journal import Kind
from harness.metrics import MetricSampler
from harness.scenario import Scenario
from harness.watch import ResourceRecorder

SAMPLE_INTERVAL = 1.0  # seconds between metric scrapes and DNS log polls: finer than any deadline used
SYNC_TIMEOUT = 10.0  # the first listings of a namespace take milliseconds; 10 s means the API is stuck


class DnsLogFollower:
    """Polls the fake DNS log for entries touching `name_glob` and records each once."""

    def __init__(self, dns: DnsControl, name_glob: str, record, on_error, interval: float = SAMPLE_INTERVAL):
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


class Timeline:
    """Starts the observers of one scenario; stop() stops them and joins their threads."""

    def __init__(self, scenario: Scenario, lab, namespace: str):
        journal = scenario.journal

        def failed(name):
            return lambda error: scenario.observer_failed(name, error if isinstance(error, BaseException) else RuntimeError(error))

        self.recorder = ResourceRecorder(lab.kube, namespace,
                                         lambda kind, subject, detail: journal.record(kind, subject, **detail))
        selectors = [(name, {"namespace": namespace}) for name in (
            metrics.CERTIFICATE_READY_STATUS, metrics.CERTIFICATE_EXPIRATION, metrics.CERTIFICATE_RENEWAL)]
        selectors.append((metrics.ACME_REQUEST_COUNT, {}))
        self.sampler = MetricSampler(
            lab.info.metrics_url, selectors, interval=SAMPLE_INTERVAL,
            on_sample=lambda sample: journal.record(Kind.METRIC_SAMPLE, sample.name, labels=dict(sample.labels),
                                                    value=sample.value),
            on_error=lambda message: journal.record(Kind.NOTE, "metrics scrape failed", error=message))
        self.dns = DnsLogFollower(lab.dns, f"*{namespace}.{lab.info.zone}",
                                  lambda subject, detail: journal.record(Kind.DNS_LOG, subject, **detail),
                                  failed("dns-log"))
        self._failed = failed

    def start(self) -> "Timeline":
        self.recorder.start()
        self.recorder.wait_synced(SYNC_TIMEOUT)
        self.sampler.start()
        self.dns.start()
        return self

    def stop(self) -> None:
        for name, observer in (("dns-log", self.dns), ("metrics", self.sampler), ("resources", self.recorder)):
            try:
                observer.stop()
            except Exception as error:  # noqa: BLE001 - recorded, the others still stop
                self._failed(name)(error)
