"""Faults of the ACME CA itself, made by the ACME fault layer in front of Pebble (harness.stack.acme_layer):
the CA answers, but what a CA in trouble answers: rate limits, bad nonces, server errors or refusals on one
endpoint, expired orders and authorizations, a lost order, a lost answer, a slow finalize. Each adds one rule to the
scenario's route and removes it on revert; several compose (the first rule added that hits a request answers it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.chaos.fault import DescribedFault
from harness.stack.acme_control import AcmeRoute
from harness.stack.acme_rules import Rule, rate_limited


@dataclass(repr=False)
class _AcmeRuleFault(DescribedFault):
    """One layer rule on the route while the fault lasts; subclasses say which."""

    acme: AcmeRoute
    _rule_id: int | None = field(default=None, init=False)

    def rule(self) -> Rule:
        raise NotImplementedError

    def apply(self) -> None:
        self._rule_id = self.acme.add_rule(self.rule())

    def revert(self) -> None:
        if self._rule_id is not None:
            self.acme.remove_rule(self._rule_id)

    def describe(self) -> str:
        return f"{self.acme.name}: {self.rule().describe()}"


@dataclass(repr=False)
class AcmeRateLimited(_AcmeRuleFault):
    """The CA rate-limits an endpoint: 429 rateLimited with Retry-After, as Let's Encrypt's limits answer
    (e.g. new orders per account, https://letsencrypt.org/docs/rate-limits/)."""

    endpoint: str = "newOrder"
    retry_after: int = 3600

    def rule(self) -> Rule:
        return rate_limited(self.endpoint, self.retry_after)


@dataclass(repr=False)
class AcmeBadNonce(_AcmeRuleFault):
    """The CA rejects nonces: a share of signed requests is answered 400 badNonce (as Pebble's
    PEBBLE_WFE_NONCEREJECT does, for this scenario's route only)."""

    rate: float = 0.5
    endpoint: str = "*"
    limit: int | None = None

    def rule(self) -> Rule:
        return Rule(self.endpoint, "bad_nonce", rate=self.rate, limit=self.limit)


@dataclass(repr=False)
class AcmeServerError(_AcmeRuleFault):
    """One endpoint of the CA fails: 500 serverInternal or 503 (Let's Encrypt's answer while it is in
    maintenance), every other endpoint works."""

    endpoint: str = "newOrder"
    status: int = 503

    def rule(self) -> Rule:
        return Rule(self.endpoint, "respond", status=self.status, problem="serverInternal",
                    detail=f"the CA's {self.endpoint} is unavailable ({self.status})")


@dataclass(repr=False)
class AcmeRefused(_AcmeRuleFault):
    """The CA refuses one endpoint's requests with a 4xx and a problem (its final word on them: a policy that
    forbids finalizing, 403 unauthorized; a certificate it cannot serve, 400 malformed); every other endpoint
    works."""

    endpoint: str = "finalize"
    status: int = 403
    problem: str = "unauthorized"

    def rule(self) -> Rule:
        return Rule(self.endpoint, "respond", status=self.status, problem=self.problem,
                    detail=f"the CA refuses {self.endpoint} ({self.status} {self.problem})")


@dataclass(repr=False)
class AcmeOrderExpired(_AcmeRuleFault):
    """Orders expire before they are finalized: finalize is answered as Pebble answers for an expired order
    (404 malformed), and the order reads "invalid" from then on."""

    def rule(self) -> Rule:
        return Rule("finalize", "expire_order")


@dataclass(repr=False)
class AcmeOrderLost(_AcmeRuleFault):
    """The CA no longer knows its orders (its database restored from a backup older than them): fetching one is
    answered as Pebble answers for an order it does not know (404 malformed "No order for ID ..."); every other
    endpoint works, new orders included."""

    def rule(self) -> Rule:
        return Rule("order", "respond", status=404, problem="malformed", detail="No order for ID: the CA lost it")


@dataclass(repr=False)
class AcmeAnswerLost(_AcmeRuleFault):
    """The CA acts on a request to `endpoint` but its answer never reaches the client: the connection closes
    without one (a load balancer's idle timeout, a reset on the way back), the first `limit` times."""

    endpoint: str = "finalize"
    limit: int = 1

    def rule(self) -> Rule:
        return Rule(self.endpoint, "lose_answer", limit=self.limit)


@dataclass(repr=False)
class AcmeAuthorizationExpired(_AcmeRuleFault):
    """Authorizations expire before their challenge is accepted: the acceptance is answered as Pebble
    answers for an expired authorization (400 malformed); it reads "expired", its order "invalid"."""

    def rule(self) -> Rule:
        return Rule("challenge", "expire_authorization")


@dataclass(repr=False)
class AcmeSlowFinalize(_AcmeRuleFault):
    """The CA takes `seconds` to answer finalize (signing backed up), every other endpoint is prompt."""

    seconds: float = 10.0

    def rule(self) -> Rule:
        return Rule("finalize", "delay", seconds=self.seconds)
