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
