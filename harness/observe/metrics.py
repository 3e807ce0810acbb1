"""cert-manager's Prometheus endpoint: scrape it, parse the text exposition format, pick series by name
and label subset, and sample chosen series on a thread for the journal.

The parser is the text format's sample lines only (comments skipped), which is all an observer needs;
a line it cannot read is a HarnessError naming the line, never a silently missing series.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import requests

from harness.errors import HarnessError

# Metric names in cert-manager v1.11.5 pkg/metrics/metrics.go (namespace "certmanager").
CERTIFICATE_READY_STATUS = "certmanager_certificate_ready_status"  # labels: name namespace condition issuer_*
CERTIFICATE_EXPIRATION = "certmanager_certificate_expiration_timestamp_seconds"  # name namespace issuer_*
CERTIFICATE_RENEWAL = "certmanager_certificate_renewal_timestamp_seconds"  # name namespace issuer_*
ACME_REQUEST_COUNT = "certmanager_http_acme_client_request_count"  # scheme host path method status
ACME_REQUEST_DURATION = "certmanager_http_acme_client_request_duration_seconds"  # summary, same labels
CONTROLLER_SYNC_ERRORS = "certmanager_controller_sync_error_count"  # controller

# The endpoint answers in milliseconds; 5 s covers a controller busy on 2 cores without letting a hung
# endpoint stall a condition's polling.
SCRAPE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float

    def matches(self, name: str, labels: Mapping[str, str] | None = None) -> bool:
        return self.name == name and all(self.labels.get(k) == v for k, v in (labels or {}).items())

    def key(self) -> tuple:
        return (self.name, tuple(sorted(self.labels.items())))

    def __repr__(self) -> str:
        return f"{self.name}{format_labels(self.labels)} {format_value(self.value)}"


class MetricsParseError(HarnessError):
    pass


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,?)')
_OPEN = re.compile(r"\s*{")
_CLOSE = re.compile(r"\s*}")
_ESCAPE = re.compile(r"\\(.)")
_UNESCAPED = {"n": "\n"}


def _unescape(value: str) -> str:
    return _ESCAPE.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(1)), value)


def _parse_line(line: str) -> Sample:
    name_match = _NAME.match(line)
    if not name_match:
        raise ValueError("no metric name")
    position = name_match.end()
    labels: dict[str, str] = {}
    brace = _OPEN.match(line, position)
    if brace:
        position = brace.end()
        while True:
            closing = _CLOSE.match(line, position)
            if closing:
                position = closing.end()
                break
            label = _LABEL.match(line, position)
            if not label:
                raise ValueError(f"bad label at column {position + 1}")
            labels[label.group(1)] = _unescape(label.group(2))
            position = label.end()
            if not label.group(3) and not _CLOSE.match(line, position):
                raise ValueError(f"expected ',' or '}}' at column {position + 1}")
    fields = line[position:].split()
    if len(fields) not in (1, 2):  # value, and an optional timestamp the observers do not need
        raise ValueError("expected a value and an optional timestamp")
    return Sample(name_match.group(0), labels, float(fields[0]))


def parse(text: str) -> list[Sample]:
    """Every sample line of a text-format exposition, in order."""
    samples = []
    # split on "\n" only: str.splitlines() also splits on characters a label value may hold (\x1e, \u2028)
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            samples.append(_parse_line(line))
        except ValueError as error:
            raise MetricsParseError(f"metrics line {number}: {error}: {raw!r}") from None
    return samples


def format_labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def format_samples(samples: Iterable[Sample]) -> str:
    """The text exposition of `samples` (for fake endpoints in tests, and the inverse of parse)."""
    return "".join(f"{s.name}{format_labels(s.labels)} {format_value(s.value)}\n" for s in samples)


def scrape(url: str, timeout: float = SCRAPE_TIMEOUT) -> list[Sample]:
    response = requests.get(url, timeout=timeout)
    if response.status_code != 200:
        raise HarnessError(f"metrics {url}: HTTP {response.status_code}: {response.text[:200]!r}")
    return parse(response.text)


def select(samples: Iterable[Sample], name: str, labels: Mapping[str, str] | None = None) -> list[Sample]:
    """The samples of `name` whose labels include `labels`."""
    return [s for s in samples if s.matches(name, labels)]


def total(samples: Iterable[Sample], name: str, labels: Mapping[str, str] | None = None) -> float | None:
    """Sum over the selected series (a counter's total over the labels left open), None if none match."""
    chosen = select(samples, name, labels)
    return sum(s.value for s in chosen) if chosen else None


Selector = tuple[str, Mapping[str, str]]


class MetricSampler:
    """Scrapes `url` every `interval` seconds on a thread and calls `on_sample` with each selected sample
    whose value changed since the last scrape (and each new series). A scrape that fails calls
    `on_error` once per run of failures, since an unreachable endpoint is itself worth a timeline line.
    An exception from a callback stops sampling and is re-raised by stop()."""

    def __init__(self, url: str, selectors: Iterable[Selector | str], on_sample: Callable[[Sample], None],
                 interval: float = 1.0, on_error: Callable[[str], None] | None = None):
        self.url = url
        self.selectors = [(s, {}) if isinstance(s, str) else s for s in selectors]
        self.on_sample, self.on_error, self.interval = on_sample, on_error, interval
        self.last_error: str | None = None
        self._values: dict[tuple, float] = {}
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"metric-sampler {url}", daemon=True)

    def start(self) -> "MetricSampler":
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> "MetricSampler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def sample_once(self) -> None:
        """One scrape: report changed series. Runs on the sampler's thread, callable directly in tests."""
        try:
            samples = scrape(self.url, timeout=min(SCRAPE_TIMEOUT, max(self.interval, 1.0)))
        except (requests.RequestException, HarnessError) as error:
            message = f"{type(error).__name__}: {error}"
            if self.last_error is None and self.on_error is not None:
                self.on_error(message)
            self.last_error = message
            return
        self.last_error = None
        for sample in samples:
            if not any(sample.matches(name, labels) for name, labels in self.selectors):
                continue
            previous = self._values.get(sample.key())
            if previous is None or not _same(previous, sample.value):
                self._values[sample.key()] = sample.value
                self.on_sample(sample)

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self.sample_once()
                self._stopping.wait(self.interval)  # the sampling period, not a synchronisation
        except BaseException as error:  # noqa: BLE001 - handed to the test thread by stop()
            self._failure = error

    def stop(self, timeout: float = SCRAPE_TIMEOUT + 5) -> None:
        """Stop sampling and join the thread (at most one scrape's timeout); re-raise a callback's error."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            raise HarnessError(f"metric sampler for {self.url} did not stop within {timeout:g}s")
        if self._failure is not None:
            raise HarnessError(f"metric sampler for {self.url} failed: {self._failure!r}") from self._failure


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))
