"""The AWS front's pure parts: AWS's error envelope read back as aws-sdk-go's restxml unmarshaller reads it, the
Route 53 operation and resource a request names, and the names a change batch touches; a missing moto refused
before a local lab starts."""

from __future__ import annotations

import importlib.util
import string
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.lab.providers import local
from harness.lab.providers.seam import ProviderOptions
from harness.stack.aws.errors import (PRIOR_REQUEST_NOT_COMPLETE, ROUTE53_NAMESPACE, THROTTLING, AwsError, parse,
                                      reshaped)
from harness.stack.aws.front import changed_names, route53_action
from harness.stack.aws.motoserver import route53_resource

MOTO_ACCESS_DENIED = (b'<?xml version="1.0" encoding="utf-8"?>\n<ErrorResponse><Errors><Error><Code>AccessDenied'
                      b'</Code><Message>User: arn:aws:iam::123456789012:user/cm is not authorized to perform: '
                      b'route53:ChangeResourceRecordSets</Message><Type>Sender</Type></Error></Errors></ErrorResponse>')

texts = st.text(string.ascii_letters + string.digits + " :/<>&'\"*.-_", max_size=80)


def restxml_error(body: bytes) -> tuple[str, str]:
    """Code and Message where aws-sdk-go's restxml unmarshaller reads them: ErrorResponse/Error/{Code,Message}."""
    root = ElementTree.fromstring(body)
    error = root.find(f"{{{ROUTE53_NAMESPACE}}}Error")
    assert error is not None, body
    return error.findtext(f"{{{ROUTE53_NAMESPACE}}}Code"), error.findtext(f"{{{ROUTE53_NAMESPACE}}}Message")


def test_moto_access_denied_gets_aws_envelope_and_the_resource():
    body = reshaped(403, MOTO_ACCESS_DENIED, "arn:aws:route53:::hostedzone/Z1")
    assert restxml_error(body) == ("AccessDenied", "User: arn:aws:iam::123456789012:user/cm is not authorized to "
                                   "perform: route53:ChangeResourceRecordSets on resource: "
                                   "arn:aws:route53:::hostedzone/Z1")
    # moto's own envelope is what the unmarshaller cannot read: no Error directly under ErrorResponse.
    assert ElementTree.fromstring(MOTO_ACCESS_DENIED).find("Error") is None


def test_a_body_that_is_no_aws_error_is_left_alone():
    assert reshaped(500, b"<html>oops</html>", "*") is None
    assert reshaped(500, b"not xml", "*") is None


@given(code=st.text(string.ascii_letters, min_size=1, max_size=30), message=texts, status=st.integers(400, 599))
def test_any_error_reads_back_as_it_was_built(code, message, status):
    body = AwsError(status, code, message).body()
    assert restxml_error(body) == (code, message)
    assert parse(body) == AwsError(0, code, message, "Sender")


def test_fault_answers_are_the_codes_aws_sdk_go_retries():
    # aws-sdk-go v1.44 request/retryer.go: throttleCodes holds both.
    assert (THROTTLING.status, THROTTLING.code) == (400, "Throttling")
    assert (PRIOR_REQUEST_NOT_COMPLETE.status, PRIOR_REQUEST_NOT_COMPLETE.code) == (400, "PriorRequestNotComplete")


ids = st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=32)


@given(zone=ids, change=ids)
def test_the_operations_cert_manager_calls_and_their_resources(zone, change):
    assert route53_action("POST", f"/2013-04-01/hostedzone/{zone}/rrset/") == "ChangeResourceRecordSets"
    assert route53_action("GET", f"/2013-04-01/change/{change}") == "GetChange"
    assert route53_action("GET", "/2013-04-01/hostedzonesbyname?dnsname=a.test") == "ListHostedZonesByName"
    assert route53_resource(f"/2013-04-01/hostedzone/{zone}/rrset/") == f"arn:aws:route53:::hostedzone/{zone}"
    assert route53_resource(f"/2013-04-01/change/{change}") == f"arn:aws:route53:::change/{change}"
    assert route53_resource("/2013-04-01/hostedzonesbyname?dnsname=a.test") == "*"
    assert route53_resource("/2013-04-01/hostedzone") == "*"


def test_changed_names_are_lowercase_and_absolute():
    body = (f'<ChangeResourceRecordSetsRequest xmlns="{ROUTE53_NAMESPACE}"><ChangeBatch><Changes>'
            "<Change><Action>UPSERT</Action><ResourceRecordSet><Name>_acme-challenge.WWW.a.test</Name>"
            "<Type>TXT</Type></ResourceRecordSet></Change>"
            "<Change><Action>DELETE</Action><ResourceRecordSet><Name>b.a.test.</Name><Type>TXT</Type>"
            "</ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>").encode()
    assert changed_names(body) == [("_acme-challenge.www.a.test.", "TXT"), ("b.a.test.", "TXT")]


def test_a_missing_moto_is_one_actionable_error_before_the_local_lab_starts(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "flask_cors" else real_find_spec(name, *args))
    with pytest.raises(HarnessError, match=r"moto's server cannot be imported \(missing: flask_cors\)\. "
                                           r"Fix: scripts/setup.sh run"):
        local.validate(ProviderOptions())
