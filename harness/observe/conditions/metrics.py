"""Conditions on cert-manager's /metrics."""

from __future__ import annotations

from typing import Callable, Mapping

from harness.observe import metrics
from harness.observe.conditions.general import observe
from harness.wait import Condition


def metric_condition(url: str, name: str, labels: Mapping[str, str] | None,
                     holds: Callable[[float | None], bool]) -> Condition:
    """A test on the sum of the series of `name` whose labels include `labels` (None: no such series)."""
    chosen = dict(labels or {})

    def view(samples: list[metrics.Sample]) -> dict:
        selected = metrics.select(samples, name, chosen)
        return {"metric": name, "labels": chosen, "value": metrics.total(selected, name), "series": len(selected)}

    return observe(lambda: metrics.scrape(url), lambda samples: holds(metrics.total(samples, name, chosen)), view)


def metric_at_least(url: str, name: str, labels: Mapping[str, str] | None, value: float) -> Condition:
    return metric_condition(url, name, labels, lambda v: v is not None and v >= value)


def certificate_ready_metric(url: str, namespace: str, name: str, condition: str = "True") -> Condition:
    """certmanager_certificate_ready_status{condition=...} is 1 for the Certificate."""
    return metric_condition(url, metrics.CERTIFICATE_READY_STATUS,
                            {"namespace": namespace, "name": name, "condition": condition}, lambda v: v == 1)


def certificate_expiration_metric_after(url: str, namespace: str, name: str, timestamp: float) -> Condition:
    """The Certificate's expiration metric is later than `timestamp` (a renewed certificate was observed)."""
    return metric_condition(url, metrics.CERTIFICATE_EXPIRATION, {"namespace": namespace, "name": name},
                            lambda v: v is not None and v > timestamp)


def certificate_renewal_metric_after(url: str, namespace: str, name: str, timestamp: float) -> Condition:
    return metric_condition(url, metrics.CERTIFICATE_RENEWAL, {"namespace": namespace, "name": name},
                            lambda v: v is not None and v > timestamp)


def acme_requests_at_least(url: str, count: float, status: str | None = None, **labels: str) -> Condition:
    """The ACME client made at least `count` requests (with HTTP `status`, e.g. "429"; "999" is cert-manager's
    label for a request that got no response) matching the other labels (scheme, host, path, method)."""
    if status is not None:
        labels["status"] = status
    return metric_at_least(url, metrics.ACME_REQUEST_COUNT, labels, count)


def acme_request_total(url: str, **labels: str) -> float:
    """The ACME client's request count now, summed over the series matching `labels` (0 if none): the
    baseline a scenario takes before it expects the count to grow."""
    return metrics.total(metrics.scrape(url), metrics.ACME_REQUEST_COUNT, labels) or 0.0


def certificate_metrics_equal(url: str, namespace: str, name: str, expiration: float, renewal: float) -> Condition:
    """The Certificate's expiration and renewal timestamp metrics equal the given epoch seconds (the
    Secret's notAfter and the status' renewalTime), to the second."""
    labels = {"namespace": namespace, "name": name}

    def values(samples: list[metrics.Sample]) -> dict:
        return {"expiration": metrics.total(samples, metrics.CERTIFICATE_EXPIRATION, labels),
                "renewal": metrics.total(samples, metrics.CERTIFICATE_RENEWAL, labels)}

    return observe(lambda: metrics.scrape(url),
                   lambda samples: values(samples) == {"expiration": expiration, "renewal": renewal},
                   lambda samples: {**values(samples), "want": {"expiration": expiration, "renewal": renewal}})


def acme_duration_totals(url: str, **labels: str) -> dict[str, tuple[float, float]]:
    """{path: (requests, seconds)} of the ACME client's request duration summary (its _count and _sum)
    over the series matching `labels` (host=... picks one scenario's path to the CA)."""
    samples = metrics.scrape(url)
    out: dict[str, tuple[float, float]] = {}
    for count in metrics.select(samples, metrics.ACME_REQUEST_DURATION + "_count", labels):
        path = count.labels.get("path", "")
        seconds = metrics.total(samples, metrics.ACME_REQUEST_DURATION + "_sum", dict(count.labels)) or 0.0
        requests, total = out.get(path, (0.0, 0.0))
        out[path] = (requests + count.value, total + seconds)
    return out


def mean_durations(before: dict[str, tuple[float, float]],
                   after: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """{path: (requests, mean seconds)} of the requests made between two acme_duration_totals readings."""
    out = {}
    for path, (requests, seconds) in after.items():
        old_requests, old_seconds = before.get(path, (0.0, 0.0))
        if requests > old_requests:
            out[path] = (requests - old_requests, round((seconds - old_seconds) / (requests - old_requests), 3))
    return out
