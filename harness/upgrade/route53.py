"""The lab's AWS side of an upgrade check whose setup solves DNS-01 with Route 53: the hosted zones and IAM
identities its solvers are mapped to (made before the rewrite), and the evidence that a renewal on B went
through Route 53 (changes the API accepted on those zones).

Each issuer gets an IAM user of its own with cert-manager's documented policy on its zones, attached to the
user, or to a role the user may only assume when the issuer's solver names a role (as the lab's issuers do:
harness.lab.issuers.make_route53_issuer)."""

from __future__ import annotations

import re

from harness.lab.lab import LabClient
from harness.observe.conditions.aws import route53_answers
from harness.stack.aws.admin import user_arn, zone_policy
from harness.upgrade.rewrite import AwsIdentity, AwsTarget, Route53Need
from harness.wait import Condition, Seen

# IAM names: letters, digits and +=,.@_- up to 64 characters; an issuer's ref has spaces and slashes.
_NOT_IAM = re.compile(r"[^A-Za-z0-9+=,.@_-]+")


def iam_name(prefix: str, issuer: str) -> str:
    return (prefix + _NOT_IAM.sub("-", issuer.lower()))[:64]


def provision(lab: LabClient, needs: list[Route53Need]) -> AwsTarget:
    """Hosted zones for every zone the needs name (one per zone, shared) and an identity per issuer."""
    zone_ids: dict[str, str] = {}
    identities = {}
    for need in needs:
        for zone in need.zones:
            if zone not in zone_ids:
                zone_ids[zone] = lab.aws.create_zone(zone)
        user = iam_name("certchaos-upgrade-", need.issuer)
        policy = lab.aws.create_policy(iam_name("certchaos-route53-", need.issuer),
                                       zone_policy(*(zone_ids[zone] for zone in need.zones)))
        credentials = lab.aws.create_user(user, None if need.role else policy)
        role = None
        if need.role:
            role = lab.aws.create_role(iam_name("certchaos-dns01-", need.issuer), user_arn(user), policy)
            lab.aws.put_user_policy(user, "assume-dns01-role", {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role}]})
        identities[need.issuer] = AwsIdentity(credentials.access_key_id, credentials.secret_access_key, role)
    return AwsTarget(zone_ids, identities)


def changes_accepted(lab: LabClient, hosted_zones: dict[str, str], since: float) -> Condition:
    """Every hosted zone (zone -> id) had at least one ChangeResourceRecordSets accepted by the API since `since`
    (epoch): the renewal's challenge records went through Route 53."""
    conditions = {f"{zone} ({zone_id})": route53_answers(lab.aws_front, zone_id, 1, since=since)
                  for zone, zone_id in hosted_zones.items()}

    def condition() -> Seen:
        seen = {zone: each() for zone, each in conditions.items()}
        return Seen(all(s.ok for s in seen.values()), {zone: s.state for zone, s in seen.items()})

    return condition
