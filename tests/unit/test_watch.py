"""ResourceRecorder: which changes it reports, once each, across relists after 410 Gone and watch errors,
and that stop() joins its threads and surfaces a failing callback. The API is scripted: listings come
from an in-memory cluster, watch streams from per-kind queues."""

from __future__ import annotations

import copy
import queue
import types

import pytest
from kubernetes.client.rest import ApiException

import cm_objects as cm
from harness.observe import resources
from harness.observe import watch as recorder_module
from harness.errors import HarnessError
from harness.observe.watch import EVENT_SEEN, RESOURCE_CHANGE, ResourceRecorder
from harness.wait import Seen, wait_for

NS = cm.NAMESPACE
# How long a scripted watch waits for a scripted event before ending, as the server's timeout would.
STREAM_IDLE = 0.05


class ScriptedApi:
    """list_raw from a FakeCluster, and Watch streams fed from one queue per kind."""

    def __init__(self, cluster: cm.FakeCluster):
        self.cluster = cluster
        self.feeds: dict[str, queue.Queue] = {}
        self.watched_from: dict[str, list[str]] = {}
        self.lists: dict[str, int] = {}
        self.version = 100

    def feed(self, kind: str, *items) -> None:
        for item in items:
            self.feeds.setdefault(kind, queue.Queue()).put(item)

    def event(self, kind: str, change: str, obj: dict) -> None:
        self.version += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.feed(kind, {"type": change, "object": obj, "raw_object": obj})

    def list_raw(self, api, kind, namespace=None, label_selector=None, timeout=None):
        self.lists[kind.kind] = self.lists.get(kind.kind, 0) + 1
        return {"metadata": {"resourceVersion": str(self.version)},
                "items": self.cluster.list_objects(api, kind, namespace)}

    def lister(self, api, kind):
        return types.SimpleNamespace(kind=kind.kind), ()

    def Watch(self):  # noqa: N802 - stands in for kubernetes.watch.Watch
        api = self

        class Watch:
            stopped = False

            def stop(self):
                self.stopped = True

            def stream(self, function, *args, resource_version, **options):
                assert options["timeout_seconds"] > 0 and options["deserialize"] is False
                api.watched_from.setdefault(function.kind, []).append(resource_version)
                feed = api.feeds.setdefault(function.kind, queue.Queue())
                while not self.stopped:
                    try:
                        item = feed.get(timeout=STREAM_IDLE)
                    except queue.Empty:
                        return
                    if isinstance(item, BaseException):
                        raise item
                    yield item

        return Watch()

    def install(self, monkeypatch) -> "ScriptedApi":
        monkeypatch.setattr(resources, "list_raw", self.list_raw)
        monkeypatch.setattr(resources, "lister", self.lister)
        monkeypatch.setattr(recorder_module, "watch", types.SimpleNamespace(Watch=self.Watch))
        return self


@pytest.fixture
def scripted(monkeypatch):
    cluster = cm.FakeCluster(cm.recorded("certificate"))
    for event in cm.recorded("events")[-2:]:
        cluster.put({"kind": "Event", **event})
    return ScriptedApi(cluster).install(monkeypatch)


@pytest.fixture
def recorded(scripted):
    entries = []
    recorder = ResourceRecorder(None, NS, lambda *entry: entries.append(entry)).start()
    assert recorder.wait_synced(5)
    yield recorder, entries
    recorder.stop()


def until(entries, count):
    # A scripted event reaches the callback within milliseconds; 5 s is for a loaded CI machine.
    wait_for(lambda: Seen(len(entries) >= count, entries[-3:]), subject="recorder", expected=f"{count} entries",
             timeout=5, interval=0.01)
    return entries


def test_first_listing_reports_what_exists(recorded):
    recorder, entries = recorded
    until(entries, 3)
    certificate = [e for e in entries if e[0] == RESOURCE_CHANGE]
    assert certificate == [(RESOURCE_CHANGE, f"Certificate {NS}/web", {
        **resources.summary(resources.CERTIFICATE, cm.recorded("certificate")), "changed": ["first-seen"]})]
    events = [e for e in entries if e[0] == EVENT_SEEN]
    assert [(subject, detail["reason"]) for _, subject, detail in events] == [
        (f"Certificate {NS}/web", "Requested"), (f"Certificate {NS}/web", "Issuing")]


def test_only_relevant_changes_are_reported(scripted, recorded):
    recorder, entries = recorded
    until(entries, 3)
    crt = cm.recorded("certificate")
    scripted.event("Certificate", "MODIFIED", crt)  # only resourceVersion differs: nothing to say
    crt["status"]["conditions"].append(cm.condition("Issuing", "True", "ManuallyTriggered", "renew", 1))
    scripted.event("Certificate", "MODIFIED", crt)
    crt["status"]["revision"] = 2
    del crt["status"]["conditions"][1]
    scripted.event("Certificate", "MODIFIED", crt)
    until(entries, 5)

    assert [e[2]["changed"] for e in entries[3:]] == [["Issuing"], ["revision", "Issuing"]]
    assert entries[3][2]["conditions"]["Issuing"] == {"status": "True", "reason": "ManuallyTriggered",
                                                      "message": "renew"}


def test_order_and_challenge_state_presented_and_reason(scripted, recorded):
    recorder, entries = recorded
    until(entries, 3)
    request = cm.certificate_request(cm.recorded("certificate"), 2)
    order = cm.order(request, "pending")
    challenge = cm.challenge(order)
    scripted.event("Order", "ADDED", order)
    scripted.event("Challenge", "ADDED", challenge)
    challenge["status"]["processing"] = False  # not worth a line
    scripted.event("Challenge", "MODIFIED", challenge)
    challenge["status"]["reason"] = "DNS update failed. Server replied: REFUSED"
    scripted.event("Challenge", "MODIFIED", challenge)
    challenge["status"]["presented"] = True
    scripted.event("Challenge", "MODIFIED", challenge)
    order["status"]["state"] = "valid"
    scripted.event("Order", "MODIFIED", order)
    scripted.event("Order", "DELETED", order)
    until(entries, 9)

    by_subject = {}
    for _, subject, detail in entries[3:]:
        by_subject.setdefault(subject.split()[0], []).append(detail)
    assert [d.get("state") for d in by_subject["Order"]] == ["pending", "valid", None]
    assert by_subject["Order"][-1] == {"deleted": True}
    assert [d["changed"] for d in by_subject["Challenge"]] == [["first-seen"], ["reason"], ["presented"]]
    assert len(entries) == 9


def test_each_event_occurrence_once(scripted, recorded):
    recorder, entries = recorded
    until(entries, 3)
    event = {"kind": "Event", **cm.recorded("events")[-1]}
    scripted.event("Event", "MODIFIED", event)  # the one already listed: no news
    event["count"] = 2
    scripted.event("Event", "MODIFIED", event)
    scripted.event("Event", "MODIFIED", event)
    scripted.event("Event", "DELETED", event)
    until(entries, 4)
    wait_for(lambda: Seen(scripted.feeds["Event"].empty(), None), subject="feed", expected="drained", timeout=5)
    assert len(entries) == 4 and entries[3][2]["count"] == 2


def test_gone_relists_reports_what_vanished_and_resumes_from_the_new_listing(scripted, recorded):
    recorder, entries = recorded
    until(entries, 3)
    request = cm.certificate_request(cm.recorded("certificate"), 2)
    scripted.event("CertificateRequest", "ADDED", request)
    until(entries, 4)
    scripted.version = 500  # what the relist will return
    scripted.feed("CertificateRequest", ApiException(status=410, reason="Gone"))
    until(entries, 5)

    assert entries[4] == (RESOURCE_CHANGE, f"CertificateRequest {NS}/{request['metadata']['name']}", {"deleted": True})
    wait_for(lambda: Seen("500" in scripted.watched_from["CertificateRequest"], scripted.watched_from),
             subject="recorder", expected="to watch from the relisted resourceVersion", timeout=5, interval=0.01)
    assert scripted.lists["CertificateRequest"] == 2
    assert recorder.errors == []


def test_watch_errors_are_kept_and_retried(scripted, recorded):
    recorder, entries = recorded
    until(entries, 3)
    scripted.feed("Order", ApiException(status=500, reason="etcd unavailable"))
    order = cm.order(cm.certificate_request(cm.recorded("certificate"), 2))
    scripted.event("Order", "ADDED", order)
    until(entries, 4)
    assert recorder.errors == ["orders: ApiException: (500)\nReason: etcd unavailable\n"]
    assert entries[3][1] == f"Order {NS}/{order['metadata']['name']}"


def test_a_broken_watch_resumes_after_the_last_event_handled(scripted, recorded):
    recorder, entries = recorded
    until(entries, 3)
    order = cm.order(cm.certificate_request(cm.recorded("certificate"), 2))
    scripted.event("Order", "ADDED", order)
    handled = str(scripted.version)
    scripted.feed("Order", ConnectionResetError("peer reset"))
    until(entries, 4)
    wait_for(lambda: Seen(scripted.watched_from["Order"][-1] == handled, scripted.watched_from["Order"]),
             subject="recorder", expected=f"to resume from {handled}", timeout=5, interval=0.01)
    assert recorder.errors == ["orders: ConnectionResetError: peer reset"]
    assert scripted.lists["Order"] == 1


def test_stop_joins_every_thread(scripted):
    recorder = ResourceRecorder(None, NS, lambda *entry: None).start()
    assert recorder.wait_synced(5)
    recorder.stop()
    assert not recorder.running


def test_failing_callback_surfaces_on_stop(scripted):
    def broken(kind, subject, detail):
        raise RuntimeError("journal closed")

    recorder = ResourceRecorder(None, NS, broken).start()
    # The first report fails and every thread winds down on its own.
    wait_for(lambda: Seen(not recorder.running, "running"), subject="recorder", expected="to stop", timeout=5)
    with pytest.raises(HarnessError, match="resource recorder callback failed: RuntimeError\\('journal closed'\\)"):
        recorder.stop()
