"""Act at the CA as an Issuer's ACME account: what cert-manager's own account can do, the harness can do.

Used to expire authorizations: Pebble (like Let's Encrypt) reuses an account's valid authorization for a
new order, so a renewal minutes after issuance would need no DNS-01 challenge at all. In production a
renewal comes ~60 days after issuance, when the 30-day authorizations have long expired; deactivating
them gives a compressed-time renewal the same fresh challenge.
"""

from __future__ import annotations

import base64

import josepy
from acme import client as acme_client
from acme import messages
from cryptography.hazmat.primitives import serialization
from kubernetes import client

from harness.resources import ISSUER, ORDER, SECRET, get, list_objects


def _account(kube: client.ApiClient, namespace: str, issuer_name: str, directory_url: str, ca_bundle: str):
    issuer = get(kube, ISSUER, namespace, issuer_name)
    acme_spec, acme_status = issuer["spec"]["acme"], issuer["status"]["acme"]
    secret = get(kube, SECRET, namespace, acme_spec["privateKeySecretRef"]["name"])
    key = serialization.load_pem_private_key(base64.b64decode(secret["data"]["tls.key"]), password=None)
    registration = messages.RegistrationResource(uri=acme_status["uri"], body=messages.Registration())
    network = acme_client.ClientNetwork(josepy.JWKRSA(key=key), account=registration, verify_ssl=ca_bundle)
    return acme_client.ClientV2(acme_client.ClientV2.get_directory(directory_url, network), network)


def expire_authorizations(kube: client.ApiClient, namespace: str, issuer_name: str, directory_url: str,
                          ca_bundle: str) -> list[str]:
    """Deactivate every valid authorization of the namespace's Orders at the CA; return their URLs."""
    acme = _account(kube, namespace, issuer_name, directory_url, ca_bundle)
    deactivated = []
    for order in list_objects(kube, ORDER, namespace):
        for entry in (order.get("status") or {}).get("authorizations", []):
            url = entry["url"]
            authorization, _ = acme.poll(messages.AuthorizationResource(uri=url, body=messages.Authorization()))
            if authorization.body.status == messages.STATUS_VALID:
                acme.deactivate_authorization(authorization)
                deactivated.append(url)
    return deactivated
