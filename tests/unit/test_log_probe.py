"""A component's log read for what it says: a text, or a pattern for a line two releases word differently."""

from __future__ import annotations

import re

from harness.stack.probes import log_contains

V1_11 = 'I0101 leaderelection.go:248] attempting to acquire leader lease kube-system/cert-manager-controller...\n'
V1_20 = 'I1206 leaderelection.go:258] "Attempting to acquire leader lease..." lock="kube-system/cert-manager-controller"\n'


def test_a_pattern_matches_either_wording_and_a_text_only_its_own(tmp_path):
    log = tmp_path / "controller.log"
    waiting = re.compile(r"[aA]ttempting to acquire leader lease")
    assert not log_contains(log, waiting)()  # no log yet
    log.write_text(V1_20)
    assert log_contains(log, waiting)() and not log_contains(log, "attempting to acquire leader lease")()
    log.write_text(V1_11)
    seen = log_contains(log, waiting)()
    assert seen and seen.state["found"] is True
    assert not log_contains(log, waiting, since=len(V1_11))()  # only what was written after `since`


def test_a_standby_pods_log_is_read_for_a_pattern_as_a_process_log_is(monkeypatch):
    """On kind the standby is a pod and its log comes from the API (a pattern once broke there: `in` on a str)."""
    from harness.chaos import actions

    class Core:
        def __init__(self, api):
            pass

        def read_namespaced_pod_log(self, pod, namespace):
            return V1_20

    monkeypatch.setattr(actions.client, "CoreV1Api", Core)
    contains = actions._pod_log_contains(object(), "cert-manager", "cert-manager-abc")
    assert contains(re.compile(r"[aA]ttempting to acquire leader lease"))()
    assert not contains("attempting to acquire leader lease")()
