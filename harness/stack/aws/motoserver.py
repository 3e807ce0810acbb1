"""moto's server as the lab runs it: `python -m harness.stack.aws.motoserver -H 127.0.0.1 -p PORT`.

moto checks every Route 53 action's IAM policy against the resource "*", so a policy that allows
route53:ChangeResourceRecordSets on one hosted zone's ARN (what AWS documents, and what users write) is refused
on that very zone, and one narrowed to another zone is refused the same way: the fault users get wrong could not
be told from the repair. AWS authorizes Route 53 actions on the resource the request names; this launcher gives
moto that resource (the hosted zone's or the change's ARN) before it starts. And moto hands its signature check a
bodiless Route 53 request's headers as the signed body, so every GET (GetChange, ListHostedZonesByName) fails
with SignatureDoesNotMatch; the launcher hands it the empty body the client signed. Nothing else changes.
"""

from __future__ import annotations

import re
import sys

# The request path's resource, as AWS's Route 53 authorization reference names it (arn:aws:route53:::...).
_RESOURCE = re.compile(r"^/2013-04-01/(hostedzone|change|healthcheck|delegationset|trafficpolicy)/([^/?]+)")


def route53_resource(path: str) -> str:
    """The ARN a Route 53 request acts on ("*" for a list or create call without one in its path)."""
    match = _RESOURCE.match(path)
    if match is None:
        return "*"
    kind, ident = match.groups()
    return f"arn:aws:route53:::{kind}/{ident}"


def main(argv: list[str] | None = None) -> None:
    from moto.route53.responses import Route53
    from moto.server import main as moto_main

    def _determine_resource(self) -> str:
        return route53_resource(self.path)

    authorize = Route53._authenticate_and_authorize_normal_action

    def _authorize_signed_body(self, resource: str = "*") -> None:
        if self.raw_body:
            return authorize(self, resource)
        data, self.data = self.data, ""
        try:
            return authorize(self, resource)
        finally:
            self.data = data

    Route53._determine_resource = _determine_resource
    Route53._authenticate_and_authorize_normal_action = _authorize_signed_body
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
