"""The ACME fault layer's rules: which request an ACME-level fault hits, and what the CA answers instead.

Pure logic, no sockets (the server is `acme_layer.py`): a request is classified into an ACME endpoint by
Pebble v2.10.3's paths (its `wfe/wfe.go`; Pebble builds every URL it hands out from the request's Host, so
the layer sees every request of an order under these paths), and the first rule that matches and fires
decides. A rule's `rate` is deterministic, not random: after n matching requests it has fired
ceil(n * rate) times (capped by `limit`), so a scenario's count of retries is exact and repeatable.

Answers follow RFC 8555 section 6.7 (problem documents, `Replay-Nonce` on every response) and the CAs the
lab models: Let's Encrypt's rate limits answer 429 `rateLimited` with `Retry-After`; an expired order or
authorization is answered the way Pebble itself answers one (`malformed`, 404 on finalize, 400 on a
challenge), and then reads "invalid" / "expired" for good.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from harness.errors import HarnessError

PROBLEM = "urn:ietf:params:acme:error:"
# Pebble's paths (wfe.go): endpoint name -> path, or path prefix for the resources under it.
ENDPOINTS = {
    "directory": "/dir",
    "newNonce": "/nonce-plz",
    "newAccount": "/sign-me-up",
    "newOrder": "/order-plz",
    "revokeCert": "/revoke-cert",
    "keyChange": "/rollover-account-key",
    "account": "/my-account/",
    "order": "/my-order/",
    "finalize": "/finalize-order/",
    "authorization": "/authZ/",
    "challenge": "/chalZ/",
    "certificate": "/certZ/",
}
ANY = "*"
ACTIONS = ("respond", "bad_nonce", "delay", "lose_answer", "expire_order", "expire_authorization")
# What each expiry action may match: the request on which the client learns of the expiry.
_EXPIRY_ENDPOINT = {"expire_order": "finalize", "expire_authorization": "challenge"}


def endpoint_of(path: str) -> str:
    """The ACME endpoint a request path belongs to ("other" for anything Pebble does not serve as ACME)."""
    path = path.split("?", 1)[0]
    for name, prefix in ENDPOINTS.items():
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix) and len(path) > len(prefix)):
            return name
    return "other"


def resource_id(path: str) -> str:
    """The id in a resource path (/my-order/ID, /finalize-order/ID, ...): the same id names an order and
    its finalize URL in Pebble."""
    return path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Rule:
    """One ACME-level fault: requests to `endpoint` (ENDPOINTS, or "*") with `method` ("POST", "GET",
    "HEAD" or "*") are hit at `rate` (0 < rate <= 1) until the rule has fired `limit` times (None: no limit).

    action "respond": answer `status` with problem `problem` (a name after urn:ietf:params:acme:error:),
    `detail`, and `Retry-After: retry_after` if given, without asking the CA. "bad_nonce": 400 badNonce.
    "delay": forward after `seconds`. "lose_answer": forward, then close the connection without answering (the
    CA acted; its answer was lost on the way, as through a load balancer that timed out). "expire_order": a
    finalize is answered 404 malformed (the order expired) and the order reads "invalid" from then on.
    "expire_authorization": a challenge's acceptance is answered 400 malformed (the authorization expired); it
    reads "expired" and its order "invalid"."""

    endpoint: str
    action: str
    method: str = "POST"
    rate: float = 1.0
    limit: int | None = None
    status: int | None = None
    problem: str | None = None
    detail: str = ""
    retry_after: int | None = None
    seconds: float | None = None
    matched: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        where = f"ACME fault rule {self.action} on {self.endpoint}"
        if self.endpoint != ANY and self.endpoint not in ENDPOINTS:
            raise HarnessError(f"{where}: unknown endpoint. Fix: one of {', '.join(ENDPOINTS)} or {ANY!r}")
        if self.action not in ACTIONS:
            raise HarnessError(f"{where}: unknown action. Fix: one of {', '.join(ACTIONS)}")
        if self.method not in ("POST", "GET", "HEAD", ANY):
            raise HarnessError(f"{where}: method {self.method!r}. Fix: POST, GET, HEAD or {ANY!r}")
        if not 0 < self.rate <= 1:
            raise HarnessError(f"{where}: rate {self.rate!r}. Fix: a fraction in (0, 1]")
        if self.limit is not None and self.limit < 1:
            raise HarnessError(f"{where}: limit {self.limit!r}. Fix: 1 or more, or None for no limit")
        if self.action == "respond" and not (self.status and 400 <= self.status <= 599 and self.problem):
            raise HarnessError(f"{where}: respond needs an error status (400-599) and a problem type, "
                               f"got status={self.status!r} problem={self.problem!r}")
        if self.retry_after is not None and self.retry_after < 0:
            raise HarnessError(f"{where}: retry_after {self.retry_after!r}. Fix: seconds, 0 or more")
        if self.action == "delay" and not (self.seconds and self.seconds > 0):
            raise HarnessError(f"{where}: delay needs seconds > 0, got {self.seconds!r}")
        expiry_endpoint = _EXPIRY_ENDPOINT.get(self.action)
        if expiry_endpoint and self.endpoint != expiry_endpoint:
            raise HarnessError(f"{where}: {self.action} acts on the {expiry_endpoint} request. "
                               f"Fix: endpoint={expiry_endpoint!r}")
        self._rate = Fraction(str(self.rate)).limit_denominator(10_000)

    def matches(self, endpoint: str, method: str) -> bool:
        return (self.endpoint in (ANY, endpoint)) and (self.method in (ANY, method))

    def fires(self) -> bool:
        """Count one matching request; True if the rule hits it (ceil(n * rate) hits after n, up to limit)."""
        if self.limit is not None and self.fired >= self.limit:
            return False
        self.matched += 1
        if math.ceil(self.matched * self._rate) > self.fired:
            self.fired += 1
            return True
        return False

    def describe(self) -> str:
        what = {"respond": f"{self.status} {self.problem}" + (f" Retry-After {self.retry_after}"
                                                               if self.retry_after is not None else ""),
                "bad_nonce": "400 badNonce", "delay": f"{self.seconds} s late", "lose_answer": "answer lost",
                "expire_order": "order expired", "expire_authorization": "authorization expired"}[self.action]
        rate = "" if self.rate == 1 else f" at rate {self.rate}"
        limit = "" if self.limit is None else f" (at most {self.limit})"
        return f"{self.method} {self.endpoint}: {what}{rate}{limit}"

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("matched", "fired")}

    @classmethod
    def from_json(cls, data: dict) -> "Rule":
        unknown = set(data) - set(cls.__dataclass_fields__) | {"matched", "fired"} & set(data)
        if unknown:
            raise HarnessError(f"ACME fault rule: unknown fields {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as error:
            raise HarnessError(f"ACME fault rule: {error}") from None


def first_firing(rules: list[Rule], endpoint: str, method: str) -> Rule | None:
    """The rule that hits this request: the first that matches and fires (later ones do not count it)."""
    for rule in rules:
        if rule.matches(endpoint, method) and rule.fires():
            return rule
    return None


def problem(kind: str, detail: str, status: int) -> dict:
    """An RFC 8555 problem document."""
    return {"type": PROBLEM + kind, "detail": detail, "status": status}


def rate_limited(endpoint: str, retry_after: int, detail: str | None = None) -> Rule:
    """Let's Encrypt's answer to a client over a limit: 429 rateLimited, and when to come back."""
    return Rule(endpoint, "respond", status=429, problem="rateLimited", retry_after=retry_after,
                detail=detail or f"too many requests to {endpoint}: retry after {retry_after} s "
                                  "(see https://letsencrypt.org/docs/rate-limits/)")
