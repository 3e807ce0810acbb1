"""Conditions on the lab's AWS API: what the Route 53 front answered cert-manager's solver (its journal), the
API's side of a scenario's story."""

from __future__ import annotations

from harness.observe.conditions.dns import gaps
from harness.stack.aws.admin import FrontControl
from harness.wait import Condition, Seen


def route53_answers(front: FrontControl, zone_id: str | None, at_least: int, code: str = "",
                    action: str = "ChangeResourceRecordSets", principal: str | None = None,
                    since: float = 0.0, detail: str | None = None) -> Condition:
    """At least `at_least` answers to `action` on the hosted zone (None: any, or none in the request, as for
    ListHostedZonesByName) with error `code` ("" a success), signed by
    `principal` (an access key id; None: anyone), since `since` (epoch), with `detail` (a change's status, PENDING
    or INSYNC; None: any); shows their times, gaps and the last detail."""
    def condition() -> Seen:
        answers = [a for a in front.journal(since, zone=zone_id, action=action)
                   if a["code"] == code and (principal is None or a["principal"] == principal)
                   and (detail is None or a["detail"] == detail)]
        times = [a["at"] for a in answers]
        return Seen(len(answers) >= at_least, {
            "answers": len(answers), "action": action, "code": code or "success", "at": times, "gaps": gaps(times),
            "last": answers[-1]["detail"] if answers else None})
    return condition
