"""The lab's AWS part as an AWS SDK sees it: through the CONNECT proxy, under route53.amazonaws.com, verified
against the lab CA. IAM is enforced with AWS's error shapes, the zone's records are what the fake DNS serves,
GetChange waits for the public view, and the front's fault switches answer as Route 53 does."""

from __future__ import annotations

import random
import socket
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from fakes.dns import DnsServer
from fakes.dns.control import ControlServer
from harness.stack.aws.admin import FrontControl, zone_policy
from harness.stack.aws.emulator import REGION, Credentials
from harness.stack.aws.front import HOSTS
from harness.stack.aws.part import AwsPart
from harness.stack.pki import RunPKI
from harness.stack.ports import LOOPBACK

pytestmark = pytest.mark.integration

ZONE, OTHER = "aws.certchaos.test.", "other.certchaos.test."
NAME = "_acme-challenge.www.aws.certchaos.test."


@pytest.fixture(scope="module")
def dns():
    with DnsServer([ZONE, OTHER]) as server:
        control = ControlServer(server, LOOPBACK).start()
        try:
            yield server, control.url
        finally:
            control.stop()


@pytest.fixture(scope="module")
def aws(dns, tmp_path_factory):
    with AwsPart(tmp_path_factory.mktemp("aws"), RunPKI(tmp_path_factory.mktemp("pki")), dns[1]) as part:
        yield part


def sdk(aws: AwsPart, service: str, credentials: Credentials):
    """A boto3 client as aws-sdk-go in the controller is configured: no endpoint, the proxy, the lab CA."""
    return boto3.client(service, region_name=REGION, aws_access_key_id=credentials.access_key_id,
                        aws_secret_access_key=credentials.secret_access_key,
                        aws_session_token=credentials.session_token, verify=str(aws.pki.ca_cert),
                        config=Config(proxies={"https": aws.proxy.url}, retries={"total_max_attempts": 1}))


def upsert(client, zone_id: str, value: str, action: str = "UPSERT", name: str = NAME) -> dict:
    """A change as cert-manager v1.11.5's solver sends it (multivalue, the value as its set identifier)."""
    return client.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
        "Comment": "Managed by cert-manager", "Changes": [{"Action": action, "ResourceRecordSet": {
            "Name": name, "Type": "TXT", "TTL": 10, "MultiValueAnswer": True, "SetIdentifier": value,
            "ResourceRecords": [{"Value": value}]}}]})["ChangeInfo"]


@pytest.fixture(scope="module")
def zones(aws):
    return aws.admin.create_zone(ZONE), aws.admin.create_zone(OTHER)


def new_user(aws: AwsPart, name: str, zone_id: str) -> Credentials:
    return aws.admin.create_user(name, aws.admin.create_policy(name, zone_policy(zone_id)))


def test_a_principal_without_the_permission_on_the_zone_is_refused_with_aws_error_shape(aws, zones):
    zone, other = zones
    narrowed = sdk(aws, "route53", new_user(aws, "narrowed", other))
    with pytest.raises(ClientError) as refused:
        upsert(narrowed, zone, '"nope"')
    error = refused.value.response["Error"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Code"] == "AccessDenied"
    assert error["Message"] == ("User: arn:aws:iam::123456789012:user/narrowed is not authorized to perform: "
                                f"route53:ChangeResourceRecordSets on resource: arn:aws:route53:::hostedzone/{zone}")
    # The same policy on its own zone is allowed: moto sees the zone's ARN, not "*".
    upsert(narrowed, other, '"fine"', name=f"_acme-challenge.{OTHER}")
    assert aws.proxy.tunnels and set(aws.proxy.tunnels) == {"route53.amazonaws.com:443"}


def test_an_inactive_key_is_an_invalid_client_token(aws, zones):
    credentials = new_user(aws, "inactive", zones[0])
    aws.admin.set_access_key_status("inactive", credentials.access_key_id, active=False)
    with pytest.raises(ClientError) as refused:
        sdk(aws, "route53", credentials).get_change(Id="C1")
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_accepted_records_are_served_and_insync_waits_for_the_public_view(aws, zones):
    zone = zones[0]
    client = sdk(aws, "route53", new_user(aws, "writer", zone))
    aws.dns.set_zone(ZONE, propagation_delay=2.0)
    info = upsert(client, zone, '"token-1"')
    assert info["Status"] == "PENDING"
    assert [r["data"] for r in aws.dns.records(NAME, "TXT")] == ['"token-1"']  # authoritative at once
    assert client.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "PENDING"  # the public view lags
    deadline = time.monotonic() + 10
    while client.get_change(Id=info["Id"])["ChangeInfo"]["Status"] != "INSYNC":
        assert time.monotonic() < deadline, "GetChange never said INSYNC"
        time.sleep(0.2)
    assert [r["data"] for r in aws.dns.records(NAME, "TXT", view="resolver")] == ['"token-1"']
    aws.dns.set_zone(ZONE, propagation_delay=0.0)
    upsert(client, zone, '"token-2"')
    assert sorted(r["data"] for r in aws.dns.records(NAME, "TXT")) == ['"token-1"', '"token-2"']
    upsert(client, zone, '"token-1"', action="DELETE")
    upsert(client, zone, '"token-2"', action="DELETE")
    assert aws.dns.records(NAME, "TXT") == []


def test_fault_switches_answer_as_route53_and_the_journal_shows_it(aws, zones):
    zone = zones[0]
    credentials = new_user(aws, "throttled", zone)
    client = sdk(aws, "route53", credentials)
    control = FrontControl(aws.front.control_url, str(aws.pki.ca_cert))
    since = time.time()
    throttle = control.add_fault("ChangeResourceRecordSets", "Throttling", zone)
    with pytest.raises(ClientError) as refused:
        upsert(client, zone, '"t"')
    assert (refused.value.response["Error"]["Code"], refused.value.response["Error"]["Message"]) == (
        "Throttling", "Rate exceeded")
    control.remove_fault(throttle.id)
    stuck = control.add_fault("GetChange", "PENDING", zone)
    info = upsert(client, zone, '"t"')
    assert client.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "PENDING"
    control.remove_fault(stuck.id)
    assert client.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    answers = [(a["action"], a["code"], a["detail"]) for a in control.journal(since, zone=zone)
               if a["principal"] == credentials.access_key_id]
    assert answers == [("ChangeResourceRecordSets", "Throttling", "Rate exceeded"),
                       ("ChangeResourceRecordSets", "", "PENDING"), ("GetChange", "", "PENDING"),
                       ("GetChange", "", "INSYNC")]
    control.close()


def test_moto_cannot_serve_irsa_it_fails_the_unsigned_assume_role_with_web_identity(aws, zones, monkeypatch):
    # Why the lab has no IRSA (README, Route 53): aws-sdk-go v1.44 sends AssumeRoleWithWebIdentity unsigned
    # (stscreds, AnonymousCredentials), as botocore does; moto 5.2.5 with IAM enforced reads every request's SigV4
    # Authorization header, so it fails (KeyError, HTTP 500). Should this fail, moto answers it now: check that it
    # verifies the token and the role's trust policy before wiring IRSA on kind.
    policy = aws.admin.create_policy("irsa", zone_policy(zones[0]))
    role = aws.admin.create_role("irsa", "arn:aws:iam::123456789012:root", policy)
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "legacy")  # sts.amazonaws.com, as aws-sdk-go v1.44 calls it
    since = time.time()
    with pytest.raises((ClientError, ResponseParserError)):
        sdk(aws, "sts", Credentials("unused", "unused")).assume_role_with_web_identity(
            RoleArn=role, RoleSessionName="cert-manager", WebIdentityToken="a.projected.token")
    (answer,) = FrontControl(aws.front.control_url, str(aws.pki.ca_cert)).journal(
        since=since, action="AssumeRoleWithWebIdentity")
    assert (answer["status"], answer["principal"]) == (500, ""), answer


def test_without_a_proxy_the_front_answers_on_443_where_the_resolver_points_aws_names_as_on_kind(
        dns, tmp_path, monkeypatch):
    # On kind the pods' resolver (the fake DNS) names the "ca" anchor for AWS's host names and the front listens
    # there on 443, made inside the anchor's namespace: here an address of loopback's own, in this namespace.
    address = f"127.{random.randrange(64, 250)}.{random.randrange(1, 250)}.{random.randrange(2, 250)}"
    with AwsPart(tmp_path / "aws", RunPKI(tmp_path / "pki"), dns[1], front=(address, 443),
                 netns="/proc/self/ns/net", proxy=False) as part:
        assert part.proxy is None and part.front.address == (address, 443)
        real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo",
                            lambda host, *rest, **kw: real(address if host in HOSTS else host, *rest, **kw))
        zone = part.admin.create_zone(OTHER)
        user = new_user(part, "on-kind", zone)
        route53 = boto3.client("route53", region_name=REGION, aws_access_key_id=user.access_key_id,
                               aws_secret_access_key=user.secret_access_key, verify=str(part.pki.ca_cert),
                               config=Config(retries={"total_max_attempts": 1}))  # no proxy, no endpoint
        name = f"_acme-challenge.kind.{OTHER}"
        assert upsert(route53, zone, '"kind"', name=name)["Status"] == "PENDING"
        (answer,) = FrontControl(part.front.control_url, str(part.pki.ca_cert)).journal(
            zone=zone, action="ChangeResourceRecordSets")  # the control API on the anchor's address
        assert answer["principal"] == user.access_key_id and answer["code"] == ""
        assert [r.data for r in dns[0].records(name, "TXT")] == ['"kind"']
