"""AWS's error answers as the SDKs parse them, for the lab's AWS front (harness.stack.aws.front).

Route 53 is a REST-XML service: AWS answers `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>`
and aws-sdk-go's restxml unmarshaller reads Code and Message from there. moto wraps its refusals in the query
protocol's `<ErrorResponse><Errors><Error>` instead, which that unmarshaller reads as an empty code ("An error
occurred ()"): cert-manager would log and report something production never shows. `reshaped` keeps moto's code
and message and gives them AWS's envelope (and, for AccessDenied, the resource AWS names); the fault answers
(Throttling, PriorRequestNotComplete) are built here with the status and text AWS sends.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from xml.etree import ElementTree
from xml.sax.saxutils import escape

ROUTE53_NAMESPACE = "https://route53.amazonaws.com/doc/2013-04-01/"
NAMESPACES = {"route53": ROUTE53_NAMESPACE, "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
              "iam": "https://iam.amazonaws.com/doc/2010-05-08/"}


@dataclass(frozen=True)
class AwsError:
    """One error answer: HTTP status, code, message (and Sender or Receiver, as AWS types it)."""

    status: int
    code: str
    message: str
    type: str = "Sender"

    def body(self, service: str = "route53", request_id: str | None = None) -> bytes:
        """The body `service` answers with (Route 53's REST-XML and STS's and IAM's query errors share it)."""
        request_id = request_id or new_request_id()
        return (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{NAMESPACES.get(service, ROUTE53_NAMESPACE)}"><Error><Type>{self.type}</Type>'
                f"<Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()


# What Route 53 answers when a client goes beyond its API rate (five requests a second per account) and when a
# change to a zone arrives while the previous one is still being processed; aws-sdk-go retries both
# (request/retryer.go: throttle codes) before it returns the error.
THROTTLING = AwsError(400, "Throttling", "Rate exceeded")
PRIOR_REQUEST_NOT_COMPLETE = AwsError(
    400, "PriorRequestNotComplete", "The request was rejected because Route 53 was still processing a prior request.")
FAULT_ANSWERS = {error.code: error for error in (THROTTLING, PRIOR_REQUEST_NOT_COMPLETE)}
# A deactivated (or deleted) access key: AWS refuses the signature's key before it looks at any policy.
INVALID_CLIENT_TOKEN = AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")


def new_request_id() -> str:
    """A request id of AWS's shape (a UUID), fresh per answer."""
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def parse(body: bytes) -> AwsError | None:
    """The code and message of an error body in either envelope (query's <Errors><Error>, REST-XML's <Error>),
    None if the body is no AWS error."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    error = next((element for element in root.iter() if element.tag.rsplit("}", 1)[-1] == "Error"), None)
    if error is None:
        return None
    fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in error}
    if not fields.get("Code"):
        return None
    return AwsError(0, fields["Code"], fields.get("Message", ""), fields.get("Type") or "Sender")


def reshaped(status: int, body: bytes, resource: str) -> bytes | None:
    """moto's Route 53 refusal in AWS's envelope, or None if `body` is no error moto sent. AccessDenied names
    the resource as AWS's message does ("... on resource: arn:aws:route53:::hostedzone/Z1")."""
    error = parse(body)
    if error is None:
        return None
    message = error.message
    if error.code == "AccessDenied" and resource != "*" and " on resource: " not in message:
        message = f"{message} on resource: {resource}"
    return AwsError(status, error.code, message, error.type).body()
