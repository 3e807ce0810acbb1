"""ResourceRecorder: watches cert-manager's resources and Events in one namespace and reports each
relevant change once, for the timeline.

One thread per kind: list (which gives the resourceVersion to watch from), then watch from there with a
short server-side timeout so the thread sees its stop flag, re-listing after 410 Gone. A change is
relevant when the object's summary (resources.summary: conditions' status/reason/message, Order and
Challenge state/presented/reason, ...) differs from the last one reported; each Event occurrence (uid
and count) is reported once.
"""

from __future__ import annotations

import threading
from typing import Callable, Iterable

from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from harness.observe import resources
from harness.errors import HarnessError
from harness.observe.resources import CERTIFICATE, CERTIFICATE_REQUEST, CHALLENGE, EVENT, ORDER, ResourceKind

# Journal entry kinds this module produces.
RESOURCE_CHANGE = "resource-condition"
EVENT_SEEN = "k8s-event"

WATCHED = (CERTIFICATE, CERTIFICATE_REQUEST, ORDER, CHALLENGE, EVENT)

# The server ends each watch after this many seconds and the thread looks at its stop flag; Watch.stop()
# usually unblocks a read at once, so this only bounds the rare case where it cannot.
WATCH_SECONDS = 2
# Client-side read timeout: a watch the server forgot to end must not hang the thread.
READ_TIMEOUT = WATCH_SECONDS + 10
# After a failed list/watch (API server restarting under a fault) retry after this long.
RETRY_SECONDS = 0.5
HTTP_GONE = 410

Callback = Callable[[str, str, dict], None]


class ResourceRecorder:
    """Calls callback(entry_kind, subject, detail) for each relevant change; subject is "<Kind> ns/name"
    (for Events, the involved object's, so a Certificate's conditions and events share one subject).
    Watch failures are kept in `errors` and retried; an exception from the callback stops the recorder
    and is re-raised by stop()."""

    def __init__(self, api: client.ApiClient, namespace: str, callback: Callback,
                 kinds: Iterable[ResourceKind] = WATCHED):
        self.api, self.namespace, self.callback = api, namespace, callback
        self.kinds = tuple(kinds)
        self.errors: list[str] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._report_lock = threading.Lock()  # one callback at a time: the callback need not be thread-safe
        self._failure: BaseException | None = None
        self._watches: dict[str, watch.Watch] = {}
        self._known: dict[str, dict[str, dict]] = {kind.kind: {} for kind in self.kinds}
        self._versions: dict[str, str | None] = {}  # per kind: where the next watch starts
        self._events_seen: set[tuple[str, int]] = set()
        self._synced = {kind.kind: threading.Event() for kind in self.kinds}
        self._threads = [threading.Thread(target=self._run, args=(kind,), daemon=True,
                                          name=f"recorder {namespace} {kind.plural}") for kind in self.kinds]

    def start(self) -> "ResourceRecorder":
        for thread in self._threads:
            thread.start()
        return self

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def wait_synced(self, timeout: float) -> bool:
        """Whether every kind has had its first list (so later changes will be seen) within `timeout`."""
        return all(event.wait(timeout) for event in self._synced.values())

    def __enter__(self) -> "ResourceRecorder":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, timeout: float = READ_TIMEOUT + 3) -> None:
        """Stop every watch and join the threads; raise if one would not stop or the callback failed."""
        self._stopping.set()
        with self._lock:
            for running in self._watches.values():
                running.stop()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            raise HarnessError(f"resource recorder: threads did not stop within {timeout:g}s: {alive}")
        if self._failure is not None:
            raise HarnessError(f"resource recorder callback failed: {self._failure!r}") from self._failure

    # --- per-kind thread ---

    def _run(self, kind: ResourceKind) -> None:
        while not self._stopping.is_set():
            try:
                if self._versions.get(kind.kind) is None:
                    listing = resources.list_raw(self.api, kind, self.namespace, timeout=READ_TIMEOUT)
                    self._resync(kind, listing["items"])
                    self._versions[kind.kind] = listing["metadata"]["resourceVersion"]
                    self._synced[kind.kind].set()
                self._watch(kind)
            except ApiException as error:
                if error.status == HTTP_GONE:  # our resourceVersion was compacted away: list again
                    self._versions[kind.kind] = None
                    continue
                self._note(kind, error)
            except _CallbackFailed:
                self._stopping.set()
                return
            except Exception as error:  # noqa: BLE001 - connection errors while the API server is down
                self._note(kind, error)

    def _watch(self, kind: ResourceKind) -> None:
        """Stream changes from the last resourceVersion seen (kept per kind, so a watch that breaks
        mid-stream resumes after the last event handled rather than replaying older ones)."""
        function, leading = resources.lister(self.api, kind)
        args = (*leading, self.namespace, kind.plural) if kind.group else (self.namespace,)
        running = watch.Watch()
        with self._lock:
            if self._stopping.is_set():
                return
            self._watches[kind.kind] = running
        for event in running.stream(function, *args, resource_version=self._versions[kind.kind],
                                    timeout_seconds=WATCH_SECONDS, allow_watch_bookmarks=True,
                                    _request_timeout=READ_TIMEOUT, deserialize=False):
            obj = event["object"]
            if event["type"] != "BOOKMARK":
                self._handle(kind, event["type"], obj)
            self._versions[kind.kind] = obj["metadata"].get("resourceVersion") or self._versions[kind.kind]
            if self._stopping.is_set():
                break

    def _note(self, kind: ResourceKind, error: Exception) -> None:
        if self._stopping.is_set():  # stop() shuts the watch's socket: the read error is ours
            return
        self.errors.append(f"{kind.plural}: {type(error).__name__}: {error}")
        self._stopping.wait(RETRY_SECONDS)  # back off, but wake at once on stop()

    # --- what is relevant ---

    def _resync(self, kind: ResourceKind, items: list[dict]) -> None:
        present = {obj["metadata"]["uid"] for obj in items}
        for obj in items:
            self._handle(kind, "ADDED", obj)
        if kind != EVENT:
            for uid in [uid for uid in self._known[kind.kind] if uid not in present]:
                self._report(RESOURCE_CHANGE, self._known[kind.kind].pop(uid)["subject"], {"deleted": True})

    def _handle(self, kind: ResourceKind, change: str, obj: dict) -> None:
        metadata = obj["metadata"]
        if kind == EVENT:
            if change == "DELETED":
                return
            occurrence = (metadata["uid"], obj.get("count") or 1)
            if occurrence in self._events_seen:
                return
            self._events_seen.add(occurrence)
            involved = obj.get("involvedObject") or {}
            subject = f"{involved.get('kind')} {involved.get('namespace') or self.namespace}/{involved.get('name')}"
            self._report(EVENT_SEEN, subject, resources.summary(EVENT, obj))
            return
        subject = f"{kind.kind} {metadata.get('namespace', self.namespace)}/{metadata['name']}"
        known = self._known[kind.kind]
        if change == "DELETED":
            if known.pop(metadata["uid"], None) is not None:
                self._report(RESOURCE_CHANGE, subject, {"deleted": True})
            return
        now = resources.summary(kind, obj)
        before = known.get(metadata["uid"])
        if before is not None and before["summary"] == now:
            return
        known[metadata["uid"]] = {"subject": subject, "summary": now}
        self._report(RESOURCE_CHANGE, subject, {**now, "changed": _changed(before and before["summary"], now)})

    def _report(self, entry_kind: str, subject: str, detail: dict) -> None:
        try:
            with self._report_lock:
                self.callback(entry_kind, subject, detail)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread by stop()
            self._failure = self._failure or error
            raise _CallbackFailed() from error


class _CallbackFailed(Exception):
    pass


def _changed(before: dict | None, now: dict) -> list[str]:
    """Which parts changed: condition types by name, other fields by key; everything when new."""
    if before is None:
        return ["first-seen"]
    changed = [key for key in now if key != "conditions" and now.get(key) != before.get(key)]
    old, new = before.get("conditions") or {}, now.get("conditions") or {}
    changed += [t for t in sorted(set(old) | set(new)) if old.get(t) != new.get(t)]
    return changed
