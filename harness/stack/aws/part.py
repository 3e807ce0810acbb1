"""The AWS part of a lab, started and stopped as one: moto (IAM enforced) -> the front under AWS's host names ->
the CONNECT proxy that routes them there. `controller_env()` is what cert-manager's controller needs to reach it
unchanged: aws-sdk-go reads AWS_CA_BUNDLE and HTTPS_PROXY (it has no endpoint variable).

On kind (`front=(anchor IP, 443)`, `netns` the anchor's) there is no proxy: the pods' resolver (the fake DNS)
answers AWS's host names with the anchor's address, where the front listens on 443, as AWS's endpoints do.
"""

from __future__ import annotations

from pathlib import Path

from harness.stack.aws.admin import AwsAdmin
from harness.stack.aws.connect import ConnectProxy
from harness.stack.aws.emulator import AwsEmulator
from harness.stack.aws.front import HOSTS, AwsFront
from harness.stack.dnscontrol import DnsControl
from harness.stack.pki import RunPKI
from harness.stack.ports import LOOPBACK
from harness.stack.service import Service, sigint_ignored

# The fake DNS view Route 53's "INSYNC" waits for: the zone's public nameservers (ns1 -> ns-public), whose lag
# is the resolver view's.
PUBLIC_VIEW = "resolver"


class AwsPart(Service):
    """moto, the front and the proxy; `dns_control_url` is the fake DNS the hosted zones' records go to."""

    def __init__(self, run_dir: str | Path, pki: RunPKI, dns_control_url: str, *,
                 front: tuple[str, int] = (LOOPBACK, 0), netns: str | None = None, proxy: bool = True):
        self.run_dir = Path(run_dir)
        self.pki = pki
        self.front_address, self.netns, self.with_proxy = front, netns, proxy
        self.dns = DnsControl(dns_control_url)
        self.emulator = AwsEmulator(self.run_dir)
        self.admin: AwsAdmin | None = None
        self.front: AwsFront | None = None
        self.proxy: ConnectProxy | None = None

    def _start(self) -> None:
        self.emulator.start()
        self.admin = AwsAdmin(self.emulator.url, self.emulator.admin)
        host, port = self.front_address
        self.front = AwsFront(
            (LOOPBACK, self.emulator.port), self.pki.serving("aws-front", *HOSTS, *({host} - {LOOPBACK})),
            records=self.admin.zone_values,
            publish=lambda name, rtype, values, ttl: self.dns.set_records(name, rtype, values, ttl),
            visible=lambda name, rtype: [record["data"] for record in self.dns.records(name, rtype, PUBLIC_VIEW)],
            key_active=self.admin.access_key_active, host=host, port=port, netns=self.netns,
        ).start()
        if self.with_proxy:
            self.proxy = ConnectProxy({f"{name}:443": self.front.address for name in HOSTS}).start()

    def controller_env(self) -> dict[str, str]:
        """cert-manager's controller's environment: the lab CA, the proxy, loopback never proxied."""
        return {"AWS_CA_BUNDLE": str(self.pki.ca_cert), "HTTPS_PROXY": self.proxy.url,
                "NO_PROXY": "127.0.0.0/8,localhost", "AWS_EC2_METADATA_DISABLED": "true"}

    def stop(self) -> None:
        with sigint_ignored():
            for part in (self.proxy, self.front):
                if part is not None:
                    part.stop()
            if self.admin is not None:
                self.admin.close()
            self.emulator.stop()
            self.dns.close()
