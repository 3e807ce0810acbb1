"""cert-manager's timings as the harness models them, and readings of what cert-manager states (its log)."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.stack import binaries, timings
from harness.stack.ports import LOOPBACK, free_port
from harness.observe.conditions import controller
from harness.observe.conditions.controller import controller_go_module


def test_challenge_retries_model_the_immediate_resync_and_the_earliest_pending_retry():
    assert timings.challenge_retry_gaps(6) == [0, 5, 20, 40, 80]
    assert timings.challenge_retry_gaps(4, base=1) == [0, 1, 4]


@pytest.mark.parametrize("spacing, right", [
    ([0.1, 5.0, 20.1, 40.0], True),
    ([1.1, 4.1, 20.9, 40.1], True),  # a late resync (a loaded kind run): the backoff still runs from the failure
    ([0.6, 5.8, 20.5, 41.9], True),  # a first retry 1.4 s late (a CI run): the next still 20 s after its failure
    ([0.1, 6.4, 25.6, 51.2], False),  # doubling, but from another base
    ([0.1, 5.0, 5.0, 5.0], False),  # a fixed retry
    ([0.1, 5.0, 10.0, 15.0], False),  # a linear one
    ([0.1, 0.5, 0.5, 0.5], False),  # a storm
    ([3.0, 2.0, 20.0, 40.0], False),  # no immediate resync: the first failure retried at once by a timer
])
def test_challenge_retries_are_judged_from_the_failure_not_from_the_resync(spacing, right):
    why, facts = timings.challenge_retry_mismatch(spacing)
    assert (why is None) == right, (why, facts)


@given(st.integers(1, 40))
def test_issuance_backoff_doubles_from_an_hour_to_32_hours(failures):
    assert timings.issuance_backoff(failures) == min(3600 * 2 ** (failures - 1), 32 * 3600)


@given(not_before=st.integers(0, 2**31), lifetime=st.integers(3600, 10**8), before=st.none() | st.integers(1, 10**8))
def test_renewal_time_uses_renew_before_only_when_shorter_than_the_lifetime(not_before, lifetime, before):
    got = timings.renewal_time(not_before, not_before + lifetime, before)
    applies = before is not None and before < lifetime
    assert got == int(not_before + lifetime - (before if applies else lifetime / 3))


LINE = ('I1128 08:01:14.123456  4242 trigger_controller.go:181] cert-manager/certificates-trigger: "Backing off from '
        'issuance due to previously failed issuance(s). Issuance will next be attempted at 2026-11-28 09:01:14.5 '
        '+0000 UTC m=+3671.2" key="{key}"\n')


def test_the_announced_next_attempt_is_read_for_one_certificate(tmp_path):
    log = tmp_path / "cert-manager-controller.log"
    log.write_text(LINE.format(key="ns/other") + "unrelated\n" + LINE.format(key="ns/web"))
    assert controller.next_issuance_attempts(log, "ns", "web") == [1795856474.5]
    assert controller.issuance_backoff_announced(log, "ns", "web")().state == {"next_attempt_at": ["09:01:14Z"]}
    assert not controller.issuance_backoff_announced(log, "ns", "web", at_least=2)()


@pytest.mark.parametrize("text, seconds", [("10s", 10), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600)])
def test_go_durations(text, seconds):
    assert controller.go_duration_seconds(text) == seconds


def test_a_bad_go_duration_is_refused():
    with pytest.raises(ValueError, match="not a Go duration"):
        controller.go_duration_seconds("10 s")


def test_the_running_controllers_go_modules_are_read_from_its_executable(tmp_path):
    """Which AWS SDK a controller retries with is read from what runs, never assumed from a version."""
    server = binaries.resolve("toxiproxy-server").path  # a Go program of ours that waits: stands in for it
    process = subprocess.Popen([str(server), "-host", LOOPBACK, "-port", str(free_port())],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid_file = tmp_path / "pid"
        pid_file.write_text(str(process.pid))
        assert controller_go_module(str(pid_file), "github.com/prometheus/client_golang").startswith("v1.")
        assert controller_go_module(str(pid_file), "github.com/aws/aws-sdk-go-v2") is None
        assert controller_go_module(str(pid_file), "github.com/prometheus") is None  # a module, not a prefix
    finally:
        process.kill()
        process.wait()
