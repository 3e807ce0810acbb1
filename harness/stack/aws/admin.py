"""The lab's administrator of the emulated AWS account (moto, directly): hosted zones, IAM users, roles and
policies, as a cloud team sets them up for cert-manager; and the client of the AWS front's control API.

A scenario's identity gets the policy cert-manager's documentation asks for (route53:GetChange on changes,
route53:ChangeResourceRecordSets and ListResourceRecordSets on its hosted zone, ListHostedZonesByName on
everything), as a managed policy attached to a user or a role, so a fault detaches, narrows or deactivates it as
an administrator would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import requests

from harness.errors import HarnessError
from harness.stack.aws.emulator import ACCOUNT_ID, Credentials, client

REQUEST_TIMEOUT = 10.0  # the front's control API answers from memory
DEFAULT_TTL = 300  # Route 53's console default, for a record set that names none


def zone_policy(zone_id: str, *more: str) -> dict:
    """cert-manager's documented Route 53 policy (docs: configuration/acme/dns01/route53), for one hosted zone
    (or several: `more`)."""
    zones = [f"arn:aws:route53:::hostedzone/{zone}" for zone in (zone_id, *more)]
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "route53:GetChange", "Resource": "arn:aws:route53:::change/*"},
        {"Effect": "Allow", "Action": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
         "Resource": zones[0] if len(zones) == 1 else zones},
        {"Effect": "Allow", "Action": "route53:ListHostedZonesByName", "Resource": "*"},
    ]}


def trust_policy(principal_arn: str) -> dict:
    """A role's trust policy letting `principal_arn` assume it."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal_arn}, "Action": "sts:AssumeRole"}]}


def user_arn(user: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:user/{user}"


def role_arn(role: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{role}"


class AwsAdmin:
    """Acts as the account's administrator against moto at `url`."""

    def __init__(self, url: str, credentials: Credentials):
        self.url = url
        self.iam = client(url, "iam", credentials)
        self.route53 = client(url, "route53", credentials)

    def create_zone(self, name: str) -> str:
        """A public hosted zone for `name`; its id without the /hostedzone/ prefix."""
        zone = self.route53.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]
        return zone["Id"].rsplit("/", 1)[-1]

    def zone_values(self, zone_id: str, name: str, rtype: str) -> tuple[list[str], int]:
        """Every value the zone holds at `name`/`rtype`, over all its record sets (weighted, multivalue), and
        their smallest TTL (what a resolver may cache the union for)."""
        wanted = name.rstrip(".").lower() + "."
        values, ttls, start = [], [], {"StartRecordName": wanted, "StartRecordType": rtype}
        while True:
            page = self.route53.list_resource_record_sets(HostedZoneId=zone_id, **start)
            for rrset in page["ResourceRecordSets"]:
                if rrset["Name"].lower() == wanted and rrset["Type"] == rtype:
                    values += [record["Value"] for record in rrset.get("ResourceRecords", [])]
                    ttls.append(int(rrset.get("TTL", DEFAULT_TTL)))
            if not page.get("IsTruncated"):
                return sorted(set(values)), min(ttls, default=DEFAULT_TTL)
            start = {"StartRecordName": page["NextRecordName"], "StartRecordType": page["NextRecordType"]}

    def create_policy(self, name: str, document: dict) -> str:
        return self.iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))["Policy"]["Arn"]

    def create_user(self, name: str, policy_arn: str | None = None) -> Credentials:
        """An IAM user (with `policy_arn` attached) and one active access key."""
        self.iam.create_user(UserName=name)
        if policy_arn is not None:
            self.iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
        return self.create_access_key(name)

    def create_access_key(self, user: str) -> Credentials:
        key = self.iam.create_access_key(UserName=user)["AccessKey"]
        return Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def access_key_active(self, key_id: str) -> bool | None:
        """Whether a user's access key is active; None for a key no user has (an assumed role's, a deleted one)."""
        from botocore.exceptions import ClientError

        try:
            user = self.iam.get_access_key_last_used(AccessKeyId=key_id).get("UserName")
            keys = self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"] if user else []
        except ClientError:
            return None
        status = next((key["Status"] for key in keys if key["AccessKeyId"] == key_id), None)
        return None if status is None else status == "Active"

    def set_access_key_status(self, user: str, key_id: str, active: bool) -> None:
        self.iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Active" if active else "Inactive")

    def attached_policies(self, user: str | None = None, role: str | None = None) -> list[str]:
        if role is not None:
            return [p["PolicyArn"] for p in self.iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]
        return [p["PolicyArn"] for p in self.iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]]

    def attach(self, policy_arn: str, user: str | None = None, role: str | None = None) -> None:
        if role is not None:
            self.iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)
        else:
            self.iam.attach_user_policy(UserName=user, PolicyArn=policy_arn)

    def detach(self, policy_arn: str, user: str | None = None, role: str | None = None) -> None:
        if role is not None:
            self.iam.detach_role_policy(RoleName=role, PolicyArn=policy_arn)
        else:
            self.iam.detach_user_policy(UserName=user, PolicyArn=policy_arn)

    def create_role(self, name: str, trusted: str, policy_arn: str) -> str:
        """A role `trusted` (a principal's ARN) may assume, with `policy_arn` attached; its ARN."""
        arn = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust_policy(trusted)))[
            "Role"]["Arn"]
        self.iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        return arn

    def put_user_policy(self, user: str, name: str, document: dict) -> None:
        self.iam.put_user_policy(UserName=user, PolicyName=name, PolicyDocument=json.dumps(document))

    def close(self) -> None:
        self.iam.close()
        self.route53.close()


@dataclass(frozen=True)
class FrontFault:
    id: str
    action: str
    answer: str
    zone: str | None


class FrontControl:
    """Client of the AWS front's /_lab control API, from any process (TLS verified against the lab CA)."""

    def __init__(self, url: str, ca_bundle: str):
        self.url = url.rstrip("/")
        self.verify = ca_bundle
        self._session = requests.Session()

    def _call(self, method: str, path: str, **kwargs):
        try:
            response = self._session.request(method, self.url + path, verify=self.verify, timeout=REQUEST_TIMEOUT,
                                             **kwargs)
        except requests.RequestException as error:
            raise HarnessError(f"aws front control {method} {path}: {error}") from None
        if response.status_code >= 400:
            raise HarnessError(f"aws front control {method} {path}: HTTP {response.status_code}: {response.text}")
        return response.json()

    def journal(self, since: float = 0.0, zone: str | None = None, action: str | None = None) -> list[dict]:
        """The front's answers, oldest first, optionally of one hosted zone or one action."""
        return [answer for answer in self._call("GET", "/journal", params={"since": since})
                if (zone is None or answer["zone"] == zone) and (action is None or answer["action"] == action)]

    def add_fault(self, action: str, answer: str, zone: str | None = None) -> FrontFault:
        body = self._call("POST", "/faults", json={"action": action, "answer": answer, "zone": zone})
        return FrontFault(body["id"], action, answer, zone)

    def remove_fault(self, fault_id: str) -> None:
        self._call("DELETE", f"/faults/{fault_id}")

    def close(self) -> None:
        self._session.close()
