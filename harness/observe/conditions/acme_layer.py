"""What the CA saw: conditions and readings on the ACME fault layer's journal of a scenario's route (every
ACME request cert-manager made, when, what was answered and whether a fault rule answered it)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.observe.conditions.general import observe
from harness.stack.acme_control import AcmeRequest, AcmeRoute
from harness.wait import Condition


def _brief(request: AcmeRequest, since: float) -> str:
    answered = f"{request.status}" + (" (fault)" if request.fault else "")
    return f"+{request.at - since:.1f}s {request.method} {request.endpoint} -> {answered}"


def acme_requests(route: AcmeRoute, endpoint: str | None = None, *, at_least: int = 1, faulted: bool | None = None,
                  method: str = "POST", since: float = 0.0) -> Condition:
    """At least `at_least` requests to `endpoint` (any, if None) with `method` reached the route at or after
    `since` (epoch s); `faulted` True/False counts only those a fault rule answered / the CA answered.
    Shows the count and the last five, relative to the first."""

    def matching(requests: list[AcmeRequest]) -> list[AcmeRequest]:
        return [r for r in requests if r.at >= since and r.method == method
                and (endpoint is None or r.endpoint == endpoint)
                and (faulted is None or bool(r.fault) == faulted)]

    def view(found: list[AcmeRequest]) -> dict:
        origin = found[0].at if found else 0.0
        return {"count": len(found), "last": [_brief(r, origin) for r in found[-5:]]}

    return observe(lambda: matching(route.requests()), lambda found: len(found) >= at_least, view)


@dataclass(frozen=True)
class Retry:
    """A request a fault rule answered and the client's next request to the same URL (None: none came)."""

    failed: AcmeRequest
    retry: AcmeRequest | None
    nonces_between: int  # newNonce requests between the two: a client that dropped its nonce cache fetches one

    @property
    def gap(self) -> float | None:
        return None if self.retry is None else round(self.retry.at - self.failed.at, 2)


def retries(requests: list[AcmeRequest], method: str = "POST") -> list[Retry]:
    """For each `method` request a fault rule answered, the next request to the same path, in journal order."""
    found = []
    for index, failed in enumerate(requests):
        if not failed.fault or failed.method != method:
            continue
        later = requests[index + 1:]
        retry = next((r for r in later if r.method == method and r.path == failed.path), None)
        window = later[:later.index(retry)] if retry is not None else later
        found.append(Retry(failed, retry, sum(1 for r in window if r.endpoint == "newNonce")))
    return found


def statuses_per_url(requests: list[AcmeRequest], endpoint: str, since: float, method: str = "POST") -> dict:
    """Each URL of `endpoint` asked with `method` at or after `since`, first asked first, with the statuses the
    client got from it in order: which order or authorization a retry went to, the dead one or a new one."""
    found: dict[str, list[int]] = {}
    for request in requests:
        if request.at >= since and request.endpoint == endpoint and request.method == method:
            found.setdefault(request.path, []).append(request.status)
    return found
