"""Faults of the cloud DNS provider's identity and API, through the lab's AWS part: IAM permission drift as an
administrator causes it (a policy detached or narrowed to another hosted zone, an access key deactivated) and
Route 53's own refusals (throttling, a prior change still in progress, changes that never reach INSYNC)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.chaos.fault import DescribedFault
from harness.stack.aws.admin import AwsAdmin, FrontControl, FrontFault, zone_policy
from harness.stack.aws.front import PENDING


@dataclass(repr=False)
class Route53PolicyDetached(DescribedFault):
    """The solver's identity loses its Route 53 policy (detached by someone tidying IAM): every call is AccessDenied."""

    aws: AwsAdmin
    policy_arn: str
    identity: dict  # {"user": name} or {"role": name}: where the policy is attached

    def apply(self) -> None:
        self.aws.detach(self.policy_arn, **self.identity)

    def revert(self) -> None:
        if self.policy_arn not in self.aws.attached_policies(**self.identity):
            self.aws.attach(self.policy_arn, **self.identity)


@dataclass(repr=False)
class Route53PolicyNarrowed(DescribedFault):
    """The solver's policy is rewritten for another hosted zone (the ARN users get wrong): its changes are refused."""

    aws: AwsAdmin
    policy_arn: str
    identity: dict
    other_zone: str  # a hosted zone's name: created at apply, the narrowed policy's resource
    _narrowed: str | None = None

    def apply(self) -> None:
        other = self.aws.create_zone(self.other_zone)
        self._narrowed = self.aws.create_policy(self.policy_arn.rsplit("/", 1)[-1] + "-narrowed", zone_policy(other))
        self.aws.detach(self.policy_arn, **self.identity)
        self.aws.attach(self._narrowed, **self.identity)

    def revert(self) -> None:
        attached = self.aws.attached_policies(**self.identity)
        if self._narrowed in attached:
            self.aws.detach(self._narrowed, **self.identity)
        if self.policy_arn not in attached:
            self.aws.attach(self.policy_arn, **self.identity)


@dataclass(repr=False)
class AccessKeyDeactivated(DescribedFault):
    """The solver's access key is deactivated in IAM (a rotation begun elsewhere): AWS refuses it, InvalidClientTokenId."""

    aws: AwsAdmin
    user: str
    access_key_id: str

    def apply(self) -> None:
        self.aws.set_access_key_status(self.user, self.access_key_id, active=False)

    def revert(self) -> None:
        if self.aws.access_key_active(self.access_key_id) is not None:  # None: deleted by a rotation, as meant
            self.aws.set_access_key_status(self.user, self.access_key_id, active=True)


@dataclass(repr=False)
class Route53Refuses(DescribedFault):
    """Route 53 answers the zone's `action` with `answer` (Throttling, PriorRequestNotComplete) instead of doing it."""

    front: FrontControl
    zone_id: str
    answer: str
    action: str = "ChangeResourceRecordSets"
    _fault: FrontFault | None = None

    def describe(self) -> str:
        return f"Route 53 answers {self.action} on the hosted zone with {self.answer}"

    def apply(self) -> None:
        self._fault = self.front.add_fault(self.action, self.answer, self.zone_id)

    def revert(self) -> None:
        if self._fault is not None:
            self.front.remove_fault(self._fault.id)


@dataclass(repr=False)
class Route53ChangesPending(DescribedFault):
    """The zone's changes never reach INSYNC: GetChange says PENDING (Route 53's propagation stuck)."""

    front: FrontControl
    zone_id: str
    _fault: FrontFault | None = None

    def apply(self) -> None:
        self._fault = self.front.add_fault("GetChange", PENDING, self.zone_id)

    def revert(self) -> None:
        if self._fault is not None:
            self.front.remove_fault(self._fault.id)
