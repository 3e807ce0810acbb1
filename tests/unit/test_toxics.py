"""Toxics serialise to the body Toxiproxy's API takes, and print as the Python that made them."""

from __future__ import annotations

from harness.stack.toxiproxy import Toxic, bandwidth, latency, reset_peer, slow_close, timeout


def test_latency_with_jitter_on_upstream():
    assert latency(500, jitter_ms=50, stream="upstream").body() == {
        "type": "latency", "attributes": {"latency": 500, "jitter": 50}, "stream": "upstream",
        "toxicity": 1.0, "name": "latency_upstream",
    }


def test_each_toxic_carries_toxiproxys_attribute_names():
    assert timeout(1000).body()["attributes"] == {"timeout": 1000}
    assert reset_peer().body()["attributes"] == {"timeout": 0}
    assert bandwidth(10).body()["attributes"] == {"rate": 10}
    assert slow_close(200).body()["attributes"] == {"delay": 200}


def test_an_explicit_name_wins_and_the_repr_is_python():
    toxic = Toxic("timeout", {"timeout": 0}, name="ca-hangs")
    assert toxic.body()["name"] == "ca-hangs"
    assert eval(repr(toxic)) == toxic
