"""metrics: the text-format parser (on a recorded cert-manager v1.11.5 scrape and by round trip), series
selection, the metric conditions and the sampler against a real HTTP endpoint on loopback."""

from __future__ import annotations

import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.observe import metrics
from harness.observe.conditions import metrics as metric_conditions
from harness.errors import HarnessError
from harness.observe.metrics import MetricsParseError, Sample
from harness.wait import Seen, wait_for

RECORDED = (Path(__file__).parent / "data" / "certmanager-v1.11.5-metrics.txt").read_text()
WEB = {"namespace": "obs-probe", "name": "web"}


def test_recorded_scrape_has_the_certificate_series_by_their_v1_11_names():
    samples = metrics.parse(RECORDED)

    ready = metrics.select(samples, metrics.CERTIFICATE_READY_STATUS, WEB)
    assert {s.labels["condition"]: s.value for s in ready} == {"True": 1.0, "False": 0.0, "Unknown": 0.0}
    assert ready[0].labels == {"condition": "False", "issuer_group": "", "issuer_kind": "", "issuer_name": "ss",
                               "name": "web", "namespace": "obs-probe"}
    assert metrics.total(samples, metrics.CERTIFICATE_EXPIRATION, WEB) == 1.803614192e09
    assert metrics.total(samples, metrics.CERTIFICATE_RENEWAL, WEB) == 1.801022192e09
    assert metrics.total(samples, "certmanager_controller_sync_call_count") == 89
    assert metrics.total(samples, metrics.ACME_REQUEST_COUNT) is None


def test_escapes_timestamps_special_values_and_spacing():
    text = ('# HELP x a "help" line\n'
            'm{a="q\\"uote",b="back\\\\slash",c="new\\nline",} 1 1700000000000\n'
            'm { a = "x" , b="y" } +Inf\n'
            'm_nan NaN\n'
            'm_neg -Inf\n'
            'certmanager_http_acme_client_request_duration_seconds{quantile="0.5"} 0.25\n')
    samples = metrics.parse(text)
    assert samples[0] == Sample("m", {"a": 'q"uote', "b": "back\\slash", "c": "new\nline"}, 1.0)
    assert samples[1] == Sample("m", {"a": "x", "b": "y"}, math.inf)
    assert math.isnan(samples[2].value) and samples[3].value == -math.inf
    assert samples[4].labels == {"quantile": "0.5"}


@pytest.mark.parametrize("line, says", [
    ('m{a="x" b="y"} 1', "expected ',' or '}' at column 9"),
    ('m{a=x} 1', "bad label at column 3"),
    ('m{a="x"}', "expected a value"),
    ('m 1 2 3', "expected a value and an optional timestamp"),
    ('m one', "could not convert"),
    ('{a="x"} 1', "no metric name"),
])
def test_unreadable_line_is_named(line, says):
    with pytest.raises(MetricsParseError) as error:
        metrics.parse(f"ok 1\n# comment\n{line}\n")
    assert str(error.value).startswith("metrics line 3: ") and says in str(error.value)
    assert repr(line) in str(error.value)


names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True)
label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True)
label_values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
values = st.floats(allow_nan=False) | st.integers(-2**53, 2**53).map(float)
samples_strategy = st.lists(st.builds(Sample, names, st.dictionaries(label_names, label_values, max_size=4), values),
                            max_size=10)


@given(samples_strategy)
def test_format_then_parse_is_identity(samples):
    assert metrics.parse(metrics.format_samples(samples)) == samples


@given(samples_strategy, names, st.dictionaries(label_names, label_values, max_size=2))
def test_select_is_the_label_subset_match(samples, name, labels):
    chosen = metrics.select(samples, name, labels)
    assert chosen == [s for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert metrics.total(samples, name, labels) == (sum(s.value for s in chosen) if chosen else None)


class Endpoint:
    """A /metrics endpoint on loopback serving whatever `text` is set to (or an error status)."""

    def __init__(self):
        endpoint = self
        self.text, self.status = "", 200

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = endpoint.text.encode()
                self.send_response(endpoint.status)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, *samples: Sample) -> None:
        self.text = "# TYPE x gauge\n" + metrics.format_samples(samples)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def endpoint():
    served = Endpoint()
    yield served
    served.close()


def ready(condition: str, value: float) -> Sample:
    return Sample(metrics.CERTIFICATE_READY_STATUS, {**WEB, "condition": condition, "issuer_name": "ss"}, value)


def acme(status: str, value: float, path: str = "/acme/new-order") -> Sample:
    return Sample(metrics.ACME_REQUEST_COUNT, {"scheme": "https", "host": "127.0.0.1:14000", "path": path,
                                               "method": "POST", "status": status}, value)


def test_metric_conditions_hold_only_on_the_matching_series(endpoint):
    endpoint.serve(ready("True", 0), ready("False", 1), acme("201", 3), acme("429", 1), acme("429", 1, "/acme/x"),
                   Sample(metrics.CERTIFICATE_EXPIRATION, WEB, 1000.0))

    assert metric_conditions.certificate_ready_metric(endpoint.url, "obs-probe", "web", "False")()
    not_ready = metric_conditions.certificate_ready_metric(endpoint.url, "obs-probe", "web")()
    assert not not_ready and not_ready.state == {"metric": metrics.CERTIFICATE_READY_STATUS, "value": 0.0, "series": 1,
                                                 "labels": {**WEB, "condition": "True"}}
    assert metric_conditions.acme_requests_at_least(endpoint.url, 2, status="429")()
    assert not metric_conditions.acme_requests_at_least(endpoint.url, 2, status="429", path="/acme/x")()
    assert metric_conditions.acme_requests_at_least(endpoint.url, 5)().state["value"] == 5
    assert metric_conditions.certificate_expiration_metric_after(endpoint.url, "obs-probe", "web", 999)()
    assert not metric_conditions.certificate_expiration_metric_after(endpoint.url, "obs-probe", "web", 1000)()
    missing = metric_conditions.certificate_renewal_metric_after(endpoint.url, "obs-probe", "web", 0)()
    assert not missing and missing.state["value"] is None and missing.state["series"] == 0


def test_an_endpoint_that_errors_raises_rather_than_reads_as_zero(endpoint):
    endpoint.status = 503
    with pytest.raises(HarnessError, match="HTTP 503"):
        metric_conditions.metric_at_least(endpoint.url, "x", {}, 0)()


def test_sampler_reports_new_and_changed_series_only(endpoint):
    seen, errors = [], []
    sampler = metrics.MetricSampler(endpoint.url, [(metrics.CERTIFICATE_READY_STATUS, WEB), metrics.ACME_REQUEST_COUNT],
                                    seen.append, on_error=errors.append)
    endpoint.serve(ready("True", 0), ready("False", 1), acme("201", 1), Sample("other", {}, 1))
    sampler.sample_once()
    assert seen == [ready("True", 0), ready("False", 1), acme("201", 1)]

    sampler.sample_once()
    assert len(seen) == 3  # nothing changed

    endpoint.serve(ready("True", 1), ready("False", 0), acme("201", 1), acme("429", 1))
    sampler.sample_once()
    assert seen[3:] == [ready("True", 1), ready("False", 0), acme("429", 1)]

    endpoint.status = 500
    sampler.sample_once()
    sampler.sample_once()
    assert len(errors) == 1 and "HTTP 500" in errors[0] and sampler.last_error
    endpoint.status = 200
    sampler.sample_once()
    assert sampler.last_error is None and len(seen) == 6


def test_sampler_thread_samples_until_stopped(endpoint):
    seen = []
    endpoint.serve(acme("201", 1))
    # 0.05 s between scrapes keeps the test short; the loop itself must not care.
    sampler = metrics.MetricSampler(endpoint.url, [metrics.ACME_REQUEST_COUNT], seen.append, interval=0.05).start()
    try:
        wait_for(lambda: Seen(len(seen) == 1, seen), subject="sampler", expected="first sample", timeout=5)
        endpoint.serve(acme("201", 2))
        wait_for(lambda: Seen(len(seen) == 2, seen), subject="sampler", expected="the change", timeout=5)
    finally:
        sampler.stop()
    assert not sampler.running
    assert [s.value for s in seen] == [1, 2]


def test_sampler_callback_error_surfaces_on_stop(endpoint):
    endpoint.serve(acme("201", 1))

    def broken(sample):
        raise KeyError("journal is closed")

    sampler = metrics.MetricSampler(endpoint.url, [metrics.ACME_REQUEST_COUNT], broken, interval=0.05).start()
    wait_for(lambda: Seen(not sampler.running, "running"), subject="sampler", expected="to stop on the error",
             timeout=5)
    with pytest.raises(HarnessError, match="journal is closed"):
        sampler.stop()
