"""Longest first, checked against pytest-xdist's own load scheduler driven in simulated time: the order must
start the longest scenario at once with nothing queued before it, whatever xdist does with the rest."""

from __future__ import annotations

import heapq
import math
from types import SimpleNamespace

from hypothesis import given, strategies as st
from xdist.scheduler.load import LoadScheduling

from harness.cli import order


class FakeWorker:
    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.queue: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.queue.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def run_under_xdist(nodes: list[str], seconds: dict[str, float], workers: int) -> dict[str, float]:
    """When each test starts, with `workers` workers running tests one after another as xdist's LoadScheduling
    hands them out."""
    config = SimpleNamespace(getvalue=lambda name: [f"{workers}*popen"], getoption=lambda name: None)
    scheduler = LoadScheduling(config, SimpleNamespace(loadsched=lambda *words: None))
    fakes = [FakeWorker(f"gw{index}") for index in range(workers)]
    for worker in fakes:
        scheduler.add_node(worker)
    for worker in fakes:
        scheduler.add_node_collection(worker, nodes)
    scheduler.schedule()
    started, running, now = {}, [], 0.0
    idle = list(fakes)
    while True:
        for worker in list(idle):  # an idle worker starts the next test it was given
            if worker.queue:
                index = worker.queue[0]
                started[nodes[index]] = now
                heapq.heappush(running, (now + seconds[nodes[index]], worker.gateway.id, index, worker))
                idle.remove(worker)
        if not running:
            return started
        now, _, index, worker = heapq.heappop(running)
        worker.queue.pop(0)
        scheduler.mark_test_complete(worker, index, seconds[nodes[index]])
        idle.append(worker)


def makespan(nodes: list[str], seconds: dict[str, float], workers: int) -> float:
    started = run_under_xdist(nodes, seconds, workers)
    return max(started[node] + seconds[node] for node in nodes)


def measured_batch(provider: str) -> tuple[list[str], dict[str, float]]:
    seconds = order.measured_seconds(provider)
    exclusive = ("leader_election", "controller_restart", "node_failure")
    return [node for node in seconds if not any(module in node for module in exclusive)], seconds


def test_the_measured_local_catalogue_ends_with_its_longest_scenario_given_the_workers_to_hold_it():
    batch, seconds = measured_batch("local")
    longest = max(seconds[node] for node in batch)
    # The fewest workers with which longest-first ends with the longest scenario: no more than twice the
    # catalogue's work over its longest (xdist hands each worker two tests at once); collection order does not.
    workers = next(w for w in range(1, len(batch) + 1)
                   if makespan(order.longest_first(batch, seconds, w), seconds, w) == longest)
    assert workers <= math.ceil(2 * sum(seconds[node] for node in batch) / longest)
    assert makespan(sorted(batch), seconds, workers) > longest  # collection order: the longest queues behind another
    assert makespan(order.longest_first(batch, seconds, 8), seconds, 8) <= makespan(sorted(batch), seconds, 8)


def test_the_measured_kind_catalogue_ends_no_later_than_in_collection_order():
    batch, seconds = measured_batch("kind")
    for workers in (4, 8):
        assert makespan(order.longest_first(batch, seconds, workers), seconds, workers) <= makespan(
            sorted(batch), seconds, workers)


@given(st.lists(st.integers(0, 300), min_size=1, max_size=40), st.integers(1, 10))
def test_the_longest_starts_at_once_under_xdist(durations, workers):
    nodes = [f"scenarios/test_{index}.py::test" for index in range(len(durations))]
    seconds = dict(zip(nodes, map(float, durations)))
    ordered = order.longest_first(nodes, seconds, workers)
    assert sorted(ordered) == sorted(nodes)
    started = run_under_xdist(ordered, seconds, workers)
    longest = max(seconds.values())
    assert min(started[node] for node in nodes if seconds[node] == longest) == 0


def test_a_scenario_never_measured_counts_as_the_longest():
    seconds = {"a": 10.0, "b": 300.0}
    assert order.longest_first(["a", "b", "new"], seconds, 3) == ["new", "b", "a"]


def test_recording_keeps_the_other_providers(tmp_path):
    path = tmp_path / "durations.toml"
    order.record("kind", {"scenarios/test_a.py::test[x]": 12.4}, path)
    order.record("local", {"scenarios/test_a.py::test[x]": 3}, path)
    assert order.measured_seconds("kind", path) == {"scenarios/test_a.py::test[x]": 12.0}
    assert order.measured_seconds("local", path) == {"scenarios/test_a.py::test[x]": 3.0}
    assert order.measured_seconds("kubeconfig", path) == {}


def split_measured(provider: str) -> tuple[list[str], list[str], dict[str, float]]:
    batch, seconds = measured_batch(provider)
    return batch, [node for node in seconds if node not in batch], seconds


def test_the_exclusive_lab_takes_part_of_the_measured_kind_batch_and_the_catalogue_ends_sooner():
    batch, exclusive, seconds = split_measured("kind")
    workers, lab_start = 4, 90.0
    alone = max(makespan(order.longest_first(batch, seconds, workers), seconds, workers),
                lab_start + sum(seconds[node] for node in exclusive))
    share = order.exclusive_lab_share(batch, exclusive, seconds, workers, lab_start)
    rest = [node for node in batch if node not in share]
    shared = max(makespan(order.longest_first(rest, seconds, workers), seconds, workers),
                 lab_start + sum(seconds[node] for node in exclusive + share))
    assert share and shared < alone
    assert [seconds[node] for node in share] == sorted((seconds[node] for node in share), reverse=True)


def test_nothing_is_shared_without_exclusive_scenarios_or_with_one_never_measured():
    seconds = {"a": 100.0, "b": 100.0, "c": 100.0, "x": 10.0}
    assert order.exclusive_lab_share(["a", "b", "c"], [], seconds, 1, 0.0) == []
    assert order.exclusive_lab_share(["a", "b", "c"], ["x", "new"], seconds, 1, 0.0) == []
    # one batch lane and the exclusive lab's, free after 10 s: the second scenario goes there, the third back
    assert order.exclusive_lab_share(["a", "b", "c"], ["x"], seconds, 1, 0.0) == ["b"]
    # an unmeasured batch scenario holds a batch lane as long as the longest measured one
    assert order.exclusive_lab_share(["a", "new"], ["x"], seconds, 1, 0.0) == ["a"]


def test_shortest_first_orders_by_measured_seconds_and_puts_the_unmeasured_last():
    seconds = {"a": 30.0, "b": 5.0, "c": 5.0, "d": 300.0}
    assert order.shortest_first(["a", "x", "b", "d", "c"], seconds) == ["b", "c", "a", "d", "x"]
