"""What a scenario's journal observes while it runs: resource changes and Events of its namespace,
cert-manager's certificate and ACME metrics, the fake DNS log of its zone, and the lab's alerts and
notifications that concern it.

Each observer runs on its own thread and records into the journal as things happen; a crashed observer
is reported through scenario.observer_failed, so it turns the verdict into harness-error instead of
passing silently.
"""

from __future__ import annotations


from harness.observe import metrics
from harness.observe.alertlog import AlertLog
from harness.observe.dnslog import DnsLogFollower
from harness.report.journal import EntryKind
from harness.observe.metrics import MetricSampler
from harness.chaos.scenario import Scenario
from harness.observe.watch import ResourceRecorder

SAMPLE_INTERVAL = 1.0  # seconds between metric scrapes and DNS log polls: finer than any deadline used
SYNC_TIMEOUT = 10.0  # the first listings of a namespace take milliseconds; 10 s means the API is stuck


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
            on_sample=lambda sample: journal.record(EntryKind.METRIC_SAMPLE, sample.name, labels=dict(sample.labels),
                                                    value=sample.value),
            on_error=lambda message: journal.record(EntryKind.NOTE, "metrics scrape failed", error=message))
        self.dns = DnsLogFollower(lab.dns, f"*{namespace}.{lab.info.zone}",
                                  lambda subject, detail: journal.record(EntryKind.DNS_LOG, subject, **detail),
                                  failed("dns-log"))
        alerting = getattr(lab, "alerts", None)  # a lab without the alerting pipeline has no alert log
        self.alerts = alerting and AlertLog(alerting, namespace,
                                            lambda kind, subject, detail: journal.record(kind, subject, **detail),
                                            failed("alert-log"))
        self._failed = failed

    def start(self) -> "Timeline":
        self.recorder.start()
        self.recorder.wait_synced(SYNC_TIMEOUT)
        self.sampler.start()
        self.dns.start()
        if self.alerts:
            self.alerts.start()
        return self

    def stop(self) -> None:
        observers = [("dns-log", self.dns), ("metrics", self.sampler), ("resources", self.recorder)]
        for name, observer in [("alert-log", self.alerts)] * bool(self.alerts) + observers:
            try:
                observer.stop()
            except Exception as error:  # noqa: BLE001 - recorded, the others still stop
                self._failed(name)(error)
